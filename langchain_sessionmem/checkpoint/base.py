"""Engine-independent checkpoint logic: config parsing, put plans, linear logs, tuple decoding.

Nothing here does I/O. Each engine turns a :class:`PutPlan` into one atomic write and feeds
fetched rows back through :class:`TupleAssembler`; the sync and async executors stay thin.

Linear storage: a list-valued channel (``MessagesState.messages`` under ``add_messages``) is
stored as an append-only per-thread log of items, and each checkpoint version of the channel
is a tiny reference ``(log_id, length)``. When a new value is the previous value plus new items
only the new items are written; anything else (removals, rewrites, ``Overwrite``, forks) starts
a fresh log holding the full value, so correctness never depends on the append detection.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    SerializerProtocol,
    get_checkpoint_id,
    get_checkpoint_metadata,
)

from ..errors import CorruptDataError, InvalidIdError, SerializationError
from ..ids import validate_id

LOGREF = "sm.logref"
"""Blob type of a channel version stored as a reference into an append-only log."""
EMPTY = "empty"
"""Blob type of a channel version that has no value (the channel was cleared)."""

Typed = tuple[str, bytes]
BlobKey = tuple[str, str, str, str]  # thread_id, ns, channel, version
LogKey = tuple[str, str, str]  # thread_id, ns, log_id


# -- ids and configs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where a config points: thread, namespace and (optionally) one checkpoint."""

    thread_id: str
    ns: str
    checkpoint_id: str | None


def validate_ns(ns: Any) -> str:
    if not isinstance(ns, str):
        raise InvalidIdError(f"checkpoint_ns must be a str, got {type(ns).__name__}")
    if "\x00" in ns or len(ns) > 4096:
        raise InvalidIdError(
            "checkpoint_ns contains a NUL character or is longer than 4096 characters"
        )
    return ns


def target(config: RunnableConfig) -> Target:
    """Validated (thread_id, checkpoint_ns, checkpoint_id) of a config, before they become keys."""
    conf = config.get("configurable") or {}
    thread_id = validate_id(conf.get("thread_id"), "thread_id")
    ns = validate_ns(conf.get("checkpoint_ns", "") or "")
    cid = get_checkpoint_id(config) if "configurable" in config else None
    if cid is not None:
        validate_id(cid, "checkpoint_id")
    return Target(thread_id, ns, cid)


def make_config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def next_version(current: str | int | float | None) -> str:
    """Short sortable string versions with a random tail, so forked branches never share a blob key."""
    if current is None:
        current_v = 0
    elif isinstance(current, (int, float)):
        current_v = int(current)
    else:
        current_v = int(str(current).split(".")[0])
    return f"{current_v + 1:012}.{random.randrange(16**6):06x}"


# -- serialization with state paths -------------------------------------------------------------
def dump(serde: SerializerProtocol, value: Any, path: str) -> Typed:
    """Serialize ``value``; a failure names the state path instead of a bare msgpack error."""
    try:
        return serde.dumps_typed(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot store {path} ({type(value).__name__}): {exc}. Checkpoints hold msgpack-serializable "
            "values (str, numbers, lists, dicts, LangChain messages, dataclasses, pydantic models)"
        ) from exc


def load(serde: SerializerProtocol, typed: Typed, path: str, thread_id: str) -> Any:
    try:
        return serde.loads_typed(typed)
    except Exception as exc:
        raise CorruptDataError(
            f"cannot decode {path} of thread {thread_id!r} (type {typed[0]!r}): {exc}",
            session_id=thread_id,
        ) from exc


def encode_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> tuple[str, str | None]:
    """Metadata as JSON text (so engines can filter on any key) and its run_id."""
    md: dict[str, Any] = dict(get_checkpoint_metadata(config, metadata))
    md.pop("writes", None)  # pre-1.0 LangGraph metadata carried the step's writes
    try:
        text = json.dumps(md, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in md.items() if not _jsonable(v)), "?")
        raise SerializationError(
            f"cannot store metadata.{bad}: {exc}. Checkpoint metadata must be JSON (str, numbers, bools, lists, dicts)"
        ) from exc
    run_id = md.get("run_id")
    return text, (str(run_id) if run_id is not None else None)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def decode_metadata(text: str | bytes, thread_id: str) -> CheckpointMetadata:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptDataError(
            f"checkpoint metadata of thread {thread_id!r} is not JSON: {exc}", session_id=thread_id
        ) from exc


