"""The Redis checkpointer's operations as generators of requests (no I/O): each is the whole logic
of a sync/async pair, which :mod:`.saver` drives over ``RedisConnections.send`` / ``asend``.
"""

from __future__ import annotations

import builtins  # `list` is a method name of the saver: annotations here say builtins.list
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..._steps import Steps
from ...checkpoint.assemble import BlobKey, Row, TupleAssembler
from ...checkpoint.config import now, target
from ...checkpoint.delta import DeltaWalk, delta_channels, empty_history
from ...checkpoint.linear import LogCache, PutPlan
from ...checkpoint.writes import WriteRow, plan_writes
from ...errors import CorruptDataError, ThreadOwnershipError
from .connections import Cmd, Pipe, Request, Script
from .keys import ThreadKeys
from .saver_codec import (
    UNSCOPED,
    apply_values,
    chain_links,
    delta_fetch_args,
    list_params,
    merge_pages,
    parse_delta_fetch,
    parse_rows,
    prune_args,
    put_args,
    rebase_on_conflict,
    rows_args,
    text,
    thread_info_of,
    values_args,
    writes_args,
)
from .scripts import script

T = TypeVar("T")
SaverSteps = Steps[Request, T]
CHAIN_PAGE = 200  # ancestors per round trip in the DeltaChannel walk
Walked = tuple[DeltaWalk, dict[str, list[WriteRow]], dict[str, Any]]


