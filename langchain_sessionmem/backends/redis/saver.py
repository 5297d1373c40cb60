"""Redis checkpointer on plain Redis / Valkey (no modules), Redis Cluster safe.

A thread is ``(owner, thread_id)``: its hash tag is ``checkpoint.config.thread_key(owner,
thread_id)``, so bob's ``t-1`` and alice's ``t-1`` are two threads and no error or listing reveals
the other's. Every key of a thread carries that tag, so each ``put`` / ``put_writes`` is one Lua
script on one slot: atomic, and one round trip. Listing walks a per-thread lexicographic sorted
set of ``ns\\0checkpoint_id`` (newest first, ``before`` as a range bound); metadata filters run in
the script with ``cjson``. No KEYS, no SCAN, no MODULE commands. With a TTL every key of the
thread gets the same ``PEXPIRE`` on each write (sliding), so a thread expires as a whole.

Keys (``P`` = namespace, ``{T}`` = the thread's tag, ``{O}`` = the owner's tag ``{o=<owner>}``)::

    P:cp:{T}:m   hash   created, updated, tid, log:<id> -> log length
    P:cp:{T}:i   zset   "ns\\0cid" (score 0, lexicographic)
    P:cp:{T}:c   hash   "ns\\0cid" -> msgpack [parent_id, type, checkpoint bytes, run_id]
    P:cp:{T}:d   hash   "ns\\0cid" -> metadata JSON
    P:cp:{T}:b   hash   "ns\\0channel\\0version" -> "type\\0bytes"
    P:cp:{T}:w   hash   "ns\\0cid\\0task\\0idx" -> msgpack [task_path, channel, type, bytes]
    P:cp:{T}:wz  zset   the same write fields, to range them per checkpoint
    P:cp:{T}:l   hash   "log_id\\0seq" -> "type\\0bytes"   (append-only message logs)
    P:cp:{T}:r   zset   "run_id\\0ns\\0cid" (delete_for_runs)
    P:cp:{T}:runs set   run ids of the thread (not expired: lets cleanup find them after expiry)
    P:cp:{O}:threads    zset of the owner's thread ids (list(None), list_threads, erase)
    P:cp:{O}:run:<R>    set of the owner's thread ids holding checkpoints of run R

Erase (:meth:`delete_user_threads`) deletes these keys; the bytes may survive in the server's
AOF / RDB files until they are rewritten, which is the operator's (``BGREWRITEAOF``, new
snapshots, backups' retention).
"""

from __future__ import annotations

import builtins  # `list` is a method name of the saver: annotations after it say builtins.list
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..._steps import adrive, drive
from ...checkpoint.config import thread_key
from ...checkpoint.saver import SessionSaverBase
from ...checkpoint.values import ValueCodec
from ...crypto import Keyring
from ...errors import ConfigurationError
from ...records import ThreadInfo
from .connections import RedisConnections
from .keys import ThreadKeys
from .saver_steps import SaverSteps
from .thread_steps import ThreadSteps

__all__ = ["RedisCheckpointSaver"]

T = TypeVar("T")


