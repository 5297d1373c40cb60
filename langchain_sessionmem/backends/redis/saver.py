"""Redis checkpointer on plain Redis / Valkey (no modules), Redis Cluster safe.

Every key of a thread carries the same hash tag, so each ``put`` / ``put_writes`` is one Lua
script on one slot: atomic, and one round trip. Listing walks a per-thread lexicographic sorted
set of ``ns\\0checkpoint_id`` (newest first, ``before`` as a range bound); metadata filters run in
the script with ``cjson``. No KEYS, no SCAN, no MODULE commands. With a TTL every key of the
thread gets the same ``PEXPIRE`` on each write (sliding), so a thread expires as a whole.

Keys (``P`` = namespace, ``{T}`` = the thread's hash tag)::

    P:cp:{T}:m   hash   owner, created, updated, tid, log:<id> -> log length, run:<id>
    P:cp:{T}:i   zset   "ns\\0cid" (score 0, lexicographic)
    P:cp:{T}:c   hash   "ns\\0cid" -> msgpack [parent_id, type, checkpoint bytes, run_id]
    P:cp:{T}:d   hash   "ns\\0cid" -> metadata JSON
    P:cp:{T}:b   hash   "ns\\0channel\\0version" -> "type\\0bytes"
    P:cp:{T}:w   hash   "ns\\0cid\\0task\\0idx" -> msgpack [task_path, channel, type, bytes]
    P:cp:{T}:wz  zset   the same write fields, to range them per checkpoint
    P:cp:{T}:l   hash   "log_id\\0seq" -> "type\\0bytes"   (append-only message logs)
    P:cp:{T}:r   zset   "run_id\\0ns\\0cid" (delete_for_runs)
    P:cp:{T}:runs set   run ids of the thread (not expired: lets cleanup find them after expiry)
    P:cp:threads        zset of thread ids (list(None)); P:cp:run:{R} set of thread ids of run R

The global indexes are maintained next to the per-thread script (registration before the first
write of a thread or run in this process); ``delete_thread`` and ``purge_expired`` clean them.
"""

from __future__ import annotations

