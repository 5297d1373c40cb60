"""Linear storage of list channels: append-only logs, so a thread stores each message once.

A list-valued channel (``MessagesState.messages`` under ``add_messages``) is stored as an
append-only per-thread log of items, and each checkpoint version of the channel is a tiny
reference ``(log_id, length)``. When a new value is the previous value plus new items only the
new items are written. A value that keeps some logged items in order and adds new ones (a
``RemoveMessage`` trim) appends only its new items to the same log, and its reference names the
kept ranges (:mod:`.spans`), until the log holds mostly removed items (:data:`DEAD_RATIO`).
Anything else (rewrites, ``Overwrite``, forks) starts a fresh log holding the full value, so
correctness never depends on the detection.

"The previous value" is judged on everything that is stored, so an edit made in place on an
object the graph still holds (LangGraph's human-in-the-loop pattern:
``state.values["messages"][-1].tool_calls[0]["args"][...] = ...`` then ``update_state``) is seen
and stored. The cache keeps, for each logged item, a private snapshot decoded from its stored
bytes (a stored log item never changes) and the digest of those bytes; a put compares each
earlier item to its snapshot with ``==`` (a deep compare, a few microseconds for a message) and,
only where that says "different" (types without value equality), re-serializes it and compares
digests. Storage written stays O(new items); snapshots are made for new items only.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    SerializerProtocol,
)

from ..errors import InvalidArgumentError
from ..ids import validate_id
from .config import encode_metadata, target, validate_name, validate_versions
from .logstate import MISSING, LogState, digest, kept, snapshot, unchanged
from .serde import Typed
from .spans import Spans, decode_spans, encode_spans, spans_of
from .values import (
    EMPTY,
    LOGREF,
    ValueCodec,
    as_codec,
    blob_place,
    checkpoint_place,
    log_place,
)

__all__ = [
    "EMPTY",
    "LOGREF",
    "LogAppend",
    "LogCache",
    "LogState",
    "MISSING",
    "PutPlan",
    "decode_ref",
    "digest",
    "encode_ref",
    "new_log_id",
    "plan_append",
    "plan_put",
    "snapshot",
    "unchanged",
]


class LogCache:
    """Bounded LRU of the last log state per (thread key, ns, channel).

    Why: detecting "previous value + new items" needs the previous value's stored bytes. A miss
    only costs one full copy (a fresh log), never correctness.
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


DEAD_RATIO, DEAD_MIN = 8, 64
"""A value that references a log holding more than ``max(DEAD_RATIO * len(value), DEAD_MIN)``
items it does not use (trimmed away) is stored in a fresh log instead: prune keeps whole logs, so
this bounds what a pruned thread keeps, for one copy per that many removed items."""


def new_log_id() -> str:
    """64 random bits from the OS: unique even where a test fixes ``uuid.uuid4``."""
    return os.urandom(8).hex()


def encode_ref(log_id: str, length: int) -> Typed:
    return LOGREF, f"{log_id}:{length}".encode()


def decode_ref(data: bytes) -> tuple[str, int]:
    """``(log_id, end)`` of a log reference (the log holds the value in its first ``end`` items);
    damaged bytes raise :class:`CorruptDataError`."""
    log_id, end, _spans = decode_spans(data)
    return log_id, end


@dataclass
class LogAppend:
    """Items to add to one log at ``start`` (the log's expected current length: a CAS)."""

    channel: str
    log_id: str
    start: int
    items: list[Typed]  # stored (sealed when encrypting) items start..end
    value: list[Any]  # the full new value, for the cache and for a rebase
    digests: list[bytes] = field(default_factory=list)  # of every item of ``value``
    plain: list[Typed | None] = field(default_factory=list)  # serialized items (None: skipped)
    snapshots: list[Any] = field(default_factory=list)  # of every item of ``value``
    spans: Spans = field(default_factory=list)  # where ``value`` is in the log once appended

    @property
    def length(self) -> int:
        return self.start + len(self.items)


@dataclass
class PutPlan:
    """Everything one ``put`` writes, ready for a single atomic engine transaction.

    ``thread_id`` is the public id (what the returned config says); ``key`` is where the thread is
    stored (:func:`~.config.thread_key` of owner and id on owner-keyed savers).
    """

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
    codec: ValueCodec | None = None
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.key or self.thread_id

    def rebase(self, channel: str) -> None:
        """The log moved under us (another writer, or a fork): store the full value in a new log."""
        app = self.appends[channel]
        assert self.codec is not None
        plain = [
            p if p is not None else self.codec.dump_plain(v, f"channel_values.{channel}[{i}]")
            for i, (p, v) in enumerate(zip(app.plain, app.value, strict=True))
        ]
        log_id = new_log_id()
        items = [
            self.codec.seal(p, log_place(self.key, self.ns, log_id, i)) for i, p in enumerate(plain)
        ]
        self.appends[channel] = LogAppend(
            channel,
            log_id,
            0,
            items,
            app.value,
            app.digests,
            list(plain),
            app.snapshots,
            [(0, len(items))],
        )
        self.blobs[(channel, self.versions[channel])] = encode_ref(log_id, len(items))

    def commit(self, cache: LogCache) -> None:
        """Remember what the logs now hold, after the engine confirmed the write."""
        for channel, app in self.appends.items():
            key = (self.key, self.ns, channel)
            # Digests from serialization time: a node editing an item in place after that is
            # caught at the next put instead of being mistaken for the stored bytes.
            cache.set(
                key,
                LogState(
                    app.log_id,
                    list(app.value),
                    list(app.digests),
                    list(app.snapshots),
                    list(app.spans),
                ),
            )


