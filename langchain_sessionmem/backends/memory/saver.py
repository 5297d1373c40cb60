"""In-process checkpointer: the same semantics as the SQLite and Redis savers, held in dicts.

Values are stored serialized (as the other engines do), so a graph never shares live objects
with its checkpoints, and the linear log keeps memory at O(messages) rather than O(turns^2).
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
from ...checkpoint.config import matches, now, target, validate_ns
from ...checkpoint.delta import decode_value, empty_history
from ...checkpoint.linear import LOGREF, decode_ref
from ...checkpoint.saver import OffloadedSaver, SessionSaverBase
from ...checkpoint.writes import plan_writes
from .engine import MemoryCheckpointData
from .threads import StoredCheckpoint, ThreadRecord, keep_latest, walk

__all__ = ["MemoryCheckpointData", "MemoryCheckpointSaver"]


class MemoryCheckpointSaver(OffloadedSaver, SessionSaverBase):
    """Checkpoints in process memory (tests, notebooks). Async twins run inline under one lock."""

    _offload_inline = True

    _sweeps = True

    def __init__(self, data: MemoryCheckpointData | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.data = data or MemoryCheckpointData()

    # -- helpers (call with the lock held) ---------------------------------------------------
    def _live(self, thread_id: str, at: float) -> ThreadRecord | None:
        th = self.data.threads.get(thread_id)
        if th is not None and th.expires_at is not None and th.expires_at <= at:
            del self.data.threads[thread_id]
            return None
        return th

    def _visible(self, thread_id: str, at: float) -> ThreadRecord | None:
        th = self._live(thread_id, at)
        return th if th is not None and self._owns(th.owner) else None

    def _writable(self, thread_id: str, at: float, action: str) -> ThreadRecord:
        th = self._live(thread_id, at)
        if th is None:
            th = self.data.threads[thread_id] = ThreadRecord(
                self.user_id, at, at, self._expires(at)
            )
        elif not self._owns(th.owner):
            raise self._refuse(thread_id, action)
        th.updated_at = at
        th.expires_at = self._expires(at)
        return th

    def _assemble(
        self, picked: list[tuple[str, ThreadRecord, str, str, StoredCheckpoint]], cache: bool
    ) -> list[CheckpointTuple]:
        rows = [
            Row(
                tid,
                ns,
                cid,
                c.parent_id,
                c.ckpt,
                c.metadata,
                list(th.writes.get((ns, cid), {}).values()),
            )
            for tid, th, ns, cid, c in picked
        ]
        asm = TupleAssembler(self.serde, rows, self._logs)
        threads = {tid: th for tid, th, *_ in picked}
        need = asm.set_blobs({k: threads[k[0]].blobs.get(k[1:]) for k in asm.blob_keys()})
        ranges = asm.log_ranges(need)
        asm.set_logs({k: threads[k[0]].logs.get(k[1:], [])[a:b] for k, (a, b) in ranges.items()})
        return asm.tuples(self._logs if cache else None)

    def _refresh(self, th: ThreadRecord, at: float) -> None:
        if self.refresh_on_read and self.ttl is not None:
            th.expires_at = self._expires(at)

    # -- reads ---------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        t = target(config)
        with self.data.lock:
            at = now()
            th = self._visible(t.thread_id, at)
            if th is None or not th.ckpts.get(t.ns):
                return None
            ckpts = th.ckpts[t.ns]
            cid = t.checkpoint_id or max(ckpts)
            if cid not in ckpts:
                return None
            self._refresh(th, at)
            return self._assemble([(t.thread_id, th, t.ns, cid, ckpts[cid])], cache=True)[0]

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
        conf = (config or {}).get("configurable") or {}
        ns = conf.get("checkpoint_ns")
        if ns is not None:
            validate_ns(ns)
        exact = conf.get("checkpoint_id")
        before_id = (before or {}).get("configurable", {}).get("checkpoint_id") if before else None
        with self.data.lock:
            at = now()
            tids = [target(config).thread_id] if config else list(self.data.threads)
            picked = []
            for tid in tids:
                th = self._visible(tid, at)
                if th is None:
                    continue
                for cns, ckpts in th.ckpts.items():
                    if ns is not None and cns != ns:
                        continue
                    for cid, c in ckpts.items():
                        if (exact and cid != exact) or (before_id and cid >= before_id):
                            continue
                        if matches(c.meta, filter):
                            picked.append((tid, th, cns, cid, c))
            picked.sort(key=lambda p: p[3], reverse=True)
            if limit is not None:
                picked = picked[: max(limit, 0)]
            for th in {id(p[1]): p[1] for p in picked}.values():
                self._refresh(th, at)
            return self._assemble(picked, cache=False)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain, read straight from the dicts."""
        if not channels:
            return {}
        t = target(config)
        with self.data.lock:
            at = now()
            th = self._visible(t.thread_id, at)
            ckpts = th.ckpts.get(t.ns) if th is not None else None
            if th is None or not ckpts:
                return empty_history(channels)
            c = ckpts.get(t.checkpoint_id or max(ckpts))
            if c is None:
                return empty_history(channels)
            self._refresh(th, at)
            chain = walk(self.serde, th, t.ns, c.parent_id, channels)
            writes = {cid: list(th.writes.get((t.ns, cid), {}).values()) for cid in chain.visited}
            seeds = {}
            for ch, ver in chain.seeds.items():
                typed = th.blobs[(t.ns, ch, ver)]
                log = th.logs.get((t.ns, decode_ref(typed[1])[0])) if typed[0] == LOGREF else None
                seeds[ch] = decode_value(self.serde, typed, log, ch, t.thread_id)
        return chain.history(self.serde, t.thread_id, writes, seeds)

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
            th = self._writable(plan.thread_id, now(), "write to")
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
        rows = plan_writes(self.serde, writes, task_id, task_path)
        with self.data.lock:
            th = self._writable(t.thread_id, now(), "write to")
            stored = th.writes.setdefault((t.ns, str(t.checkpoint_id)), {})
            for w in rows:
                if w.replace or (w.task_id, w.idx) not in stored:
                    stored[(w.task_id, w.idx)] = w

    def delete_thread(self, thread_id: str) -> None:
        with self.data.lock:
            th = self._live(thread_id, now())
            if th is None:
                return
            if not self._owns(th.owner):
                raise self._refuse(thread_id, "delete")
            del self.data.threads[thread_id]
        self._logs.drop_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = {str(r) for r in run_ids}
        if not runs:
            return
        with self.data.lock:
            at = now()
            for tid in list(self.data.threads):
                th = self._visible(tid, at)
                if th is None:
                    continue
                for ns, ckpts in th.ckpts.items():
                    for cid in [cid for cid, c in ckpts.items() if c.run_id in runs]:
                        del ckpts[cid]
                        th.writes.pop((ns, cid), None)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        with self.data.lock:
            at = now()
            src = self._live(source_thread_id, at)
            if src is None:
                return
            if not self._owns(src.owner):
                raise self._refuse(source_thread_id, "copy")
            dst = self._live(target_thread_id, at)
            if dst is not None and not self._owns(dst.owner):
                raise self._refuse(target_thread_id, "overwrite")
            clone = src.copy()
            clone.created_at = clone.updated_at = at
            clone.expires_at = self._expires(at)
            self.data.threads[target_thread_id] = clone
        self._logs.drop_thread(target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            with self.data.lock:
                th = self._live(tid, now())
                if th is None:
                    continue
                if not self._owns(th.owner):
                    raise self._refuse(tid, "prune")
                keep_latest(self.serde, th)

    # -- retention and introspection -------------------------------------------------------------
    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, checkpoint count and stored bytes of a visible thread, else None."""
        with self.data.lock:
            th = self._visible(thread_id, now())
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

    def purge_expired(self) -> int:
        """Drop expired threads now (they are also dropped lazily when touched)."""
        with self.data.lock:
            at = now()
            gone = [
                t
                for t, th in self.data.threads.items()
                if th.expires_at is not None and th.expires_at <= at
            ]
            for tid in gone:
                del self.data.threads[tid]
        return len(gone)
