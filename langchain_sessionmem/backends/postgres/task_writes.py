"""Pending writes kept in their checkpoint's row (``writes``): one appended frame per call.

Why: a row per (task, idx) repeated the checkpoint id, the task id and path in the heap and in
an index entry, several times the size of a typical write. ``put_writes`` now appends one frame
(the task id, its path and every write of the call, packed) to the checkpoint row's ``writes``
bytes, an in-place update of a row just written (usually a HOT update: no index entry). Frames
are read in order with the writes table's semantics: for a (task, idx) the first ordinary write
stays, a special one (idx < 0) replaces. Writes for a checkpoint that has no row yet, and those
of databases made before, are in the writes table as before; both are read together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import ormsgpack

from ...checkpoint.values import ValueCodec, write_place
from ...checkpoint.writes import WriteRow
from ...errors import CorruptDataError
from .inline import TYPES
from .packing import ZDICT_ROWS, deflate_with, inflate, unpack

HEADER = 4  # bytes of a frame's length (big-endian)


def frame(task_id: str, task_path: str, rows: Sequence[WriteRow]) -> bytes:
    """One ``put_writes`` call as a frame to append to the row's ``writes``: msgpack
    ``[task, path, idx, channel, type, value, ...]`` (a type is its index in ``TYPES`` or its
    name) deflated against ``ZDICT_ROWS`` when that is smaller, after its length."""
    flat: list[object] = [short_id(task_id), task_path]
    for w in rows:
        typ = TYPES.index(w.type) if w.type in TYPES else w.type
        flat += [w.idx, w.channel, typ, bytes(w.value)]
    raw = ormsgpack.packb(flat)
    packed = deflate_with(raw, ZDICT_ROWS)
    body = b"\x02" + raw if packed is None else b"\x03" + packed
    return len(body).to_bytes(HEADER, "big") + body


def short_id(task_id: str) -> str | bytes:
    """A task id that is a canonical UUID as its 16 bytes (read back the same), else itself."""
    try:
        found = uuid.UUID(task_id)
    except ValueError:
        return task_id
    return found.bytes if str(found) == task_id else task_id


def _flat(body: bytes, where: str) -> tuple[list[object], bool]:
    """(the decoded list, whether its values are packed one by one: the first format)."""
    kind = body[:1]
    if kind in (b"\x00", b"\x01"):
        return ormsgpack.unpackb(unpack("w~z1" if kind == b"\x01" else "w", body[1:])[1]), True
    if kind == b"\x02":
        return ormsgpack.unpackb(body[1:]), False
    if kind == b"\x03":
        return ormsgpack.unpackb(inflate(body[1:], ZDICT_ROWS, where)), False
    raise ValueError(f"unknown frame format {kind!r}")


def calls(blob: bytes | memoryview | None, where: str) -> list[WriteRow]:
    """Every write of every frame, in the order they were appended (values plain)."""
    out: list[WriteRow] = []
    raw = b"" if blob is None else bytes(blob)
    at = 0
    try:
        while at < len(raw):
            size = int.from_bytes(raw[at : at + HEADER], "big")
            body = raw[at + HEADER : at + HEADER + size]
            if len(body) != size or not body:
                raise ValueError("a frame is cut short")
            at += HEADER + size
            flat, packed = _flat(body, where)
            task, path = flat[0], flat[1]
            if isinstance(task, bytes):
                task = str(uuid.UUID(bytes=task))
            for i in range(2, len(flat), 4):
                idx, channel, typ, data = flat[i : i + 4]
                if packed:
                    typ, data = unpack(typ, data, f"pending write {channel!r}")
                elif isinstance(typ, int):
                    typ = TYPES[typ]
                out.append(WriteRow(task, idx, path, channel, typ, data))
    except (ormsgpack.MsgpackDecodeError, TypeError, ValueError, IndexError) as exc:
        raise CorruptDataError(f"{where}: the pending writes are damaged ({exc})") from exc
    return out


def merged(*sources: Iterable[WriteRow]) -> list[WriteRow]:
    """Writes in the order they were made, one per (task, idx) as the writes table keeps them."""
    out: dict[tuple[str, int], WriteRow] = {}
    for source in sources:
        for w in source:
            if w.replace or (w.task_id, w.idx) not in out:
                out[(w.task_id, w.idx)] = w
    return list(out.values())


def reseal(
    codec: ValueCodec, blob: bytes | memoryview, keys: tuple[str, str, str, str], shown: str
) -> bytes:
    """``writes`` of a row copied from thread key ``keys[0]`` to ``keys[1]`` (namespace
    ``keys[2]``, checkpoint ``keys[3]``): each value sealed at its new place, frame by frame."""
    src, dst, ns, cid = keys
    out = b""
    for w in calls(blob, f"checkpoint {cid} of {shown!r}"):
        old, new = (
            write_place(src, ns, cid, w.task_id, w.idx),
            write_place(dst, ns, cid, w.task_id, w.idx),
        )
        typ, data = codec.reseal((w.type, w.value), old, new, "writes", shown)
        out += frame(
            w.task_id, w.task_path, [WriteRow(w.task_id, w.idx, w.task_path, w.channel, typ, data)]
        )
    return out