SCALARS = (str, int, float, bool)


def split_filter(filter: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pushed, local): scalar equality filters an engine can evaluate, and the rest."""
    pushed: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for key, value in (filter or {}).items():
        if (
            isinstance(value, SCALARS)
            and isinstance(key, str)
            and '"' not in key
            and "\\" not in key
        ):
            pushed[key] = value
        else:
            local[key] = value
    return pushed, local


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    return all(metadata.get(k) == v for k, v in (filter or {}).items())


# -- writes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WriteRow:
    task_id: str
    idx: int
    task_path: str
    channel: str
    type: str
    value: bytes

    @property
    def replace(self) -> bool:
        """Special channels (errors, interrupts, ...) replace; ordinary writes insert if absent."""
        return self.idx < 0


def plan_writes(
    serde: SerializerProtocol, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> list[WriteRow]:
    rows = []
    for i, (channel, value) in enumerate(writes):
        typ, data = dump(serde, value, f"pending write {channel!r} of task {task_id!r}")
        rows.append(
            WriteRow(task_id, WRITES_IDX_MAP.get(channel, i), task_path or "", channel, typ, data)
        )
    return rows


def sort_writes(rows: Iterable[WriteRow]) -> list[WriteRow]:
    """(task_path, task_id, idx): the order live execution applies a super-step's writes."""
    return sorted(rows, key=lambda w: (w.task_path, w.task_id, w.idx))


# -- linear logs ----------------------------------------------------------------------------------
_PLAIN = (str, int, float, bool, bytes, type(None))


def _fingerprint(item: Any) -> Any:
    """Cheap identity of a logged item: catches in-place edits of a message's id or text."""
    if isinstance(item, BaseMessage):
        content = item.content
        return (item.id, content if isinstance(content, str) else id(content))
    return None


def _same(new: Any, old: Any, fp: Any) -> bool:
    if new is old:
        return _fingerprint(new) == fp
    if type(new) is not type(old):
        return False
    if isinstance(new, (_PLAIN, BaseMessage)):
        return new == old
    return False


@dataclass
class LogState:
    """What this process knows a log holds: item references (not copies) and fingerprints."""

    log_id: str
    items: list[Any]
    fps: list[Any]


class LogCache:
    """Bounded LRU of the last log state per (thread, ns, channel).

    Why: detecting "previous value + new items" needs the previous value; the graph builds each
    new value from objects this saver returned or stored, so identity checks make it O(new).
    A miss only costs one full copy (a fresh log), never correctness.
    """

    def __init__(self, maxsize: int = 512):
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, str, str], LogState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> LogState | None:
        with self._lock:
            state = self._data.get(key)
            if state is not None:
                self._data.move_to_end(key)
            return state

    def set(self, key: tuple[str, str, str], state: LogState) -> None:
        with self._lock:
            self._data[key] = state
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def drop_thread(self, thread_id: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] == thread_id]:
                del self._data[key]


def new_log_id() -> str:
    return uuid.uuid4().hex[:16]


def encode_ref(log_id: str, length: int) -> Typed:
    return LOGREF, f"{log_id}:{length}".encode()


def decode_ref(data: bytes) -> tuple[str, int]:
    log_id, _, length = bytes(data).decode().partition(":")
    return log_id, int(length)


@dataclass
class LogAppend:
    """Items to add to one log at ``start`` (the log's expected current length: a CAS)."""

    channel: str
    log_id: str
    start: int
    items: list[Typed]
    value: list[Any]  # the full new value, for the cache and for a rebase
    fps: list[Any] = field(default_factory=list)  # fingerprints taken when the bytes were made

    @property
    def length(self) -> int:
        return self.start + len(self.items)


