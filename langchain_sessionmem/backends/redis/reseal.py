"""``copy_thread`` under encryption: the sealed hashes of a thread, opened at the source's places
and sealed at the target's (no I/O).

Sealed values are bound to the thread key, so a DUMP/RESTORE copy would leave the copy unreadable.
Four hashes hold sealed values: ``:c`` (checkpoints), ``:b`` (channel blobs), ``:w`` (pending
writes) and ``:l`` (log items, whose namespace is the one of the blob that references the log; a
log no blob references is dropped, as prune would drop it).
"""

from __future__ import annotations

from typing import Any

import ormsgpack

from ...checkpoint.linear import decode_ref
from ...checkpoint.values import (
    LOGREF,
    ValueCodec,
    blob_place,
    checkpoint_place,
    log_place,
    write_place,
)
from .saver_codec import reading, split_typed, text

SEALED_SUFFIXES = ("c", "b", "w", "l")
"""The hashes of a thread (by key suffix) whose values are sealed."""


def _typed_bytes(typed: tuple[str, bytes]) -> bytes:
    return typed[0].encode() + b"\0" + bytes(typed[1])


def resealed(
    codec: ValueCodec, src: str, dst: str, hashes: dict[str, dict[Any, Any]], shown: str
) -> dict[str, dict[bytes, bytes]]:
    """The four sealed hashes of thread key ``src`` as they must be stored under ``dst``."""
    with reading(shown, "values (while copying)"):
        return _resealed(codec, src, dst, hashes, shown)


def _resealed(
    codec: ValueCodec, src: str, dst: str, hashes: dict[str, dict[Any, Any]], shown: str
) -> dict[str, dict[bytes, bytes]]:
    out: dict[str, dict[bytes, bytes]] = {suffix: {} for suffix in SEALED_SUFFIXES}

    def move(typed: tuple[str, bytes], place: tuple[str, ...], new: tuple[str, ...]) -> Any:
        return codec.reseal(typed, place, new, "copied value", shown)

    for field, record in hashes["c"].items():
        ns, _, cid = text(field).partition("\0")
        parent, typ, data, run = ormsgpack.unpackb(record)
        typ, data = move(
            (typ, data), checkpoint_place(src, ns, cid), checkpoint_place(dst, ns, cid)
        )
        out["c"][bytes(field)] = ormsgpack.packb([parent, typ, data, run])
    log_ns: dict[str, str] = {}
    for field, value in hashes["b"].items():
        ns, channel, version = text(field).split("\0")
        typed = split_typed(value)
        assert typed is not None
        if typed[0] == LOGREF:
            log_ns[decode_ref(typed[1])[0]] = ns
        new = move(
            typed, blob_place(src, ns, channel, version), blob_place(dst, ns, channel, version)
        )
        out["b"][bytes(field)] = _typed_bytes(new)
    for field, record in hashes["w"].items():
        ns, cid, task, idx = text(field).split("\0")
        task_path, channel, typ, data = ormsgpack.unpackb(record)
        old, new = (
            write_place(src, ns, cid, task, int(idx)),
            write_place(dst, ns, cid, task, int(idx)),
        )
        typ, data = move((typ, data), old, new)
        out["w"][bytes(field)] = ormsgpack.packb([task_path, channel, typ, data])
    for field, value in hashes["l"].items():
        log_id, _, seq = text(field).partition("\0")
        if log_id not in log_ns:
            continue
        ns = log_ns[log_id]
        typed = split_typed(value)
        assert typed is not None
        old, new = log_place(src, ns, log_id, int(seq)), log_place(dst, ns, log_id, int(seq))
        out["l"][bytes(field)] = _typed_bytes(move(typed, old, new))
    return out
