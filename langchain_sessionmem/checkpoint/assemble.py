"""Fetched rows to ``CheckpointTuple``s in three phases (rows, blobs, logs); no I/O here.

Engines fetch what :class:`TupleAssembler` asks for and feed it back, so every backend shares one
decoding path. Log items are decoded once per page and shared by every tuple that references them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import (
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    SerializerProtocol,
)

from ..errors import CorruptDataError
from .config import check_skeleton, decode_metadata, make_config
from .copies import fresh
from .linear import MISSING, LogCache, LogState, decode_ref, digest, snapshot
from .serde import Typed, load
from .spans import decode_spans, first, positions
from .values import (
    EMPTY,
    LOGREF,
    ValueCodec,
    as_codec,
    blob_place,
    checkpoint_place,
    log_place,
    write_place,
)
from .writes import WriteRow, sort_writes

BlobKey = tuple[str, str, str, str]  # thread_id, ns, channel, version
LogKey = tuple[str, str, str]  # thread_id, ns, log_id


@dataclass
class Row:
    """A stored checkpoint as fetched, before its channel values are attached."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    ckpt: Typed
    metadata: str | bytes
    writes: list[WriteRow] = field(default_factory=list)


class TupleAssembler:
    """Turns fetched rows into CheckpointTuples in three phases (rows, blobs, logs).

    Log items are decoded once per page and shared by every tuple of that page; nothing returned
    is shared with earlier calls or with what the graph stored. ``Row.thread_id`` is the stored thread key; ``public`` maps it to the thread id the returned
    configs carry (owner-keyed savers pass ``lambda key: split_thread_key(key)[1]``).
    """

    def __init__(
        self,
        serde: SerializerProtocol | ValueCodec,
        rows: Sequence[Row],
        cache: LogCache | None = None,
        *,
        public: Callable[[str], str] | None = None,
    ):
        self.codec = as_codec(serde)
        self.serde = self.codec.serde
        self.public = public or _same_id
        self.rows = list(rows)
        self.ckpts: list[dict[str, Any]] = []
        self.metas: list[CheckpointMetadata] = []
        for row in self.rows:
            shown = self.public(row.thread_id)
            place = checkpoint_place(row.thread_id, row.ns, row.checkpoint_id)
            if row.parent_id is not None and not isinstance(row.parent_id, str):
                raise CorruptDataError(
                    f"checkpoint {row.checkpoint_id!r} of thread {shown!r} has a damaged parent "
                    f"id {row.parent_id!r:.40}",
                    session_id=shown,
                )
            loaded = self.codec.load(row.ckpt, "checkpoint", shown, place)
            self.ckpts.append(check_skeleton(loaded, shown, row.checkpoint_id))
            self.metas.append(decode_metadata(row.metadata, shown))
        self.blobs: dict[BlobKey, Typed | None] = {}
        self.logs: dict[LogKey, list[Any]] = {}
        self.digests: dict[LogKey, list[bytes]] = {}  # of the stored (plaintext) log items
        self._plain: dict[LogKey, list[Typed | None]] = {}  # None: a snapshot is known
        self._snapshots: dict[LogKey, list[Any]] = {}
        # Log ranges this process holds as private snapshots of the stored items (items
        # known_at.. of the log): served as fresh deep copies (never objects anyone else holds),
        # so only later items are read.
        self.known: dict[LogKey, list[Any]] = {}
        self.known_at: dict[LogKey, int] = {}
        self._known: dict[LogKey, tuple[LogState, int]] = {}  # state, its value index at known_at
        self._starts: dict[LogKey, int] = {}
        self._firsts: dict[LogKey, int] = {}  # where the earliest value read from a log starts
        if cache is not None:
            for row, ckpt in zip(self.rows, self.ckpts, strict=True):
                for channel in ckpt.get("channel_versions", {}):
                    state = cache.get((row.thread_id, row.ns, channel))
                    key = (row.thread_id, row.ns, state.log_id) if state is not None else None
                    if state is None or key in self.known:
                        continue
                    # the cached value's last range: the whole log prefix for a plain value,
                    # the kept messages and what followed them after a trim
                    a, b = state.where()[-1]
                    at = len(state.items) - (b - a)
                    self.known[key] = _copies(state.snapshots[at:])
                    self.known_at[key] = a
                    self._known[key] = (state, at)

    def blob_keys(self) -> list[BlobKey]:
        keys: dict[BlobKey, None] = {}
        for row, ckpt in zip(self.rows, self.ckpts, strict=False):
            for channel, version in ckpt.get("channel_versions", {}).items():
                keys[(row.thread_id, row.ns, channel, str(version))] = None
        return list(keys)

    def set_blobs(self, blobs: Mapping[BlobKey, Typed | None]) -> dict[LogKey, int]:
        """Record fetched blobs; return the log prefixes (key -> length) still to fetch."""
        self.blobs.update(blobs)
        need: dict[LogKey, int] = {}
        for (thread_id, ns, _channel, _version), typed in blobs.items():
            if typed is not None and typed[0] == LOGREF:
                log_id, length, spans = decode_spans(typed[1])
                key = (thread_id, ns, log_id)
                need[key] = max(need.get(key, 0), length)
                self._firsts[key] = min(self._firsts.get(key, length), first(spans))
        return need

    def log_ranges(self, need: Mapping[LogKey, int]) -> dict[LogKey, tuple[int, int]]:
        """(start, end) of the items to fetch per log: what is neither known decoded nor before
        the earliest value read (:func:`fetch_start`, as the Redis script computes it)."""
        out = {}
        for key, length in need.items():
            self._starts[key] = fetch_start(
                self._firsts.get(key, 0),
                self.known_at.get(key, 0),
                len(self.known.get(key, ())),
                length,
            )
            out[key] = (self._starts[key], length)
        return out

    def set_logs(self, logs: Mapping[LogKey, Sequence[Typed]]) -> None:
        """Record fetched log items; each list starts where :meth:`log_ranges` said."""
        for key, items in logs.items():
            start = self._starts.get(key, 0)
            shown = self.public(key[0])
            # items before start: known ones, else before every value read (never used)
            values: list[Any] = [MISSING] * start
            digests: list[bytes] = [b""] * start
            snaps: list[Any] = [MISSING] * start
            if key in self._known:
                (state, at), lo, known = self._known[key], self.known_at[key], self.known[key]
                for p in range(lo, min(lo + len(known), start)):
                    values[p], digests[p] = known[p - lo], state.digests[at + p - lo]
                    snaps[p] = state.snapshots[at + p - lo]
            self._snapshots[key] = snaps
            self._plain[key] = [None] * start
            for i, typed in enumerate(items, start):
                path = f"log {key[2]} item {i}"
                plain = self.codec.open(typed, log_place(*key, i), path, shown)
                values.append(load(self.serde, plain, path, shown))
                digests.append(digest(plain))
                self._plain[key].append(plain)
            self.logs[key], self.digests[key] = values, digests

    def _state(self, key: LogKey, spans: list[tuple[int, int]], value: list[Any]) -> LogState:
        """The cache entry of a log read here: snapshots decoded once, for what was read."""
        snaps, plain = self._snapshots.setdefault(key, []), self._plain.get(key, [])
        pos = positions(spans)
        end = max(pos, default=-1) + 1
        snaps += [MISSING] * (end - len(snaps))
        for i in pos:
            if snaps[i] is MISSING and i < len(plain) and plain[i] is not None:
                snaps[i] = snapshot(self.serde, plain[i])
        digests = self.digests[key]
        return LogState(
            key[2], list(value), [digests[i] for i in pos], [snaps[i] for i in pos], list(spans)
        )

    def tuples(self, cache: LogCache | None = None) -> list[CheckpointTuple]:
        """Assemble; with ``cache``, remember the logs of these (latest-read) checkpoints."""
        out = []
        for row, ckpt, meta in zip(self.rows, self.ckpts, self.metas, strict=False):
            shown = self.public(row.thread_id)
            values: dict[str, Any] = {}
            for channel, version in ckpt.get("channel_versions", {}).items():
                typed = self.blobs.get((row.thread_id, row.ns, channel, str(version)))
                if typed is None or typed[0] == EMPTY:
                    continue
                if typed[0] == LOGREF:
                    log_id, length, spans = decode_spans(typed[1])
                    items = self.logs.get((row.thread_id, row.ns, log_id), [])
                    if len(items) < length:
                        raise CorruptDataError(
                            f"log {log_id} of channel {channel!r} in thread {shown!r} holds {len(items)} "
                            f"items, the checkpoint references {length}",
                            session_id=shown,
                            position=len(items),
                        )
                    value = [items[i] for i in positions(spans)]
                    if cache is not None:
                        cache.set(
                            (row.thread_id, row.ns, channel),
                            self._state((row.thread_id, row.ns, log_id), spans, value),
                        )
                    values[channel] = value
                else:
                    place = blob_place(row.thread_id, row.ns, channel, str(version))
                    values[channel] = self.codec.load(
                        typed, f"channel_values.{channel}", shown, place
                    )
            checkpoint = {**ckpt, "channel_values": values}
            writes: list[PendingWrite] = [
                (
                    w.task_id,
                    w.channel,
                    self.codec.load(
                        (w.type, w.value),
                        f"pending write {w.channel!r}",
                        shown,
                        write_place(row.thread_id, row.ns, row.checkpoint_id, w.task_id, w.idx),
                    ),
                )
                for w in sort_writes(row.writes)
            ]
            out.append(
                CheckpointTuple(
                    config=make_config(shown, row.ns, row.checkpoint_id),
                    checkpoint=checkpoint,  # type: ignore[arg-type]
                    metadata=meta,
                    parent_config=make_config(shown, row.ns, row.parent_id)
                    if row.parent_id
                    else None,
                    pending_writes=writes,
                )
            )
        return out


def fetch_start(first: int, known_at: int, known: int, end: int) -> int:
    """Where reading a log starts: at ``first`` (the earliest value read), or past the known
    items ``known_at..known_at+known-1`` when they cover it (never past ``end``)."""
    if known_at <= first:
        return max(first, min(known_at + known, end))
    return first


def referenced(assembler: TupleAssembler) -> tuple[set[BlobKey], set[LogKey]]:
    """Blob and log keys the assembled checkpoints need (used by prune to keep them)."""
    blobs = set(assembler.blob_keys())
    logs: set[LogKey] = set()
    for (thread_id, ns, _c, _v), typed in assembler.blobs.items():
        if typed is not None and typed[0] == LOGREF:
            logs.add((thread_id, ns, decode_ref(typed[1])[0]))
    return blobs, logs


def _same_id(key: str) -> str:
    return key


def _copies(snapshots: Sequence[Any]) -> list[Any]:
    """Deep copies of the snapshots up to the first one that is missing or cannot be copied."""
    out = []
    for snap in snapshots:
        if snap is MISSING:
            break
        try:
            out.append(fresh(snap))
        except Exception:  # noqa: BLE001 - read that item (and the rest) from storage instead
            break
    return out
