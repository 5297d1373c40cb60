"""Stored values made small: raw deflate with a preset dictionary of the envelopes they share.

Why: a checkpointer's values are small (a message, a checkpoint skeleton, a few hundred bytes),
far below the 2 kB at which PostgreSQL starts compressing a row, and most of each is the same
msgpack envelope (``langchain_core.messages.ai``, ``additional_kwargs``, ``channel_versions``...).
Deflate primed with those envelopes halves a typical message. A packed value's type tag gets the
suffix ``~z1`` (the dictionary's version); the dictionary below never changes: a new one would be
``ZDICT_2`` with the suffix ``~z2``, and both kept readable. Values that do not shrink (encrypted
bytes, tiny ones) are stored as they are.
"""

from __future__ import annotations

import zlib

from ...checkpoint.serde import Typed
from ...errors import CorruptDataError

ZDICT_1 = (
    b"\x86\xa1v\x04\xa2ts\xd9 2026-01-01T00:00:00.000000+00:00\xa2id\xd9$1f000000-0000-600"
    b"0-8000-000000000000\xb0channel_versions\x83\xa9__start__\xb3000000000002.000000\xa8m"
    b"essages\xb3000000000003.000000\xaabranch:to:\xb3000000000003.000000\xadversions_seen"
    b"\x82\xa9__input__\x80\xa9__start__\x81\xa9__start__\xb3000000000001.000000\xb0update"
    b"d_channels\x91\xa8messages"
    b"\xc7\x88\x05\x94\xbelangchain_core.messages.system\xadSystemMessage\x86\xa7content"
    b"\xa0\xb1additional_kwargs\x80\xb1response_metadata\x80\xa4type\xa6system\xa4name\xc0"
    b"\xa2id\xa0\xb3model_validate_json"
    b"\xc7\xa9\x05\x94\xbclangchain_core.messages.tool\xabToolMessage\x89\xa7content\xa0"
    b"\xb1additional_kwargs\x80\xb1response_metadata\x80\xa4type\xa4tool\xa4name\xa0\xa2id"
    b"\xa0\xactool_call_id\xa0\xa8artifact\xc0\xa6status\xa7success\xb3model_validate_json"
    b"\xc7\xd9\x05\x94\xbalangchain_core.messages.ai\xa9AIMessage\x89\xa7content\xa0\xb1ad"
    b"ditional_kwargs\x80\xb1response_metadata\x80\xa4type\xa2ai\xa4name\xc0\xa2id\xa8lc_r"
    b"un--\xaatool_calls\x91\x84\xa4name\xa0\xa4args\x80\xa2id\xa5call_\xa4type\xa9tool_ca"
    b"ll\xb2invalid_tool_calls\x90\xaeusage_metadata\xc0\xb3model_validate_json"
    b"\xc8\x01c\x05\x94\xbalangchain_core.messages.ai\xa9AIMessage\x89\xa7content\xa0\xb1a"
    b"dditional_kwargs\x80\xb1response_metadata\x84\xaamodel_name\xa0\xadfinish_reason\xa4"
    b"stop\xaemodel_provider\xa6openai\xabtoken_usage\x80\xa4type\xa2ai\xa4name\xc0\xa2id"
    b"\xa8lc_run--\xaatool_calls\x90\xb2invalid_tool_calls\x90\xaeusage_metadata\x85\xacin"
    b"put_tokens\x00\xadoutput_tokens\x00\xactotal_tokens\x00\xb3input_token_details\x81"
    b"\xaacache_read\x00\xb4output_token_details\x81\xa9reasoning\x00\xb3model_validate_js"
    b"on"
    b"\xc7\x85\x05\x94\xbdlangchain_core.messages.human\xacHumanMessage\x86\xa7content\xa0"
    b"\xb1additional_kwargs\x80\xb1response_metadata\x80\xa4type\xa5human\xa4name\xc0\xa2i"
    b"d\xa0\xb3model_validate_json"
)
"""Deflate's preset dictionary, version 1: a checkpoint skeleton and one message of each kind,
serialized with empty fields (frozen bytes: stored values depend on them)."""

TAG = "~z1"
MIN_SIZE = 48  # shorter values rarely shrink by more than the work to inflate them


def pack(typed: Typed) -> Typed:
    """``typed`` deflated against :data:`ZDICT_1` when that makes it smaller."""
    typ, data = typed
    if len(data) < MIN_SIZE:
        return typ, data
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=ZDICT_1)
    packed = deflate.compress(data) + deflate.flush()
    return (typ + TAG, packed) if len(packed) < len(data) else (typ, data)


def unpack(typ: str, data: bytes | memoryview, where: str = "a stored value") -> Typed:
    """The inverse of :func:`pack` (values stored unpacked come back as they are)."""
    if not typ.endswith(TAG):
        return typ, bytes(data)
    try:
        inflate = zlib.decompressobj(-15, zdict=ZDICT_1)
        return typ[: -len(TAG)], inflate.decompress(data) + inflate.flush()
    except zlib.error as exc:
        raise CorruptDataError(
            f"{where} cannot be inflated ({exc}): the stored bytes are damaged"
        ) from exc


CKPT_TAG = "~zc"
"""A checkpoint skeleton deflated against :data:`ZDICT_1` followed by its own checkpoint id (the
skeleton repeats the id, which then costs a back-reference; readers know the id from the row)."""

ZDICT_ROWS = ZDICT_1 + (
    b"sm.logref\xa7msgpack\xa4null~__pregel_pull, ~__pregel_push, __start__branch:to:"
)
"""The dictionary of a row's inline values and pending-write frames, version 1 (frozen bytes)."""


def pack_ckpt(typed: Typed, checkpoint_id: str) -> Typed:
    """A skeleton packed with its checkpoint id in the dictionary (``~zc``) when that is smaller."""
    typ, data = typed
    deflate = zlib.compressobj(
        6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=ZDICT_1 + checkpoint_id.encode()
    )
    packed = deflate.compress(data) + deflate.flush()
    return (typ + CKPT_TAG, packed) if len(packed) < len(data) else (typ, data)


def unpack_ckpt(typ: str, data: bytes | memoryview, checkpoint_id: str) -> Typed:
    """The inverse of :func:`pack_ckpt` (skeletons packed by :func:`pack` read as well)."""
    if not typ.endswith(CKPT_TAG):
        return unpack(typ, data, f"checkpoint {checkpoint_id}")
    return typ[: -len(CKPT_TAG)], inflate(data, ZDICT_1 + checkpoint_id.encode(), checkpoint_id)


def deflate_with(data: bytes, zdict: bytes) -> bytes | None:
    """``data`` deflated against ``zdict``, or ``None`` when that is not smaller."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=zdict)
    packed = deflate.compress(data) + deflate.flush()
    return packed if len(packed) < len(data) else None


def inflate(data: bytes | memoryview, zdict: bytes, where: str) -> bytes:
    try:
        inflater = zlib.decompressobj(-15, zdict=zdict)
        return inflater.decompress(data) + inflater.flush()
    except zlib.error as exc:
        raise CorruptDataError(
            f"{where} cannot be inflated ({exc}): the stored bytes are damaged"
        ) from exc