@dataclass
class PutPlan:
    """Everything one ``put`` writes, ready for a single atomic engine transaction."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    ckpt: Typed
    metadata: str
    run_id: str | None
    ts: float
    blobs: dict[tuple[str, str], Typed] = field(default_factory=dict)  # (channel, version) -> typed
    appends: dict[str, LogAppend] = field(default_factory=dict)  # channel -> append
    versions: dict[str, str] = field(
        default_factory=dict
    )  # channel -> version of the appended value
    serde: SerializerProtocol | None = None

    def rebase(self, channel: str) -> None:
        """The log moved under us (another writer, or a fork): store the full value in a new log."""
        app = self.appends[channel]
        assert self.serde is not None
        fps = [_fingerprint(item) for item in app.value]
        items = [
            dump(self.serde, item, f"channel_values.{channel}[{i}]")
            for i, item in enumerate(app.value)
        ]
        self.appends[channel] = LogAppend(channel, new_log_id(), 0, items, app.value, fps)
        self.blobs[(channel, self.versions[channel])] = encode_ref(
            self.appends[channel].log_id, len(items)
        )

    def commit(self, cache: LogCache) -> None:
        """Remember what the logs now hold, after the engine confirmed the write."""
        for channel, app in self.appends.items():
            key = (self.thread_id, self.ns, channel)
            # Fingerprints from serialization time: a node editing an item in place after that is
            # caught at the next put instead of being mistaken for the stored bytes.
            cache.set(key, LogState(app.log_id, list(app.value), list(app.fps)))


def plan_put(
    serde: SerializerProtocol,
    cache: LogCache,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    *,
    linear: bool = True,
) -> PutPlan:
    """Serialize a put once: checkpoint skeleton, metadata JSON, changed channels (as log appends)."""
    t = target(config)
    cid = validate_id(checkpoint["id"], "checkpoint_id")
    skeleton = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    values = checkpoint["channel_values"]
    md_text, run_id = encode_metadata(config, metadata)
    plan = PutPlan(
        t.thread_id,
        t.ns,
        cid,
        t.checkpoint_id,
        dump(serde, skeleton, "checkpoint"),
        md_text,
        run_id,
        time.time(),
        serde=serde,
    )
    for channel, version in new_versions.items():
        ver = str(version)
        if channel not in values:
            plan.blobs[(channel, ver)] = (EMPTY, b"")
            continue
        value = values[channel]
        if linear and type(value) is list and value:
            plan.appends[channel] = _plan_append(serde, cache, t, channel, value)
            plan.versions[channel] = ver
            app = plan.appends[channel]
            plan.blobs[(channel, ver)] = encode_ref(app.log_id, app.length)
        else:
            plan.blobs[(channel, ver)] = dump(serde, value, f"channel_values.{channel}")
    return plan


def _plan_append(
    serde: SerializerProtocol, cache: LogCache, t: Target, channel: str, value: list
) -> LogAppend:
    state = cache.get((t.thread_id, t.ns, channel))
    start = 0
    log_id = None
    fps: list[Any] = []
    if state is not None and len(value) >= len(state.items):
        n = len(state.items)
        if all(_same(value[i], state.items[i], state.fps[i]) for i in range(n)):
            start, log_id, fps = n, state.log_id, list(state.fps)
    fps += [_fingerprint(value[i]) for i in range(start, len(value))]
    items = [
        dump(serde, value[i], f"channel_values.{channel}[{i}]") for i in range(start, len(value))
    ]
    return LogAppend(channel, log_id or new_log_id(), start, items, value, fps)


# -- reading --------------------------------------------------------------------------------------
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

    Log items are decoded once per page and shared by every tuple that references them.
    """

    def __init__(
        self, serde: SerializerProtocol, rows: Sequence[Row], cache: LogCache | None = None
    ):
        self.serde = serde
        self.rows = list(rows)
        self.ckpts: list[dict[str, Any]] = []
        self.metas: list[CheckpointMetadata] = []
        for row in self.rows:
            self.ckpts.append(load(serde, row.ckpt, "checkpoint", row.thread_id))
            self.metas.append(decode_metadata(row.metadata, row.thread_id))
        self.blobs: dict[BlobKey, Typed | None] = {}
        self.logs: dict[LogKey, list[Any]] = {}
        # Log prefixes this process already holds decoded: read only the items after them.
        self.known: dict[LogKey, list[Any]] = {}
        self._starts: dict[LogKey, int] = {}
        if cache is not None:
            for row, ckpt in zip(self.rows, self.ckpts, strict=True):
                for channel in ckpt.get("channel_versions", {}):
                    state = cache.get((row.thread_id, row.ns, channel))
                    if state is None:
                        continue
                    key = (row.thread_id, row.ns, state.log_id)
                    if key in self.known:
                        continue
                    if all(
                        _fingerprint(v) == fp for v, fp in zip(state.items, state.fps, strict=True)
                    ):
                        self.known[key] = state.items

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
                log_id, length = decode_ref(typed[1])
                key = (thread_id, ns, log_id)
                need[key] = max(need.get(key, 0), length)
        return need

    def log_ranges(self, need: Mapping[LogKey, int]) -> dict[LogKey, tuple[int, int]]:
        """(start, end) of the items to fetch per log: what is not already known decoded."""
        out = {}
        for key, length in need.items():
            self._starts[key] = min(len(self.known.get(key, ())), length)
            out[key] = (self._starts[key], length)
        return out

    def set_logs(self, logs: Mapping[LogKey, Sequence[Typed]]) -> None:
        """Record fetched log items; each list starts where :meth:`log_ranges` said."""
        for key, items in logs.items():
            start = self._starts.get(key, 0)
            self.logs[key] = self.known.get(key, [])[:start] + [
                load(self.serde, typed, f"log {key[2]} item {start + i}", key[0])
                for i, typed in enumerate(items)
            ]

    def tuples(self, cache: LogCache | None = None) -> list[CheckpointTuple]:
        """Assemble; with ``cache``, remember the logs of these (latest-read) checkpoints."""
        out = []
        for row, ckpt, meta in zip(self.rows, self.ckpts, self.metas, strict=False):
            values: dict[str, Any] = {}
            for channel, version in ckpt.get("channel_versions", {}).items():
                typed = self.blobs.get((row.thread_id, row.ns, channel, str(version)))
                if typed is None or typed[0] == EMPTY:
                    continue
                if typed[0] == LOGREF:
                    log_id, length = decode_ref(typed[1])
                    items = self.logs.get((row.thread_id, row.ns, log_id), [])
                    if len(items) < length:
                        raise CorruptDataError(
                            f"log {log_id} of channel {channel!r} in thread {row.thread_id!r} holds {len(items)} "
                            f"items, the checkpoint references {length}",
                            session_id=row.thread_id,
                            position=len(items),
                        )
                    value = items[:length]
                    if cache is not None:
                        cache.set(
                            (row.thread_id, row.ns, channel),
                            LogState(log_id, list(value), [_fingerprint(v) for v in value]),
                        )
                    values[channel] = value
                else:
                    values[channel] = load(
                        self.serde, typed, f"channel_values.{channel}", row.thread_id
                    )
            checkpoint = {**ckpt, "channel_values": values}
            writes: list[PendingWrite] = [
                (
                    w.task_id,
                    w.channel,
                    load(
                        self.serde, (w.type, w.value), f"pending write {w.channel!r}", row.thread_id
                    ),
                )
                for w in sort_writes(row.writes)
            ]
            out.append(
                CheckpointTuple(
                    config=make_config(row.thread_id, row.ns, row.checkpoint_id),
                    checkpoint=checkpoint,  # type: ignore[arg-type]
                    metadata=meta,
                    parent_config=make_config(row.thread_id, row.ns, row.parent_id)
                    if row.parent_id
                    else None,
                    pending_writes=writes,
                )
            )
        return out


