"""SQLite checkpointer: stdlib sqlite3 in WAL mode, one IMMEDIATE transaction per write.

Async methods run the sync ones on the database's lane (:class:`OffloadedSaver`, :mod:`.lane`), so
the event loop never blocks and there is no second driver to drift out of sync. Metadata is a JSON column, so
``list(filter=...)``, ``before`` and ``limit`` run inside SQLite. The SQL is in
:mod:`.statements`, the reads in :mod:`.fetch`, whole-thread operations in :mod:`.threads`.
"""

from __future__ import annotations

import builtins  # `list` is a method name inside the savers: annotations after it say builtins.list
import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ...checkpoint.config import decode_metadata, list_query, matches, target, thread_key
from ...checkpoint.delta import empty_history
from ...checkpoint.saver import OffloadedSaver, SaverContext, SessionSaverBase
from ...checkpoint.writes import plan_writes
from ...errors import ConfigurationError
from .connections import SqliteConnections, database_path
from .fetch import assemble, chunks, delta_history, to_row
from .lane import Lane
from .statements import CheckpointStatements
from .threads import ThreadAdmin

__all__ = ["SqliteCheckpointSaver"]


class SqliteCheckpointSaver(OffloadedSaver, ThreadAdmin, SessionSaverBase):
    """LangGraph checkpointer on a SQLite file.

    Built by ``store.checkpointer()`` it shares the store's connections (and so its ``:memory:``
    database); built with ``path=`` it opens and closes its own. The ``thread_id`` columns hold
    ``thread_key(owner, thread_id)``, so two users' threads of one id are two threads.
    """

    _sweeps = True
    _keyed = True
    SCHEMA_VERSION = "2"  # 2: thread ids stored as (owner, thread_id) keys

    def __init__(
        self,
        *,
        connections: SqliteConnections | None = None,
        path: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if connections is None:
            if path is None:
                raise ConfigurationError(
                    "SqliteCheckpointSaver needs path= (or the connections of a store)"
                )
            connections = SqliteConnections(path)
            self._owns_connections = True
        else:
            self._owns_connections = False  # the store's: it closes them
        self.connections = connections
        self.path = connections.path
        self.sql = CheckpointStatements(self.namespace)
        self.setup()

    @classmethod
    def from_conn_string(cls, conn_string: str, **options: Any) -> SaverContext:
        """``with SqliteCheckpointSaver.from_conn_string("checkpoints.db") as saver:`` (or
        ``async with``), as LangGraph's ``SqliteSaver``: a saver on its own connections to a path,
        ``":memory:"`` or a ``sqlite:///`` URL, closed when the block ends."""
        path = database_path(conn_string) if conn_string.startswith("sqlite:") else conn_string
        return SaverContext(lambda: cls(path=path, **options))

    def setup(self) -> None:
        """Create the tables if needed and bring older ones up to date (idempotent).

        Tables written before threads belonged to users held raw thread ids: their rows move to
        ``thread_key(owner, thread_id)``, so every existing thread stays its owner's.
        """
        with self.connections.connection() as conn:
            conn.executescript(self.sql.schema)
            if self._version(conn) == self.SCHEMA_VERSION:
                return
        with self.connections.transaction() as conn:
            if self._version(conn) == self.SCHEMA_VERSION:
                return  # another process got there first
            if conn.execute(self.sql.any_thread).fetchone() is not None:
                conn.create_function("sessionmem_thread_key", 2, thread_key, deterministic=True)
                for statement in self.sql.key_threads:
                    conn.execute(statement)
            conn.execute(self.sql.set_meta, ("schema", self.SCHEMA_VERSION))

    def _version(self, conn: sqlite3.Connection) -> str | None:
        row = conn.execute(self.sql.get_meta, ("schema",)).fetchone()
        return None if row is None else row[0]

    def _offload_lane(self) -> Lane:
        """Async methods run on the database's lane, beside the chat histories' calls."""
        return self.connections.lane()

    def close(self) -> None:
        self._stop_sweeper()
        if self._owns_connections:
            self.connections.close()

    # -- threads (call inside the caller's connection or transaction) ------------------------------
    def _claim(self, conn: sqlite3.Connection, key: str, at: float) -> None:
        """Create or touch the owner's thread row (sliding TTL)."""
        if self._live(conn, key, at):
            conn.execute(self.sql.touch_thread, (at, self._expires(at), key))
        else:
            conn.execute(self.sql.insert_thread, (key, self.user_id, at, at, self._expires(at)))

    def _refresh(self, conn: sqlite3.Connection, keys: Sequence[str], at: float) -> None:
        """refresh_on_read: a read slides the expiry of the threads it returned."""
        if self.refresh_on_read and self.ttl is not None and keys:
            conn.execute(
                self.sql.refresh_threads, (self._expires(at), json.dumps(sorted(set(keys))))
            )

    def _latest(
        self, conn: sqlite3.Connection, config: RunnableConfig, at: float
    ) -> tuple[Any, ...] | None:
        """The row ``config`` points at (its checkpoint, else the thread's newest)."""
        t = target(config)
        key = self._key(t.thread_id)
        sql, params = self.sql.listing(
            thread_id=key,
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
            before=None,
            owner=self.user_id,
            pushed={},
            limit=1,
            at=at,
        )
        row = conn.execute(sql, params).fetchone()
        if row is not None:
            self._refresh(conn, [key], at)
        return row

    def _assemble(
        self, conn: sqlite3.Connection, rows: builtins.list[Any], cache: bool
    ) -> builtins.list[CheckpointTuple]:
        return assemble(conn, self.sql, self._codec(), rows, self._logs, cache, self._public)

    # -- reads ---------------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self.connections.connection() as conn:
            row = self._latest(conn, config, self.clock())
            if row is None:
                return None
            return self._assemble(conn, [to_row(row)], cache=True)[0]

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
        with self.connections.connection() as conn:
            at = self.clock()
            sql, params = self.sql.listing(
                thread_id=None if q.thread_id is None else self._key(q.thread_id),
                ns=q.ns,
                checkpoint_id=q.checkpoint_id,
                before=q.before,
                owner=self.user_id,
                pushed=q.pushed,
                limit=None if q.local else q.limit,
                at=at,
            )
            rows = [to_row(r) for r in conn.execute(sql, params)]
            if q.local:
                shown = self._public
                rows = [
                    r
                    for r in rows
                    if matches(decode_metadata(r.metadata, shown(r.thread_id)), q.local)
                ]
                rows = rows if q.limit is None else rows[: q.limit]
            self._refresh(conn, [r.thread_id for r in rows], at)
            out: list[CheckpointTuple] = []
            for chunk in chunks(rows, 500):
                out.extend(self._assemble(conn, chunk, cache=False))
            return out

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain, in a bounded number of
        statements (see :func:`.fetch.delta_history`)."""
        channels = self._channels(channels)
        if not channels:
            return {}
        t = target(config)
        with self.connections.connection() as conn:
            row = self._latest(conn, config, self.clock())
            if row is None:
                return empty_history(channels)
            return delta_history(
                conn, self.sql, self._codec(), row[0], t.ns, row[3], channels, t.thread_id
            )

    # -- writes --------------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        plan = self._plan(config, checkpoint, metadata, new_versions)
        s, tid, ns = self.sql, plan.key, plan.ns
        with self.connections.transaction() as conn:
            self._claim(conn, tid, plan.ts)
            for channel, app in list(plan.appends.items()):
                (length,) = conn.execute(s.log_length, (tid, ns, app.log_id)).fetchone()
                if length != app.start:
                    plan.rebase(channel)
            conn.executemany(
                s.insert_log_item,
                [
                    (tid, ns, app.log_id, app.start + i, typ, data)
                    for app in plan.appends.values()
                    for i, (typ, data) in enumerate(app.items)
                ],
            )
            conn.executemany(
                s.upsert_blob,
                [(tid, ns, ch, ver, typ, data) for (ch, ver), (typ, data) in plan.blobs.items()],
            )
            conn.execute(
                s.upsert_checkpoint,
                (
                    tid,
                    ns,
                    plan.checkpoint_id,
                    plan.parent_id,
                    *plan.ckpt,
                    plan.metadata,
                    plan.run_id,
                ),
            )
        plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": ns,
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
        with self.connections.transaction() as conn:
            self._claim(conn, key, self.clock())
            for statement, replace in (
                (self.sql.replace_write, True),
                (self.sql.insert_write, False),
            ):
                conn.executemany(
                    statement,
                    [
                        (key, t.ns, t.checkpoint_id, w.task_id, w.idx, w.task_path)
                        + (w.channel, w.type, w.value)
                        for w in rows
                        if w.replace is replace
                    ],
                )
