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
from ...checkpoint.config import now
from ...checkpoint.saver import SessionSaverBase
from ...errors import ConfigurationError
from .connections import Cmd, RedisConnections
from .keys import ThreadKeys
from .saver_steps import RedisSaverSteps, SaverSteps

__all__ = ["RedisCheckpointSaver"]

T = TypeVar("T")


class RedisCheckpointSaver(RedisSaverSteps, SessionSaverBase):
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

    def _drive(self, steps: SaverSteps[T]) -> T:
        return drive(steps, self.connections.send)

    async def _adrive(self, steps: SaverSteps[T]) -> T:
        return await adrive(steps, self.connections.asend)

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