def referenced(assembler: TupleAssembler) -> tuple[set[BlobKey], set[LogKey]]:
    """Blob and log keys the assembled checkpoints need (used by prune to keep them)."""
    blobs = set(assembler.blob_keys())
    logs: set[LogKey] = set()
    for (thread_id, ns, _c, _v), typed in assembler.blobs.items():
        if typed is not None and typed[0] == LOGREF:
            logs.add((thread_id, ns, decode_ref(typed[1])[0]))
    return blobs, logs


def now() -> float:
    return time.time()


# -- DeltaChannel history -------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """One checkpoint of a parent chain: its id, its parent and its channel versions."""

    checkpoint_id: str
    parent_id: str | None
    versions: Mapping[str, Any]


def link_of(
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_id: str,
    parent_id: str | None,
    ckpt: Typed,
) -> Link:
    skeleton = load(serde, ckpt, "checkpoint", thread_id)
    return Link(checkpoint_id, parent_id, skeleton.get("channel_versions", {}))


class DeltaWalk:
    """The ancestor walk of ``get_delta_channel_history``, fed one page of the chain at a time.

    Same result as LangGraph's default walk (``get_tuple`` per parent): starting at the target's
    parent, each ancestor's writes count for every channel still open, and a channel closes at the
    first ancestor that stores a value for it (its ``seed``). Engines fetch pages of links, tell
    which ``(channel, version)`` pairs hold a stored value, then fetch the writes of :attr:`visited`.
    """

    def __init__(self, channels: Sequence[str], start: str | None):
        self.channels = list(dict.fromkeys(channels))
        self.remaining = set(self.channels)
        self.path: dict[str, list[str]] = {ch: [] for ch in self.channels}
        self.seeds: dict[str, str] = {}  # channel -> version of the stored value that closes it
        self.cursor = start

    @property
    def done(self) -> bool:
        return self.cursor is None or not self.remaining

    def pairs(self, links: Iterable[Link]) -> set[tuple[str, str]]:
        """(channel, version) pairs of open channels a page references: ask the engine which are stored."""
        return {
            (ch, str(link.versions[ch]))
            for link in links
            for ch in self.remaining
            if ch in link.versions
        }

    def advance(
        self,
        links: Sequence[Link],
        filled: Iterable[tuple[str, str]] | Mapping[tuple[str, str], Any],
    ) -> None:
        """Walk a page (links in chain order, starting at :attr:`cursor`); a gap ends the walk."""
        stored = filled if isinstance(filled, (set, dict)) else set(filled)
        if not links:
            self.cursor = None
            return
        for link in links:
            if self.done:
                return
            if link.checkpoint_id != self.cursor:
                break
            for ch in self.channels:
                if ch not in self.remaining:
                    continue
                self.path[ch].append(link.checkpoint_id)
                ver = link.versions.get(ch)
                if ver is not None and (ch, str(ver)) in stored:
                    self.seeds[ch] = str(ver)
                    self.remaining.discard(ch)
            self.cursor = link.parent_id
        else:
            return
        self.cursor = None

    def end(self) -> None:
        self.cursor = None

    @property
    def visited(self) -> list[str]:
        """Checkpoint ids whose writes the result needs (newest first)."""
        seen: dict[str, None] = {}
        for ch in self.channels:
            seen.update(dict.fromkeys(self.path[ch]))
        return list(seen)

    def history(
        self,
        serde: SerializerProtocol,
        thread_id: str,
        writes: Mapping[str, Sequence[WriteRow]],
        seeds: Mapping[str, Any],
    ) -> dict[str, Any]:
        """``{channel: {"writes": [...oldest first], "seed"?: value}}`` from fetched writes and seed values."""
        out: dict[str, Any] = {}
        for ch in self.channels:
            collected: list[PendingWrite] = []
            for cid in reversed(self.path[ch]):
                for w in sort_writes(writes.get(cid, ())):
                    if w.channel == ch:
                        collected.append(
                            (
                                w.task_id,
                                ch,
                                load(serde, (w.type, w.value), f"pending write {ch!r}", thread_id),
                            )
                        )
            entry: dict[str, Any] = {"writes": collected}
            if ch in seeds:
                entry["seed"] = seeds[ch]
            out[ch] = entry
        return out


