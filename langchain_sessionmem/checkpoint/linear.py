"""Linear storage of list channels: append-only logs, so a thread stores each message once.

A list-valued channel (``MessagesState.messages`` under ``add_messages``) is stored as an
append-only per-thread log of items, and each checkpoint version of the channel is a tiny
reference ``(log_id, length)``. When a new value is the previous value plus new items only the
new items are written; anything else (removals, rewrites, ``Overwrite``, forks) starts a fresh log
holding the full value, so correctness never depends on the append detection.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    SerializerProtocol,
)

from ..ids import validate_id
from .config import encode_metadata, target
from .serde import Typed
from .values import (
    EMPTY,
    LOGREF,
    ValueCodec,
    as_codec,
    blob_place,
    checkpoint_place,
    log_place,
)

__all__ = ["EMPTY", "LOGREF", "LogAppend", "LogCache", "LogState", "PutPlan", "plan_put"]


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
        fps = [_fingerprint(item) for item in app.value]
        log_id = new_log_id()
        items = [
            self.codec.dump(
                item, f"channel_values.{channel}[{i}]", log_place(self.key, self.ns, log_id, i)
            )
            for i, item in enumerate(app.value)
        ]
        self.appends[channel] = LogAppend(channel, log_id, 0, items, app.value, fps)
        self.blobs[(channel, self.versions[channel])] = encode_ref(
            self.appends[channel].log_id, len(items)
        )

    def commit(self, cache: LogCache) -> None:
        """Remember what the logs now hold, after the engine confirmed the write."""
        for channel, app in self.appends.items():
            key = (self.key, self.ns, channel)
            # Fingerprints from serialization time: a node editing an item in place after that is
            # caught at the next put instead of being mistaken for the stored bytes.
            cache.set(key, LogState(app.log_id, list(app.value), list(app.fps)))


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
) -> PutPlan:
    """Serialize a put once: checkpoint skeleton, metadata JSON, changed channels (as log appends).

    ``key`` is the thread's stored identity (default: the config's thread id); with a sealing
    ``serde`` (a :class:`~.values.ValueCodec`) every value is sealed at its place under it.
    """
    codec = as_codec(serde)
    t = target(config)
    key = key or t.thread_id
    cid = validate_id(checkpoint["id"], "checkpoint_id")
    skeleton = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    values = checkpoint["channel_values"]
    md_text, run_id = encode_metadata(config, metadata)
    plan = PutPlan(
        t.thread_id,
        t.ns,
        cid,
        t.checkpoint_id,
        codec.dump(skeleton, "checkpoint", checkpoint_place(key, t.ns, cid)),
        md_text,
        run_id,
        time.time(),
        codec=codec,
        key=key,
    )
    for channel, version in new_versions.items():
        ver = str(version)
        if channel not in values:
            plan.blobs[(channel, ver)] = (EMPTY, b"")
            continue
        value = values[channel]
        if linear and type(value) is list and value:
            plan.appends[channel] = _plan_append(codec, cache, key, t.ns, channel, value)
            plan.versions[channel] = ver
            app = plan.appends[channel]
            plan.blobs[(channel, ver)] = encode_ref(app.log_id, app.length)
        else:
            plan.blobs[(channel, ver)] = codec.dump(
                value, f"channel_values.{channel}", blob_place(key, t.ns, channel, ver)
            )
    return plan


def _plan_append(
    codec: ValueCodec, cache: LogCache, key: str, ns: str, channel: str, value: list
) -> LogAppend:
    state = cache.get((key, ns, channel))
    start = 0
    log_id = None
    fps: list[Any] = []
    if state is not None and len(value) >= len(state.items):
        n = len(state.items)
        if all(_same(value[i], state.items[i], state.fps[i]) for i in range(n)):
            start, log_id, fps = n, state.log_id, list(state.fps)
    fps += [_fingerprint(value[i]) for i in range(start, len(value))]
    log_id = log_id or new_log_id()
    items = [
        codec.dump(value[i], f"channel_values.{channel}[{i}]", log_place(key, ns, log_id, i))
        for i in range(start, len(value))
    ]
    return LogAppend(channel, log_id, start, items, value, fps)
