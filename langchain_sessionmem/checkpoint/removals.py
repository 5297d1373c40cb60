"""Pending writes that remove messages, stored with the removals as their ids.

A trim (``SessionMemoryMiddleware``, ``pre_model_hook``, a node returning removals and its reply)
writes a list starting with ``RemoveMessage(id=...)`` items; serialized as messages that is about
200 bytes per removal, as ids about 40. Only bare ``RemoveMessage`` objects (nothing but an id)
leading a list whose plain serialization is unencrypted msgpack are stored this way (the rest of
the list serialized as usual after them), so a serializer that encrypts keeps encrypting.
"""

from __future__ import annotations

import zlib
from typing import Any

from langchain_core.messages import RemoveMessage
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..errors import CorruptDataError
from .serde import Typed

REMOVALS = "sm.removals"
"""Type tag of a write led by removals: their ids, one per line (UTF-8; deflated behind
``\\0<4-byte length>`` when that is shorter), then, if the list goes on, ``\\0<type>\\0<bytes>``
of the rest as the serializer stores it."""
_MAX_IDS = 1 << 24  # bytes of ids a damaged deflate stream may expand to before it is refused


def _deflate(text: bytes) -> bytes:
    """``text``, or its raw deflate stream behind ``\\0`` and its length when that is shorter
    (random ids are hex: about half their size)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = co.compress(text) + co.flush()
    if len(packed) + 5 >= len(text):
        return text
    return b"\0" + len(packed).to_bytes(4, "big") + packed


def _inflate(data: bytes) -> tuple[bytes, bytes]:
    """(ids text, what follows it) of stored removals."""
    if not data.startswith(b"\0"):
        text, sep, rest = data.partition(b"\0")
        return text, sep + rest
    n = int.from_bytes(data[1:5], "big")
    do = zlib.decompressobj(-15)
    text = do.decompress(data[5 : 5 + n], _MAX_IDS)
    if len(data) < 5 + n or do.unconsumed_tail or not do.eof:
        raise ValueError("the deflated ids are cut short or too long")
    return text, data[5 + n :]


def _bare(m: Any) -> bool:
    return (
        type(m) is RemoveMessage
        and isinstance(m.id, str)
        and bool(m.id)
        and "\n" not in m.id
        and "\0" not in m.id
        and m == RemoveMessage(id=m.id)
    )


def compact(serde: SerializerProtocol, value: Any, plain: Typed, *, deflate: bool = True) -> Typed:
    """``plain`` (the serde's bytes of ``value``), or the ids form for a list led by removals
    (``deflate=False`` for values that will be sealed: no compression under encryption)."""
    if plain[0] != "msgpack" or type(value) is not list or not value or not _bare(value[0]):
        return plain
    n = 1
    while n < len(value) and _bare(value[n]):
        n += 1
    data = "\n".join(m.id for m in value[:n]).encode()
    data = _deflate(data) if deflate else data
    if n < len(value):
        typ, rest = serde.dumps_typed(value[n:])
        if typ != "msgpack":
            return plain
        data += b"\0" + typ.encode() + b"\0" + bytes(rest)
    return REMOVALS, data


def expand(serde: SerializerProtocol, data: bytes, path: str, thread_id: str) -> list[Any]:
    """The list stored by :func:`compact`."""
    try:
        ids_part, rest = _inflate(bytes(data))
        sep, rest = rest[:1], rest[1:]
        ids = ids_part.decode().split("\n")
        if not all(ids):
            raise ValueError("an empty message id")
        out: list[Any] = [RemoveMessage(id=i) for i in ids]
        if sep:
            typ, sep2, raw = rest.partition(b"\0")
            tail = serde.loads_typed((typ.decode(), raw)) if sep2 else None
            if type(tail) is not list:
                raise ValueError("the messages after the removals are not a list")
            out += tail
    except Exception as exc:  # noqa: BLE001 - any damage is reported the same way
        raise CorruptDataError(
            f"{path} of thread {thread_id!r} is damaged: {exc}", session_id=thread_id
        ) from exc
    return out