def plan_put(
    serde: SerializerProtocol | ValueCodec,
    cache: LogCache,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    *,
    linear: bool = True,
    key: str | None = None,
    clock: Any = time.time,
) -> PutPlan:
    """Serialize a put once: checkpoint skeleton, metadata JSON, changed channels (as log appends).

    ``key`` is the thread's stored identity (default: the config's thread id); with a sealing
    ``serde`` (a :class:`~.values.ValueCodec`) every value is sealed at its place under it.
    ``clock`` stamps the plan (``plan.ts``).
    """
    codec = as_codec(serde)
    t = target(config)
    key = key or t.thread_id
    if not isinstance(checkpoint, Mapping) or not isinstance(new_versions, Mapping):
        raise InvalidArgumentError(
            "put() takes a Checkpoint dict and a dict of new channel versions, got "
            f"{type(checkpoint).__name__} and {type(new_versions).__name__}"
        )
    cid = validate_id(checkpoint.get("id"), "checkpoint_id")
    skeleton = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    validate_versions(skeleton)
    values = checkpoint.get("channel_values") or {}
    if not isinstance(values, Mapping):
        raise InvalidArgumentError(f"checkpoint channel_values must be a dict, got {values!r:.40}")
    md_text, run_id = encode_metadata(config, metadata)
    plan = PutPlan(
        t.thread_id,
        t.ns,
        cid,
        t.checkpoint_id,
        codec.dump(skeleton, "checkpoint", checkpoint_place(key, t.ns, cid)),
        md_text,
        run_id,
        clock(),
        codec=codec,
        key=key,
    )
    for channel, version in new_versions.items():
        validate_name(channel, "channel name")
        ver = validate_name(str(version), f"the version of channel {channel!r}")
        if channel not in values:
            plan.blobs[(channel, ver)] = (EMPTY, b"")
            continue
        value = values[channel]
        if linear and type(value) is list and value:
            plan.appends[channel] = plan_append(codec, cache, key, t.ns, channel, value)
            plan.versions[channel] = ver
            app = plan.appends[channel]
            plan.blobs[(channel, ver)] = encode_spans(app.log_id, app.spans)
        else:
            plan.blobs[(channel, ver)] = codec.dump(
                value, f"channel_values.{channel}", blob_place(key, t.ns, channel, ver)
            )
    return plan


def plan_append(
    codec: ValueCodec, cache: LogCache, key: str, ns: str, channel: str, value: list
) -> LogAppend:
    """The append that stores ``value``: its new items on the cached log when the earlier items
    are logged items still as the log stores them (all of them in order, or after a trim some of
    them in order), else the whole value in a fresh log."""
    n = len(value)
    plain: list[Typed | None] = [None] * n
    digests: list[bytes] = [b""] * n
    snapshots: list[Any] = [MISSING] * n
    state = cache.get((key, ns, channel))
    start, log_id, at = 0, new_log_id(), []
    if state is not None:
        at = kept(codec, state, value, channel, plain, digests, snapshots)
        if at and state.size - len(at) > max(DEAD_RATIO * n, DEAD_MIN):
            at = []  # the log holds mostly trimmed-away items: start afresh (prune can drop it)
        if at:
            start, log_id = state.size, state.log_id
    for i in range(n):
        if not digests[i]:
            found = plain[i] or codec.dump_plain(value[i], f"channel_values.{channel}[{i}]")
            plain[i], digests[i], snapshots[i] = found, digest(found), snapshot(codec.serde, found)
    m = len(at)
    items = [
        codec.seal(_plain(codec, plain, value, channel, i), log_place(key, ns, log_id, start + j))
        for j, i in enumerate(range(m, n))
    ]
    spans = spans_of([*at, *range(start, start + n - m)])
    return LogAppend(channel, log_id, start, items, value, digests, plain, snapshots, spans)


def _plain(
    codec: ValueCodec, plain: list[Typed | None], value: list, channel: str, i: int
) -> Typed:
    found = plain[i]
    return (
        found if found is not None else codec.dump_plain(value[i], f"channel_values.{channel}[{i}]")
    )
