"""In-process checkpointer: the same semantics as the SQLite and Redis savers, held in dicts.

Values are stored serialized (as the other engines do), so a graph never shares live objects
with its checkpoints, and the linear log keeps memory at O(messages) rather than O(turns^2).
Threads are keyed by ``thread_key(owner, thread_id)``: each user sees only their own.
"""

from __future__ import annotations

import builtins  # `list` is a method name inside the savers: annotations after it say builtins.list
import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ...checkpoint.assemble import Row, TupleAssembler
from ...checkpoint.config import list_query, matches, target
from ...checkpoint.delta import decode_value, empty_history
from ...checkpoint.linear import LOGREF, decode_ref
from ...checkpoint.saver import OffloadedSaver, SaverContext, SessionSaverBase
from ...checkpoint.writes import plan_writes
from ...errors import ConfigurationError
from ...records import ThreadInfo, to_datetime, to_optional_datetime
from .engine import MemoryCheckpointData
from .threads import StoredCheckpoint, ThreadRecord, keep_latest, walk

__all__ = ["MemoryCheckpointData", "MemoryCheckpointSaver"]

Picked = tuple[str, ThreadRecord, str, str, StoredCheckpoint]  # key, thread, ns, id, checkpoint


class MemoryCheckpointSaver(OffloadedSaver, SessionSaverBase):
    """Checkpoints in process memory (tests, notebooks). Async twins run inline under one lock."""

    _offload_inline = True
    _sweeps = True
    _keyed = True

    def __init__(self, data: MemoryCheckpointData | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.data = data or MemoryCheckpointData()

    @classmethod
    def from_conn_string(cls, conn_string: str = "memory://", **options: Any) -> SaverContext:
        """``with MemoryCheckpointSaver.from_conn_string() as saver:``, for code written against
        LangGraph's savers; the data lives as long as the saver."""
        if conn_string not in ("memory://", ":memory:", ""):
            raise ConfigurationError(
                f"MemoryCheckpointSaver holds its data in memory: pass 'memory://', not "
                f"{conn_string!r} (for a file use SqliteCheckpointSaver.from_conn_string)"
            )
        return SaverContext(lambda: cls(**options))

    # -- helpers (call with the lock held) ---------------------------------------------------
    def _live(self, key: str, at: float) -> ThreadRecord | None:
        th = self.data.threads.get(key)
        if th is not None and th.expired(at):
            del self.data.threads[key]
            return None
        return th

    def _writable(self, key: str, at: float) -> ThreadRecord:
        th = self._live(key, at)
        if th is None:
            th = self.data.threads[key] = ThreadRecord(self.user_id, at, at, None)
        th.updated_at = at
        th.expires_at = self._expires(at)
        return th

    def _mine(self, at: float) -> builtins.list[tuple[str, ThreadRecord]]:
        """The live threads of this saver's owner."""
        keys = [k for k, th in self.data.threads.items() if th.owner == self.user_id]
        return [(k, th) for k in keys if (th := self._live(k, at)) is not None]

    def _assemble(
        self, picked: builtins.list[Picked], cache: bool
    ) -> builtins.list[CheckpointTuple]:
        rows = [
            Row(key, ns, cid, c.parent_id, c.ckpt, c.metadata) for key, _th, ns, cid, c in picked
        ]
        for row, (_key, th, ns, cid, _c) in zip(rows, picked, strict=True):
            row.writes = list(th.writes.get((ns, cid), {}).values())
        asm = TupleAssembler(self._codec(), rows, self._logs, public=self._public)
        threads = {key: th for key, th, *_ in picked}
        need = asm.set_blobs({k: threads[k[0]].blobs.get(k[1:]) for k in asm.blob_keys()})
        ranges = asm.log_ranges(need)
        asm.set_logs({k: threads[k[0]].logs.get(k[1:], [])[a:b] for k, (a, b) in ranges.items()})
        return asm.tuples(self._logs if cache else None)

    def _refresh(self, th: ThreadRecord, at: float) -> None:
        if self.refresh_on_read and self.ttl is not None:
            th.expires_at = self._expires(at)

    def _pointed(self, config: RunnableConfig, at: float) -> Picked | None:
        """The checkpoint ``config`` points at (its id, else the thread's newest)."""
        t = target(config)
        key = self._key(t.thread_id)
        th = self._live(key, at)
        ckpts = th.ckpts.get(t.ns) if th is not None else None
        if th is None or not ckpts:
            return None
        cid = t.checkpoint_id or max(ckpts)
        if cid not in ckpts:
            return None
        self._refresh(th, at)
        return key, th, t.ns, cid, ckpts[cid]

    # -- reads ---------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self.data.lock:
            picked = self._pointed(config, self.clock())
            return None if picked is None else self._assemble([picked], cache=True)[0]

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._list(config, filter, before, limit)

    def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> builtins.list[CheckpointTuple]:
        q = list_query(config, filter, before, limit)
        with self.data.lock:
            at = self.clock()
            if q.thread_id is not None:
                key = self._key(q.thread_id)
                th = self._live(key, at)
                threads = [] if th is None else [(key, th)]
            else:
                threads = self._mine(at)
            wanted = {**q.pushed, **q.local}
            picked: builtins.list[Picked] = []
            for key, th in threads:
                for cns, ckpts in th.ckpts.items():
                    if q.ns is not None and cns != q.ns:
                        continue
                    for cid, c in ckpts.items():
                        if (q.checkpoint_id and cid != q.checkpoint_id) or (
                            q.before and cid >= q.before
                        ):
                            continue
                        if matches(c.meta, wanted):
                            picked.append((key, th, cns, cid, c))
            picked.sort(key=lambda p: p[3], reverse=True)
            if q.limit is not None:
                picked = picked[: q.limit]
            for th in {id(p[1]): p[1] for p in picked}.values():
                self._refresh(th, at)
            return self._assemble(picked, cache=False)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain, read straight from the dicts."""
        channels = self._channels(channels)
        if not channels:
            return {}
        t = target(config)
        codec = self._codec()
        with self.data.lock:
            picked = self._pointed(config, self.clock())
            if picked is None:
                return empty_history(channels)
            key, th, ns, _cid, c = picked
            chain = walk(codec, key, th, ns, c.parent_id, channels)
            writes = {cid: list(th.writes.get((ns, cid), {}).values()) for cid in chain.visited}
            seeds = {}
            for ch, ver in chain.seeds.items():
                typed = th.blobs[(ns, ch, ver)]
                log = th.logs.get((ns, decode_ref(typed[1])[0])) if typed[0] == LOGREF else None
                seeds[ch] = decode_value(
                    codec, typed, log, ch, t.thread_id, key=key, ns=ns, version=ver
                )
        return chain.history(codec, t.thread_id, writes, seeds, key=key, ns=ns)

    # -- writes --------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        plan = self._plan(config, checkpoint, metadata, new_versions)
        with self.data.lock:
            th = self._writable(plan.key, self.clock())
            for channel, app in list(plan.appends.items()):
                if len(th.logs.get((plan.ns, app.log_id), [])) != app.start:
                    plan.rebase(channel)
            for app in plan.appends.values():
                th.logs.setdefault((plan.ns, app.log_id), []).extend(app.items)
            for (channel, version), typed in plan.blobs.items():
                th.blobs[(plan.ns, channel, version)] = typed
            th.ckpts.setdefault(plan.ns, {})[plan.checkpoint_id] = StoredCheckpoint(
                plan.parent_id,
                plan.ckpt,
                plan.metadata,
                json.loads(plan.metadata),
                plan.run_id,
                dict(checkpoint["channel_versions"]),
            )
            plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": plan.ns,
                "checkpoint_id": plan.checkpoint_id,
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        t = target(config)
        key = self._key(t.thread_id)
        rows = plan_writes(
            self._codec(),
            writes,
            task_id,
            task_path,
            key=key,
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
        )
        with self.data.lock:
            th = self._writable(key, self.clock())
            stored = th.writes.setdefault((t.ns, str(t.checkpoint_id)), {})
            for w in rows:
                if w.replace or (w.task_id, w.idx) not in stored:
                    stored[(w.task_id, w.idx)] = w

    def delete_thread(self, thread_id: str) -> None:
        key = self._key(self._thread_ids([thread_id])[0])
        with self.data.lock:
            self.data.threads.pop(key, None)
        self._logs.drop_thread(key)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = set(self._run_ids(run_ids))
        if not runs:
            return
        with self.data.lock:
            for _key, th in self._mine(self.clock()):
                for ns, ckpts in th.ckpts.items():
                    for cid in [cid for cid, c in ckpts.items() if c.run_id in runs]:
                        del ckpts[cid]
                        th.writes.pop((ns, cid), None)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src_id, dst_id = self._thread_ids([source_thread_id, target_thread_id])
        src_key, dst = self._key(src_id), self._key(dst_id)
        codec = self._codec()
        with self.data.lock:
            at = self.clock()
            src = self._live(src_key, at)
            if src is None:
                return
            clone = src.resealed(codec, src_key, dst, dst_id) if codec.sealing else src.copy()
            clone.created_at = clone.updated_at = at
            clone.expires_at = self._expires(at)
            self.data.threads[dst] = clone
        self._logs.drop_thread(dst)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            key, codec = self._key(tid), self._codec()
            with self.data.lock:
                th = self._live(key, self.clock())
                if th is not None:
                    keep_latest(codec, key, th)
            self._logs.drop_thread(key)

    # -- retention and introspection -------------------------------------------------------------
    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, checkpoint count and stored bytes of one of the owner's threads."""
        key = self._key(self._thread_ids([thread_id])[0])
        with self.data.lock:
            th = self._live(key, self.clock())
            if th is None:
                return None
            return {
                "thread_id": thread_id,
                "owner": th.owner,
                "created_at": th.created_at,
                "updated_at": th.updated_at,
                "expires_at": th.expires_at,
                "checkpoints": sum(len(c) for c in th.ckpts.values()),
                "bytes": th.nbytes(),
            }

    def list_threads(self) -> builtins.list[ThreadInfo]:
        with self.data.lock:
            mine = self._mine(self.clock())
            infos = [
                ThreadInfo(
                    self._public(key),
                    th.owner,
                    to_datetime(th.created_at),
                    to_datetime(th.updated_at),
                    to_optional_datetime(th.expires_at),
                    sum(len(c) for c in th.ckpts.values()),
                )
                for key, th in mine
            ]
        return sorted(infos, key=lambda i: i.updated_at, reverse=True)

    def delete_user_threads(self) -> int:
        with self.data.lock:
            at = self.clock()
            keys = [k for k, th in self.data.threads.items() if th.owner == self.user_id]
            live = sum(not self.data.threads.pop(k).expired(at) for k in keys)
        for key in keys:
            self._logs.drop_thread(key)
        return live

    def purge_expired(self) -> int:
        """Drop expired threads of every owner now (they are also dropped lazily when touched)."""
        with self.data.lock:
            at = self.clock()
            gone = [k for k, th in self.data.threads.items() if th.expired(at)]
            for key in gone:
                del self.data.threads[key]
        return len(gone)