class RedisSaverSteps:
    """The step generators of :class:`~.saver.RedisCheckpointSaver` (mixed into it)."""

    keys: ThreadKeys
    serde: Any
    user_id: str | None
    ttl: float | None
    refresh_on_read: bool
    _logs: LogCache

    if TYPE_CHECKING:  # from SessionSaverBase and the saver

        def _plan(self, *args: Any) -> PutPlan: ...
        def _owns(self, owner: str | None) -> bool: ...
        def _refuse(self, thread_id: str, action: str) -> ThreadOwnershipError: ...
        def _thread_ids(self, thread_ids: Any) -> builtins.list[str]: ...
        def _strategy(self, strategy: str) -> str: ...
        def _index_ops(self, thread_id: str, run_id: str | None) -> builtins.list[Cmd]: ...
        def _mark(self, thread_id: str, run_id: str | None) -> None: ...
        def _forget_ops(self, thread_id: str, runs: set[str]) -> builtins.list[Cmd]: ...

        _registered: dict[str, tuple[float, set[str]]]

    # -- small request builders ----------------------------------------------------------------
    @property
    def _mode(self) -> str:
        return UNSCOPED if self.user_id is None else self.user_id

    @property
    def _ttl_ms(self) -> int:
        return 0 if self.ttl is None else int(self.ttl * 1000)

    @property
    def _refresh_ms(self) -> int:
        """TTL a read re-applies inside its own script (refresh_on_read), else 0."""
        return self._ttl_ms if self.refresh_on_read else 0

    def _lua(self, name: str, thread_id: str, args: builtins.list[Any]) -> Script:
        """The checkpoint script ``name`` on the keys of ``thread_id`` (one slot)."""
        return Script(script(f"checkpoint_{name}"), self.keys.thread(thread_id), args)

    def _check(self, reply: Any, thread_id: str, action: str = "write to") -> None:
        head = text(reply[0]) if isinstance(reply, list) and reply else text(reply)
        if head == "owner":
            raise self._refuse(thread_id, action)
        if head != "ok":
            raise CorruptDataError(
                f"unexpected reply from the checkpoint script for thread {thread_id!r}: {reply!r}"
            )

    # -- reads ---------------------------------------------------------------------------------
    def _rows_steps(
        self, thread_id: str, args: builtins.list[Any]
    ) -> SaverSteps[builtins.list[Row]]:
        return parse_rows(thread_id, (yield self._lua("rows", thread_id, args)))

    def _assemble_steps(
        self, rows: builtins.list[Row], cache: bool
    ) -> SaverSteps[builtins.list[CheckpointTuple]]:
        """Channel values and log items of ``rows``: one VALUES script per thread."""
        asm = TupleAssembler(self.serde, rows, self._logs)
        by_thread: dict[str, list[BlobKey]] = {}
        for key in asm.blob_keys():
            by_thread.setdefault(key[0], []).append(key)
        for tid, keys in by_thread.items():
            apply_values(asm, keys, (yield self._lua("values", tid, values_args(asm, tid, keys))))
        return asm.tuples(self._logs if cache else None)

    def _get_tuple_steps(self, config: RunnableConfig) -> SaverSteps[CheckpointTuple | None]:
        t = target(config)
        rows = yield from self._rows_steps(
            t.thread_id, rows_args(self._mode, t.ns, t.checkpoint_id, None, 1, {}, self._refresh_ms)
        )
        return (yield from self._assemble_steps(rows, cache=True))[0] if rows else None

    def _list_steps(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> SaverSteps[builtins.list[CheckpointTuple]]:
        """Rows of one thread, or of every thread in the index; filters Lua cannot compare run here."""
        conf, ns, exact, before_id, pushed, local = list_params(config, filter, before)
        args = rows_args(
            self._mode, ns, exact, before_id, None if local else limit, pushed, self._refresh_ms
        )
        if config:
            threads = [target(config).thread_id]
        else:
            threads = [text(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        rows: list[Row] = []
        for tid in threads:
            rows += yield from self._rows_steps(tid, args)
        return (yield from self._assemble_steps(merge_pages(rows, local, limit), cache=False))

    def _delta_steps(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str | None,
        channels: Sequence[str],
        *,
        from_parent: bool = True,
        refresh_ms: int = 0,
    ) -> SaverSteps[Walked | None]:
        """The DeltaChannel walk: one DELTA_CHAIN call reads the target and up to 200 ancestors,
        one DELTA_FETCH call walks them server-side and returns the seeds and the writes of the
        visited checkpoints (two round trips per 200 ancestors). None when there is no target."""
        chain = [self._mode, ns, checkpoint_id or "", CHAIN_PAGE + 1, refresh_ms]
        links = chain_links(
            self.serde, thread_id, (yield self._lua("delta_chain", thread_id, chain))
        )
        if not links:
            return None
        walk = DeltaWalk(channels, links[0].parent_id if from_parent else links[0].checkpoint_id)
        if from_parent:
            links = links[1:]
        writes: dict[str, list[WriteRow]] = {}
        seeds: dict[str, Any] = {}
        while not walk.done:
            if not links:
                page = [self._mode, ns, walk.cursor, CHAIN_PAGE, 0]
                reply = yield self._lua("delta_chain", thread_id, page)
                links = chain_links(self.serde, thread_id, reply)
                if not links:
                    walk.end()
                    break
            chans = [ch for ch in walk.channels if ch in walk.remaining]
            reply = yield self._lua("delta_fetch", thread_id, delta_fetch_args(ns, chans, links))
            filled, found, more = parse_delta_fetch(self.serde, thread_id, chans, reply)
            seeds.update(found)
            for cid, rows in more.items():
                writes.setdefault(cid, []).extend(rows)
            walk.advance(links, filled)
            links = []
        return walk, writes, seeds

    def _history_steps(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> SaverSteps[dict[str, Any]]:
        if not channels:
            return {}
        t = target(config)
        found = yield from self._delta_steps(
            t.thread_id, t.ns, t.checkpoint_id, channels, refresh_ms=self._refresh_ms
        )
        if found is None:
            return empty_history(channels)
        walk, writes, seeds = found
        return walk.history(self.serde, t.thread_id, writes, seeds)

    def _thread_info_steps(self, thread_id: str) -> SaverSteps[dict[str, Any] | None]:
        keys = self.keys.thread(thread_id)
        res = yield Pipe(
            [
                Cmd("hmget", (keys[0], ["owner", "created", "updated"])),
                Cmd("zcard", (keys[1],)),
                Cmd("pttl", (keys[0],)),
                *[Cmd("memory_usage", (key,), {"samples": 0}) for key in keys],
            ]
        )
        owner = text(res[0][0]) if res[0][0] is not None else None
        return (
            thread_info_of(thread_id, res)
            if owner is not None and self._owns(owner or None)
            else None
        )

    # -- writes --------------------------------------------------------------------------------
    def _put_steps(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> SaverSteps[RunnableConfig]:
        """Index the thread, then one PUT script; a log another writer grew is rebased and retried."""
        plan = self._plan(config, checkpoint, metadata, new_versions)
        yield Pipe(self._index_ops(plan.thread_id, plan.run_id))
        self._mark(plan.thread_id, plan.run_id)
        for _ in range(len(plan.appends) + 1):
            reply = yield self._lua("put", plan.thread_id, put_args(plan, self._mode, self._ttl_ms))
            if not rebase_on_conflict(plan, reply):
                break
        self._check(reply, plan.thread_id)
        plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": plan.ns,
                "checkpoint_id": plan.checkpoint_id,
            }
        }

    def _put_writes_steps(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> SaverSteps[None]:
        t = target(config)
        rows = plan_writes(self.serde, writes, task_id, task_path)
        yield Pipe(self._index_ops(t.thread_id, None))
        self._mark(t.thread_id, None)
        args = writes_args(rows, self._mode, self._ttl_ms, t.thread_id, t.ns, str(t.checkpoint_id))
        self._check((yield self._lua("put_writes", t.thread_id, args)), t.thread_id)

    def _delete_thread_steps(self, thread_id: str) -> SaverSteps[None]:
        """The DELETE script, then the global indexes (its run ids plus those that outlive expiry)."""
        reply = yield self._lua("delete", thread_id, [self._mode])
        self._check(reply, thread_id, "delete")
        runs = {text(r) for r in reply[1:]}
        runs |= {text(r) for r in (yield Cmd("smembers", (self.keys.runs_of(thread_id),)))}
        yield Pipe(self._forget_ops(thread_id, runs))
        self._logs.drop_thread(thread_id)

    def _delete_for_runs_steps(self, run_ids: Sequence[str]) -> SaverSteps[None]:
        """Threads of the runs from the run index, then one DELETE_RUNS script per thread."""
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        members = yield Pipe([Cmd("smembers", (self.keys.run(run),)) for run in runs])
        for tid in sorted({text(t) for m in members for t in m}):
            yield self._lua("delete_runs", tid, [self._mode, *runs])

    def _copy_thread_steps(self, source_thread_id: str, target_thread_id: str) -> SaverSteps[None]:
        """DUMP every key of the source, RESTORE it under the target's tag, re-stamp and index it."""
        src, dst = self.keys.thread(source_thread_id), self.keys.thread(target_thread_id)
        owner = yield Cmd("hget", (src[0], "owner"))
        if owner is None:
            return
        if not self._owns(text(owner) or None):
            raise self._refuse(source_thread_id, "copy")
        dst_owner = yield Cmd("hget", (dst[0], "owner"))
        if dst_owner is not None and not self._owns(text(dst_owner) or None):
            raise self._refuse(target_thread_id, "overwrite")
        dumps = yield Pipe([Cmd("dump", (key,)) for key in src])
        runs = {text(e).split("\0", 1)[0] for e in (yield Cmd("zrange", (src[8], 0, -1)))}
        cmds = [Cmd("delete", (key,)) for key in dst]  # cluster pipelines refuse multi-key DEL
        cmds += [
            Cmd("restore", (key, self._ttl_ms, blob), {"replace": True})
            for key, blob in zip(dst, dumps, strict=True)
            if blob is not None
        ]
        stamp = {"tid": target_thread_id, "created": repr(now()), "updated": repr(now())}
        cmds.append(Cmd("hset", (dst[0],), {"mapping": stamp}))
        if self.user_id is not None:
            cmds.append(Cmd("hset", (dst[0], "owner", self.user_id)))
        yield Pipe(cmds)
        self._registered.pop(target_thread_id, None)
        yield Pipe(
            [
                Cmd("zadd", (self.keys.threads, {target_thread_id: now()})),
                *[Cmd("sadd", (self.keys.run(r), target_thread_id)) for r in runs],
                *[Cmd("sadd", (self.keys.runs_of(target_thread_id), r)) for r in runs],
            ]
        )
        self._logs.drop_thread(target_thread_id)

    def _keep_steps(
        self, thread_id: str, rows: builtins.list[Row]
    ) -> SaverSteps[set[tuple[str, str]]]:
        """(ns, id) of the newest checkpoint per namespace plus the ancestors its DeltaChannels replay."""
        latest = {r.ns: r for r in sorted(rows, key=lambda r: r.checkpoint_id)}
        keep = {(r.ns, r.checkpoint_id) for r in latest.values()}
        for r in latest.values():
            if chans := delta_channels(json.loads(r.metadata)):
                found = yield from self._delta_steps(
                    thread_id, r.ns, r.checkpoint_id, chans, from_parent=False
                )
                if found is not None:
                    keep |= {(r.ns, cid) for cid in found[0].visited}
        return keep

    def _prune_steps(self, thread_ids: Sequence[str], strategy: str) -> SaverSteps[None]:
        """keep_latest: the newest checkpoint per namespace and what its DeltaChannels replay stay;
        the PRUNE script drops the other checkpoints, the blobs none of them names, unused logs."""
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                yield from self._delete_thread_steps(tid)
                continue
            keys = self.keys.thread(tid)
            owner = yield Cmd("hget", (keys[0], "owner"))
            if owner is None:
                continue
            if not self._owns(text(owner) or None):
                raise self._refuse(tid, "prune")
            rows = yield from self._rows_steps(
                tid, rows_args(self._mode, None, None, None, None, {}, 0)
            )
            keep = yield from self._keep_steps(tid, rows)
            keep_fields = set()
            for r in [r for r in rows if (r.ns, r.checkpoint_id) in keep]:
                versions = self.serde.loads_typed(r.ckpt).get("channel_versions", {})
                keep_fields |= {f"{r.ns}\0{ch}\0{v}" for ch, v in versions.items()}
            fields = sorted(keep_fields)
            res = yield Pipe(
                [
                    Cmd("hkeys", (keys[4],)),
                    Cmd("hkeys", (keys[0],)),
                    *([Cmd("hmget", (keys[4], fields))] if fields else []),
                ]
            )
            all_blobs = [text(f) for f in res[0]]
            all_logs = {text(f)[4:] for f in res[1] if text(f).startswith("log:")}
            kept_values = dict(zip(fields, res[2], strict=True)) if fields else {}
            args = prune_args(self._mode, rows, keep, all_blobs, keep_fields, kept_values, all_logs)
            if text((yield self._lua("prune", tid, args))) == "owner":
                raise self._refuse(tid, "prune")
            self._logs.drop_thread(tid)

    def _purge_expired_steps(self) -> SaverSteps[int]:
        """Threads of the index whose meta key expired, and their run ids, leave the global indexes."""
        threads = [text(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        alive = yield Pipe([Cmd("exists", (self.keys.thread(tid)[0],)) for tid in threads])
        gone = [t for t, live in zip(threads, alive, strict=True) if not live]
        runs = yield Pipe([Cmd("smembers", (self.keys.runs_of(tid),)) for tid in gone])
        ops = [
            op
            for tid, rs in zip(gone, runs, strict=True)
            for op in self._forget_ops(tid, {text(r) for r in rs})
        ]
        yield Pipe(ops)
        return len(gone)
