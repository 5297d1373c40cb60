"""Checkpoint ids as stored: a UUID's 16 bytes, any other id tagged (no I/O here).

Why: LangGraph's checkpoint ids are UUID strings of 36 characters, stored twice per checkpoint
row (its id and its parent's) and once per index entry; as ``bytea`` they take 16 bytes. The byte
order of two UUIDs is their string order, so "newest" and ``before`` work as on text. Other ids
(tests, hand-made configs) are ``0xff`` and their UTF-8 bytes, one ``0x00`` added when that would
be 16 bytes long (ids hold no control characters, so it reads back unambiguously); their order
among themselves is the string order, and they sort after UUIDs that start below ``ff``.
:data:`SQL_ENCODE` is the same encoding in SQL, for the migration of text columns.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from ...ids import validate_id

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

SQL_ENCODE = (
    "CASE WHEN {col} ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' "
    "THEN decode(replace({col}, '-', ''), 'hex') "
    "WHEN octet_length({col}) = 15 THEN '\\xff'::bytea || convert_to({col}, 'UTF8') || '\\x00'::bytea "
    "ELSE '\\xff'::bytea || convert_to({col}, 'UTF8') END"
)


def enc(checkpoint_id: str | None) -> bytes | None:
    if checkpoint_id is None:
        return None
    if _UUID.fullmatch(checkpoint_id):
        return bytes.fromhex(checkpoint_id.replace("-", ""))
    raw = validate_id(checkpoint_id, "checkpoint_id").encode()  # typed error for a bad id
    return b"\xff" + raw + (b"\x00" if len(raw) == 15 else b"")


def dec(stored: bytes | memoryview | None) -> str | None:
    if stored is None:
        return None
    raw = bytes(stored)
    if len(raw) == 16:
        return str(uuid.UUID(bytes=raw))
    text = raw[1:]
    if len(text) == 16 and text.endswith(b"\x00"):
        text = text[:-1]
    return text.decode()


def enc_all(ids: Iterable[str]) -> list[bytes]:
    return [enc(i) for i in ids]  # type: ignore[misc]
