"""What a process knows a list channel's log holds, and how a new value is matched against it.

The cache keeps, per logged item, the value handed out, a private snapshot decoded from its stored
bytes and the digest of those bytes; :func:`kept` finds which leading items of a new value are
logged items still as stored (a plain append, or a trim that kept some of them in order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import SerializerProtocol

from .serde import Typed
from .spans import Spans, positions
from .values import ValueCodec

_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def digest(plain: Typed) -> bytes:
    """Identity of a serialized item (type tag and bytes), before any sealing."""
    typ, data = plain
    return hashlib.blake2b(typ.encode() + b"\x00" + bytes(data), digest_size=16).digest()


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<no snapshot>"})()
"""A snapshot that could not be made (the item is then compared by its serialized bytes)."""


@dataclass
class LogState:
    """What this process knows a log holds, per item: the value handed out or stored (a
    reference), a private snapshot decoded from the stored bytes, and the digest of those bytes."""

    log_id: str
    items: list[Any]
    digests: list[bytes]
    snapshots: list[Any]
    spans: Spans | None = None  # where the items are in the log (None: its first len(items))

    def where(self) -> Spans:
        return list(self.spans) if self.spans is not None else [(0, len(self.items))]

    @property
    def size(self) -> int:
        """The log's length when this state was stored or read (where new items go)."""
        spans = self.where()
        return spans[-1][1] if spans else 0


def snapshot(serde: SerializerProtocol, plain: Typed) -> Any:
    """A private copy of what ``plain`` stores, to compare live items against."""
    try:
        return serde.loads_typed(plain)
    except Exception:  # noqa: BLE001 - such items are compared by their bytes instead
        return MISSING


def unchanged(
    codec: ValueCodec, live: Any, state: LogState, i: int, path: str
) -> tuple[bool, Typed | None]:
    """Whether ``live`` still is what item ``i`` of the log stores (and its bytes, if made)."""
    if live is state.items[i] and isinstance(live, _IMMUTABLE):
        return True, None
    snap = state.snapshots[i]
    if snap is not MISSING and type(live) is type(snap):
        try:
            if live == snap:
                return True, None
        except Exception:  # noqa: BLE001 - a broken __eq__: compare the bytes
            pass
    plain = codec.dump_plain(live, path)
    return digest(plain) == state.digests[i], plain


def kept(
    codec: ValueCodec,
    state: LogState,
    value: list,
    channel: str,
    plain: list[Typed | None],
    digests: list[bytes],
    snapshots: list[Any],
) -> list[int]:
    """Log positions of the leading items of ``value`` that are logged items, in log order.

    First the common case (``value`` starts with the whole cached value), then a trim: each item
    is looked up by identity (kept messages stay the same objects), else at the next position,
    and confirmed by :func:`unchanged`; the first item not found ends the kept part. Items of the
    kept part get the cached digest and snapshot (filled in ``digests``/``snapshots``). A kept
    part that removed nothing (a strict prefix of the cached value: an edit in place or a cut at
    the end) returns ``[]``: such a value is stored afresh, as before trims were recognised."""
    pos = positions(state.where())
    n, m = len(value), len(state.items)
    i = 0
    while i < min(n, m):
        same, plain[i] = unchanged(codec, value[i], state, i, f"channel_values.{channel}[{i}]")
        if not same:
            break
        digests[i], snapshots[i] = state.digests[i], state.snapshots[i]
        i += 1
    if i == m:
        return pos
    where = {id(item): j for j, item in enumerate(state.items)}
    out, j, removed = pos[:i], i, False  # j: the next cached item that may still match
    for k in range(i, n):
        cand = where.get(id(value[k]))
        tries = [c for c in (cand, j) if c is not None and c >= j and c < m]
        for c in dict.fromkeys(tries):
            same, made = unchanged(codec, value[k], state, c, f"channel_values.{channel}[{k}]")
            plain[k] = made or plain[k]
            if same:
                digests[k], snapshots[k] = state.digests[c], state.snapshots[c]
                out.append(pos[c])
                removed, j = removed or c > j, c + 1
                break
        else:
            break
    return out if removed else []
