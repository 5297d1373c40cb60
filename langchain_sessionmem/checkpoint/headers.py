"""Checkpoint headers (a checkpoint without its values) stored in a compact form.

Why: a header lists the version of every channel (and what each node has seen) at every
checkpoint, so it is about a quarter of what an agent turn stores as msgpack of the dict. Here a
version of this package's form (:func:`~.config.next_version`) takes 6 bytes instead of 20, the
timestamp 12 instead of 33, the id nothing (it is the record's own id), and each channel or node
name is written once per header (a name LangGraph or this package always uses: one byte).
Anything not of those forms is kept as it is, so every header reads back exactly as it was put.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import ormsgpack

from ..errors import CorruptDataError
from .config import VERSIONS

HEADER = "sm.header"
"""Type tag of a compact header: msgpack ``[1, v, ts, id, names, versions, seen, updated]``
(``names`` holds every channel and node name once, channels first; the rest refer to them)."""

KNOWN = (
    "__start__",
    "__input__",
    "messages",
    "branch:to:model",
    "branch:to:tools",
    "model",
    "tools",
    "agent",
    "branch:to:agent",
    "sessionmem",
    "__interrupt__",
    "__resume__",
    "__pregel_tasks",
    "jump_to",
    "structured_response",
)
"""Names written as their index here (frozen: stored headers depend on it; append only)."""
_INDEX = {name: i for i, name in enumerate(KNOWN)}
_KNOWN_AT = dict(enumerate(KNOWN))
_FIELDS = ("v", "ts", "id", "channel_versions", "versions_seen", "updated_channels")
_VERSION = re.compile(r"(\d{12})\.([0-9a-f]{6})")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


@lru_cache(maxsize=4096)
def _packed_version(version: str) -> bytes | None:
    found = _VERSION.fullmatch(version)
    if found is None:
        return None
    n = int(found[1])
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big") + bytes.fromhex(found[2])


@lru_cache(maxsize=4096)
def _version_text(data: bytes) -> str:
    if not 4 <= len(data) <= 8:
        raise ValueError(f"a packed version of {len(data)} bytes")
    return f"{int.from_bytes(data[:-3], 'big'):012}.{data[-3:].hex()}"


def _version(value: Any) -> Any:
    if type(value) not in VERSIONS:
        raise TypeError(f"a channel version of type {type(value).__name__}")
    packed = _packed_version(value) if type(value) is str else None
    return value if packed is None else packed


def _packed_ts(ts: str) -> str | bytes:
    """LangGraph's UTC timestamp as its 20 digits in 10 bytes (other text as it is)."""
    if _TS.fullmatch(ts) is None:
        return ts
    return bytes.fromhex(
        ts[:4] + ts[5:7] + ts[8:10] + ts[11:13] + ts[14:16] + ts[17:19] + ts[20:26]
    )


def _ts_text(data: bytes) -> str:
    d = data.hex()
    if len(data) != 10 or not d.isdigit():
        raise ValueError("a damaged timestamp")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}.{d[14:]}+00:00"


def pack_header(skeleton: dict[str, Any], checkpoint_id: str) -> bytes | None:
    """The compact form of ``skeleton`` (``None`` when it has a shape this form does not keep)."""
    if set(skeleton) - set(_FIELDS) or type(skeleton.get("v")) is not int:
        return None
    names: list[Any] = []
    where: dict[str, int] = {}

    def ref(name: Any) -> int:
        if type(name) is not str:
            raise TypeError("a name that is not text")
        if name not in where:
            where[name] = len(names)
            names.append(_INDEX.get(name, name))
        return where[name]

    try:
        versions = []
        for ch, ver in skeleton["channel_versions"].items():  # first: names[i] is channel i
            ref(ch)
            versions.append(_version(ver))
        seen: list[Any] = []
        for node, versions_seen in skeleton["versions_seen"].items():
            flat: list[Any] = []
            for ch, ver in versions_seen.items():
                flat += (ref(ch), _version(ver))
            seen += (ref(node), flat)
        updated = skeleton.get("updated_channels")
        if updated is not None and type(updated) is not list:
            return None
        refs = None if updated is None else [ref(ch) for ch in updated]
        ts, cid = skeleton["ts"], skeleton["id"]
        if type(ts) is not str or type(cid) is not str:
            return None
        head = [1, skeleton["v"], _packed_ts(ts), None if cid == checkpoint_id else cid]
        return ormsgpack.packb([*head, names, versions, seen, refs])
    except (KeyError, TypeError, AttributeError):
        return None


def _text(value: Any) -> Any:
    return _version_text(value) if type(value) is bytes else value


def read_header(data: bytes, checkpoint_id: str, thread_id: str) -> dict[str, Any]:
    """The skeleton :func:`pack_header` stored; damaged bytes raise :class:`CorruptDataError`."""
    try:
        form, v, ts, cid, raw_names, versions, seen, updated = ormsgpack.unpackb(data)
        if form != 1:
            raise ValueError(f"unknown header form {form!r}")
        names = [_KNOWN_AT[n] if type(n) is int else n for n in raw_names]
        if not all(type(n) is str for n in names):
            raise ValueError("a name that is neither text nor a known name's index")
        name = dict(enumerate(names)).__getitem__  # a damaged index raises (no negative ones)
        out: dict[str, Any] = {
            "v": v,
            "ts": _ts_text(ts) if type(ts) is bytes else ts,
            "id": checkpoint_id if cid is None else cid,
            "channel_versions": {name(i): _text(ver) for i, ver in enumerate(versions)},
        }
        seen_by: dict[str, Any] = {}
        for k in range(0, len(seen), 2):
            flat = seen[k + 1]
            seen_by[name(seen[k])] = {
                name(flat[j]): _text(flat[j + 1]) for j in range(0, len(flat), 2)
            }
        out["versions_seen"] = seen_by
        if updated is not None:
            out["updated_channels"] = [name(i) for i in updated]
        return out
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        OverflowError,
        ormsgpack.MsgpackDecodeError,
    ) as exc:
        raise CorruptDataError(
            f"checkpoint {checkpoint_id!r} of thread {thread_id!r} has a damaged header: {exc!r}",
            session_id=thread_id,
        ) from exc
