"""PostgreSQL checkpointer: real sync and async methods over the backend's psycopg pools.

Each operation is written once, as plans of statements (:mod:`.checkpoint_reads`,
:mod:`.checkpoint_writes`) driven on a pooled connection by ``connections.run`` (sync) or
``connections.arun`` (async). Appended message lists are stored once, in per-thread logs; metadata
is JSONB so ``list(filter=...)``, ``before`` and ``limit`` run in SQL. Threads belong to users
(``thread_key``), expire with a sliding TTL (``TTLConfig`` names, an index on the expiry, a sweep
statement), and the schema is versioned (``setup()`` applies the missing migrations under an
advisory lock). Erase: rows are deleted; reclaiming their pages (VACUUM) is the operator's.
"""

from __future__ import annotations

import builtins  # `list` is a method name of savers: annotations after it say builtins.list
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..._steps import Steps, adrive, drive
from ...checkpoint.saver import SessionSaverBase
from ...checkpoint.values import ValueCodec
from ...crypto import Keyring
from ...errors import ConfigurationError
from ...ids import validate_id
from ...records import ThreadInfo
from .. import normalize_url
from .checkpoint_statements import CheckpointStatements
from .checkpoint_writes import CheckpointWrites
from .connections import PostgresConnections
from .inline import EntryCache
from .migrations import CHECKPOINT, MigrationPlans
from .queries import Plan, Run

__all__ = ["PostgresCheckpointSaver"]

T = TypeVar("T")