import builtins  # `list` is a method name inside the savers: annotations after it say builtins.list
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..._steps import adrive, drive
from ...checkpoint.assemble import BlobKey, Row, TupleAssembler
from ...checkpoint.config import now, target
from ...checkpoint.delta import delta_channels, empty_history
from ...checkpoint.saver import SessionSaverBase
from ...checkpoint.writes import plan_writes
from ...errors import ConfigurationError
from .connections import Cmd, Pipe, RedisConnections, Script
from .keys import ThreadKeys
from .saver_steps import (
    UNSCOPED,
    SaverSteps,
    apply_values,
    check_reply,
    delta_steps,
    list_params,
    merge_pages,
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

__all__ = ["RedisCheckpointSaver"]

T = TypeVar("T")


class RedisCheckpointSaver(SessionSaverBase):
    """LangGraph checkpointer on plain Redis or Redis Cluster, sync and async.

    Pass ``client`` (``redis.Redis`` / ``redis.cluster.RedisCluster``, ``decode_responses=False``)
    and/or ``aclient`` (the ``redis.asyncio`` twin), or factories that make them lazily.
    """

    def __init__(
        self,
        connections: RedisConnections | None = None,
        *,
        client: Any = None,
        aclient: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if connections is None:
            if client is None and aclient is None:
                raise ConfigurationError(
                    "RedisCheckpointSaver needs client= and/or aclient= (or a store's connections)"
                )
            connections = RedisConnections(client=client, aclient=aclient)
        self.connections = connections
        self.keys = ThreadKeys(self.namespace)
        self._registered: dict[str, tuple[float, set[str]]] = {}

    @property
    def client(self) -> Any:
        """The sync client (for tests and tools that inspect the raw keys)."""
        return self.connections.client

    def _lua(self, name: str, thread_id: str, args: builtins.list[Any]) -> Script:
        """The checkpoint script ``name`` on the keys of ``thread_id`` (one slot)."""
        return Script(script(f"checkpoint_{name}"), self.keys.thread(thread_id), args)

    def _drive(self, steps: SaverSteps[T]) -> T:
        return drive(steps, self.connections.send)

    async def _adrive(self, steps: SaverSteps[T]) -> T:
        return await adrive(steps, self.connections.asend)

    @property
    def _mode(self) -> str:
        return UNSCOPED if self.user_id is None else self.user_id

    @property
    def _refresh_ms(self) -> int:
        """TTL a read re-applies inside its own script (refresh_on_read), else 0."""
        return self._ttl_ms if self.refresh_on_read else 0

    @property
    def _ttl_ms(self) -> int:
        return 0 if self.ttl is None else int(self.ttl * 1000)

    def _index_ops(self, thread_id: str, run_id: str | None) -> list[Cmd]:
        """Global index updates this process has not done lately (thread list, run -> threads)."""
        entry = self._registered.get(thread_id)
        fresh = entry is not None and now() - entry[0] < 60
        ops: list[Cmd] = []
        if not fresh:
            ops.append(Cmd("zadd", (self.keys.threads, {thread_id: now()})))
        if run_id and not (fresh and entry is not None and run_id in entry[1]):
            ops.append(Cmd("sadd", (self.keys.run(run_id), thread_id)))
            ops.append(Cmd("sadd", (self.keys.runs_of(thread_id), run_id)))
        return ops

    def _mark(self, thread_id: str, run_id: str | None) -> None:
        if len(self._registered) > 50_000:
            self._registered.clear()
        entry = self._registered.get(thread_id)
        if entry is None or now() - entry[0] >= 60:
            entry = self._registered[thread_id] = (now(), set())
        if run_id:
            entry[1].add(run_id)

    def _forget_ops(self, thread_id: str, runs: set[str]) -> list[Cmd]:
        """Remove a deleted or expired thread from the global indexes."""
        self._registered.pop(thread_id, None)
        ops = [
            Cmd("zrem", (self.keys.threads, thread_id)),
            Cmd("delete", (self.keys.runs_of(thread_id),)),
        ]
        return ops + [Cmd("srem", (self.keys.run(r), thread_id)) for r in sorted(runs)]

    # -- step generators: the logic of each sync/async pair, written once and doing no I/O ----------
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

    def _history_steps(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> SaverSteps[dict[str, Any]]:
        if not channels:
            return {}
        t = target(config)
        found = yield from delta_steps(
            self.serde,
            self.keys,
            self._mode,
            t.thread_id,
            t.ns,
            t.checkpoint_id,
            channels,
            refresh_ms=self._refresh_ms,
        )
        if found is None:
            return empty_history(channels)
        walk, writes, seeds = found
        return walk.history(self.serde, t.thread_id, writes, seeds)

    def _keep_steps(
        self, thread_id: str, rows: builtins.list[Row]
    ) -> SaverSteps[set[tuple[str, str]]]:
        """(ns, id) of the newest checkpoint per namespace plus the ancestors its DeltaChannels replay."""
        latest = {r.ns: r for r in sorted(rows, key=lambda r: r.checkpoint_id)}
        keep = {(r.ns, r.checkpoint_id) for r in latest.values()}
        for r in latest.values():
            if chans := delta_channels(json.loads(r.metadata)):
                found = yield from delta_steps(
                    self.serde,
                    self.keys,
                    self._mode,
                    thread_id,
                    r.ns,
                    r.checkpoint_id,
                    chans,
                    from_parent=False,
                )
                if found is not None:
                    keep |= {(r.ns, cid) for cid in found[0].visited}
        return keep

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
        check_reply(reply, self, plan.thread_id)
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
        reply = yield self._lua(
            "put_writes",
            t.thread_id,
            writes_args(rows, self._mode, self._ttl_ms, t.thread_id, t.ns, str(t.checkpoint_id)),
        )
        check_reply(reply, self, t.thread_id)

    def _delete_thread_steps(self, thread_id: str) -> SaverSteps[None]:
        """The DELETE script, then the global indexes (its run ids plus those that outlive expiry)."""
        reply = yield self._lua("delete", thread_id, [self._mode])
        check_reply(reply, self, thread_id, "delete")
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
        threads = {text(t) for m in members for t in m}
        for tid in sorted(threads):
            yield self._lua("delete_runs", tid, [self._mode, *runs])

    def _copy_thread_steps(self, source_thread_id: str, target_thread_id: str) -> SaverSteps[None]:
        """DUMP every key of the source and RESTORE it under the target's tag, then re-stamp and index it."""
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
        cmds = [
            Cmd("delete", (key,)) for key in dst
        ]  # one key per DEL: cluster pipelines refuse multi-key DEL
        cmds += [
            Cmd("restore", (key, self._ttl_ms, blob), {"replace": True})
            for key, blob in zip(dst, dumps, strict=True)
            if blob is not None
        ]
        cmds.append(
            Cmd(
                "hset",
                (dst[0],),
                {
                    "mapping": {
                        "tid": target_thread_id,
                        "created": repr(now()),
                        "updated": repr(now()),
                    }
                },
            )
        )
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

    def _prune_steps(self, thread_ids: Sequence[str], strategy: str) -> SaverSteps[None]:
        """keep_latest: the newest checkpoint per namespace and what its DeltaChannels replay stay; the
        PRUNE script drops the other checkpoints, the blobs none of the kept ones name and unused logs."""
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
                skeleton = self.serde.loads_typed(r.ckpt)
                keep_fields |= {
                    f"{r.ns}\0{ch}\0{v}" for ch, v in skeleton.get("channel_versions", {}).items()
                }
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
            reply = yield self._lua(
                "prune",
                tid,
                prune_args(self._mode, rows, keep, all_blobs, keep_fields, kept_values, all_logs),
            )
            if text(reply) == "owner":
                raise self._refuse(tid, "prune")
            self._logs.drop_thread(tid)

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
        return thread_info_of(self, thread_id, res)

    def _purge_expired_steps(self) -> SaverSteps[int]:
        """Threads of the index whose meta key expired, and their run ids, leave the global indexes."""
        threads = [text(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        alive = yield Pipe([Cmd("exists", (self.keys.thread(tid)[0],)) for tid in threads])
        gone = [t for t, live in zip(threads, alive, strict=True) if not live]
        runs = yield Pipe([Cmd("smembers", (self.keys.runs_of(tid),)) for tid in gone])
        yield Pipe(
            [
                op
                for tid, rs in zip(gone, runs, strict=True)
                for op in self._forget_ops(tid, {text(r) for r in rs})
            ]
        )
        return len(gone)

    # -- sync and async entry points ----------------------------------------------------------
    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain: two scripts per 200 ancestors."""
        return self._drive(self._history_steps(config, channels))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._drive(self._get_tuple_steps(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._drive(self._list_steps(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._drive(self._put_steps(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._drive(self._put_writes_steps(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._drive(self._delete_thread_steps(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._drive(self._delete_for_runs_steps(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._drive(self._copy_thread_steps(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._drive(self._prune_steps(thread_ids, strategy))

    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, TTL, checkpoint count and memory used by a visible thread, else None."""
        return self._drive(self._thread_info_steps(thread_id))

    def purge_expired(self) -> int:
        """Native expiry removes the data; this drops expired threads from the global indexes."""
        return self._drive(self._purge_expired_steps())

    def close(self) -> None:
        """Stop the sweeper; the connections belong to the store (or the caller's clients)."""
        self._stop_sweeper()

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return await self._adrive(self._history_steps(config, channels))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._adrive(self._get_tuple_steps(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in await self._adrive(self._list_steps(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._adrive(self._put_steps(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._adrive(self._put_writes_steps(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._adrive(self._delete_thread_steps(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._adrive(self._delete_for_runs_steps(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._adrive(self._copy_thread_steps(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._adrive(self._prune_steps(thread_ids, strategy))

    async def athread_info(self, thread_id: str) -> dict[str, Any] | None:
        return await self._adrive(self._thread_info_steps(thread_id))

    async def apurge_expired(self) -> int:
        return await self._adrive(self._purge_expired_steps())

    async def aclose(self) -> None:
        self.close()