def empty_history(channels: Sequence[str]) -> dict[str, Any]:
    return {ch: {"writes": []} for ch in dict.fromkeys(channels)}


def is_stored(typed: Typed | None) -> bool:
    """A channel version that holds a value (not missing, not cleared)."""
    return typed is not None and typed[0] != EMPTY


def decode_value(
    serde: SerializerProtocol,
    typed: Typed,
    log: Sequence[Typed] | None,
    channel: str,
    thread_id: str,
) -> Any:
    """A stored channel value; a log reference is resolved from ``log`` (the referenced items)."""
    if typed[0] == LOGREF:
        _log_id, length = decode_ref(typed[1])
        items = list(log or [])[:length]
        if len(items) < length:
            raise CorruptDataError(
                f"log of channel {channel!r} in thread {thread_id!r} holds {len(items)} items, "
                f"the checkpoint references {length}",
                session_id=thread_id,
            )
        return [
            load(serde, t, f"channel_values.{channel}[{i}]", thread_id) for i, t in enumerate(items)
        ]
    return load(serde, typed, f"channel_values.{channel}", thread_id)


def delta_channels(metadata: Mapping[str, Any]) -> list[str]:
    """The DeltaChannel names LangGraph counts in a checkpoint's metadata (replayed from ancestors)."""
    counters = metadata.get("counters_since_delta_snapshot") or {}
    return sorted(counters) if isinstance(counters, Mapping) else []