class RedisCheckpointSaver(ThreadSteps, SessionSaverBase):
    """LangGraph checkpointer on plain Redis or Redis Cluster, sync and async.

    Pass ``client`` (``redis.Redis`` / ``redis.cluster.RedisCluster``, ``decode_responses=False``)
    and/or ``aclient`` (the ``redis.asyncio`` twin), or build it with :meth:`from_conn_string`.
    ``user_id`` scopes it: every thread it reads or writes is that user's (``None``: anonymous).
    """

    _keyed = True  # threads are stored under (owner, thread_id) keys

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
                    "RedisCheckpointSaver needs client= and/or aclient= (or a store's connections): "
                    "or use RedisCheckpointSaver.from_conn_string('redis://host:6379/0')"
                )
            connections = RedisConnections(client=client, aclient=aclient)
        self.connections = connections
        self._keys: ThreadKeys | None = None
        self._registered: dict[str, set[str]] = {}

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, **options: Any) -> Iterator[RedisCheckpointSaver]:
        """A saver on its own connections to ``conn_string`` (``redis://``, ``rediss://``,
        ``redis+cluster://``, ``unix://``), closed on exit; as LangGraph's savers offer it."""
        connections = RedisConnections(conn_string)
        saver = cls(connections, **options)
        try:
            yield saver
        finally:
            saver.close()
            connections.close()

    def setup(self) -> None:
        """Nothing to create on Redis (no schema); here for LangGraph's saver interface."""

    async def asetup(self) -> None:
        """Nothing to create on Redis."""

    @property
    def keys(self) -> ThreadKeys:
        """Key names of this saver's owner (for tests and tools that inspect the raw keys)."""
        if self._keys is None or self._keys.owner != self.user_id:
            self._keys = ThreadKeys(self.namespace, self.user_id, thread_key)
        return self._keys

    @property
    def client(self) -> Any:
        """The sync client (for tests and tools that inspect the raw keys)."""
        return self.connections.client

    async def _acodec(self) -> ValueCodec:
        """:meth:`_codec` without blocking the loop: a store's per-user key is fetched async."""
        enc = self.encryption
        if enc is not None and not isinstance(enc, Keyring) and hasattr(enc, "asealer"):
            return ValueCodec(self.serde, await enc.asealer(self.user_id))
        return self._codec()

    def _drive(self, steps: SaverSteps[T]) -> T:
        return drive(steps, self.connections.send)

    async def _adrive(self, steps: SaverSteps[T]) -> T:
        return await adrive(steps, self.connections.asend)

    # -- sync and async entry points ----------------------------------------------------------
    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain: two scripts per 200 ancestors."""
        return self._drive(self._history_steps(self._codec(), config, channels))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._drive(self._get_tuple_steps(self._codec(), config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints of one thread, or with ``config=None`` of every thread of the owner."""
        yield from self._drive(self._list_steps(self._codec(), config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._drive(
            self._put_steps(self._codec(), config, checkpoint, metadata, new_versions)
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._drive(self._put_writes_steps(self._codec(), config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._drive(self._delete_thread_steps(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._drive(self._delete_for_runs_steps(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._drive(self._copy_thread_steps(self._codec(), source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._drive(self._prune_steps(self._codec(), thread_ids, strategy))

    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, TTL, checkpoint count and memory used by one of the owner's threads."""
        return self._drive(self._thread_info_steps(thread_id))

    def list_threads(self) -> builtins.list[ThreadInfo]:
        """The owner's threads, most recently updated first."""
        return self._drive(self._list_threads_steps())

    def delete_user_threads(self) -> int:
        """Erase every thread of the owner (all its keys and index entries); returns how many."""
        return self._drive(self._delete_user_threads_steps())

    def purge_expired(self) -> int:
        """Native expiry removes the data; this drops the owner's expired threads from its indexes."""
        return self._drive(self._purge_expired_steps())

    def close(self) -> None:
        """Stop the sweeper; the connections belong to the store (or the caller's clients)."""
        self._stop_sweeper()

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return await self._adrive(self._history_steps(await self._acodec(), config, channels))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._adrive(self._get_tuple_steps(await self._acodec(), config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        codec = await self._acodec()
        for item in await self._adrive(self._list_steps(codec, config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        codec = await self._acodec()
        return await self._adrive(
            self._put_steps(codec, config, checkpoint, metadata, new_versions)
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        codec = await self._acodec()
        await self._adrive(self._put_writes_steps(codec, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._adrive(self._delete_thread_steps(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._adrive(self._delete_for_runs_steps(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        codec = await self._acodec()
        await self._adrive(self._copy_thread_steps(codec, source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._adrive(self._prune_steps(await self._acodec(), thread_ids, strategy))

    async def athread_info(self, thread_id: str) -> dict[str, Any] | None:
        return await self._adrive(self._thread_info_steps(thread_id))

    async def alist_threads(self) -> builtins.list[ThreadInfo]:
        return await self._adrive(self._list_threads_steps())

    async def adelete_user_threads(self) -> int:
        return await self._adrive(self._delete_user_threads_steps())

    async def apurge_expired(self) -> int:
        return await self._adrive(self._purge_expired_steps())

    async def aclose(self) -> None:
        self.close()