class PostgresCheckpointSaver(CheckpointWrites, SessionSaverBase):
    """LangGraph checkpointer on PostgreSQL, sync and async.

    Built by ``store.checkpointer()`` it shares the store's connections; or give it a conninfo
    (``conninfo=`` / :meth:`from_conn_string`) or your own ``psycopg_pool`` pools (``pool=``,
    ``apool=``, never closed here). ``clock`` (epoch seconds) drives the TTL.
    """

    _sweeps = True  # expired rows stay until purge_expired() (or the sweep statement) runs
    _keyed = True  # threads are rows found by thread_key(owner, thread_id)

    def __init__(
        self,
        connections: PostgresConnections | None = None,
        *,
        conninfo: str | None = None,
        pool: Any = None,
        apool: Any = None,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        self._clock_fn = clock
        super().__init__(**options)
        self._owns_connections = connections is None
        if connections is None:
            if conninfo is None and pool is None and apool is None:
                raise ConfigurationError(
                    "PostgresCheckpointSaver needs conninfo= (postgresql://...), pool= / apool= "
                    "(psycopg_pool pools) or a store's connections"
                )
            connections = PostgresConnections(conninfo, pool=pool, apool=apool)
        self.connections = connections
        self.sql = CheckpointStatements(self.namespace)
        self._entries = EntryCache()
        self.migrations = MigrationPlans(self.namespace, "checkpoint", CHECKPOINT)

    @classmethod
    def from_conn_string(cls, conn_string: str, **options: Any) -> _Opened:
        """``with PostgresCheckpointSaver.from_conn_string(url) as saver:`` (or ``async with``):
        a saver on its own pools, closed at the end of the block (LangGraph's habit)."""
        return _Opened(cls(conninfo=normalize_url(conn_string), **options))

    def _clock(self) -> float:
        return self._clock_fn()

    async def _acodec(self) -> ValueCodec:
        """:meth:`_codec` without blocking the loop: a store's per-user key is fetched async."""
        enc = self.encryption
        if enc is not None and not isinstance(enc, Keyring) and hasattr(enc, "asealer"):
            return ValueCodec(self.serde, await enc.asealer(self.user_id))
        return self._codec()

    # -- drivers -------------------------------------------------------------------------------
    def _run(self, plan: Plan[T], write: bool = False) -> T:
        return self.connections.run(plan, write=write, schema=self.migrations)

    async def _arun(self, plan: Plan[T], write: bool = False) -> T:
        return await self.connections.arun(plan, write=write, schema=self.migrations)

    def _send(self, run: Run) -> Any:
        return self._run(run.plan, write=run.write)

    async def _asend(self, run: Run) -> Any:
        return await self._arun(run.plan, write=run.write)

    def _drive(self, steps: Steps[Run, T]) -> T:
        return drive(steps, self._send)

    async def _adrive(self, steps: Steps[Run, T]) -> T:
        return await adrive(steps, self._asend)

    # -- schema --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create or migrate the tables now (idempotent; otherwise done before the first call)."""
        self.connections.set_up(self.migrations)

    async def asetup(self) -> None:
        await self.connections.aset_up(self.migrations)

    @property
    def sweep_sql(self) -> str:
        """The TTL sweep as one statement, for an operator's scheduler (``pg_cron``, cron + psql)."""
        return self.sql.sweep_sql

    # -- sync -------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._get_tuple_plan(self._codec(), config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._run(self._list_plan(self._codec(), config, filter, before, limit))

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

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return self._run(self._history_plan(self._codec(), config, channels))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._delete_thread_plan(validate_id(thread_id, "thread_id")))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._delete_for_runs_plan(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src, dst = self._thread_ids([source_thread_id, target_thread_id])
        self._run(self._copy_thread_plan(self._codec(), src, dst), write=True)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self._run(self._delete_thread_plan(tid))
            else:
                self._run(self._prune_plan(self._codec(), tid), write=True)

    def list_threads(self) -> builtins.list[ThreadInfo]:
        """The owner's live threads, most recently updated first."""
        return self._run(self._list_threads_plan())

    def delete_user_threads(self) -> int:
        """Delete every thread of the owner (all its rows); returns how many live threads."""
        return self._run(self._delete_user_threads_plan())

    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        return self._run(self._thread_info_plan(validate_id(thread_id, "thread_id")))

    def purge_expired(self) -> int:
        """Delete every expired thread (every owner's); returns how many. Schedule it, or
        :attr:`sweep_sql`, or pass ``ttl={"sweep_interval_minutes": ...}`` for a sweeper thread."""
        return self._run(self._purge_expired_plan())

    def close(self) -> None:
        """Stop the sweeper; close the pools this saver made (a store's stay the store's)."""
        self._stop_sweeper()
        if self._owns_connections and self._core is None:
            self.connections.close()

    # -- async ------------------------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._get_tuple_plan(await self._acodec(), config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in await self._arun(
            self._list_plan(await self._acodec(), config, filter, before, limit)
        ):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._adrive(
            self._put_steps(await self._acodec(), config, checkpoint, metadata, new_versions)
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._adrive(
            self._put_writes_steps(await self._acodec(), config, writes, task_id, task_path)
        )

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return await self._arun(self._history_plan(await self._acodec(), config, channels))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._delete_thread_plan(validate_id(thread_id, "thread_id")))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._delete_for_runs_plan(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src, dst = self._thread_ids([source_thread_id, target_thread_id])
        await self._arun(self._copy_thread_plan(await self._acodec(), src, dst), write=True)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                await self._arun(self._delete_thread_plan(tid))
            else:
                await self._arun(self._prune_plan(await self._acodec(), tid), write=True)

    async def alist_threads(self) -> builtins.list[ThreadInfo]:
        return await self._arun(self._list_threads_plan())

    async def adelete_user_threads(self) -> int:
        return await self._arun(self._delete_user_threads_plan())

    async def athread_info(self, thread_id: str) -> dict[str, Any] | None:
        return await self._arun(self._thread_info_plan(validate_id(thread_id, "thread_id")))

    async def apurge_expired(self) -> int:
        return await self._arun(self._purge_expired_plan())

    async def aclose(self) -> None:
        self._stop_sweeper()
        if self._owns_connections and self._core is None:
            await self.connections.aclose()


class _Opened:
    """The context manager of :meth:`PostgresCheckpointSaver.from_conn_string` (sync or async)."""

    def __init__(self, saver: PostgresCheckpointSaver):
        self.saver = saver

    def __enter__(self) -> PostgresCheckpointSaver:
        return self.saver

    def __exit__(self, *exc: object) -> None:
        self.saver.close()

    async def __aenter__(self) -> PostgresCheckpointSaver:
        return self.saver

    async def __aexit__(self, *exc: object) -> None:
        await self.saver.aclose()
