"""SQLite checkpointer: stdlib sqlite3 in WAL mode, one IMMEDIATE transaction per write.

Async methods run the sync ones in a worker thread (:class:`OffloadedSaver`), so the event loop
never blocks and there is no second driver to drift out of sync. Metadata is a JSON column, so
``list(filter=...)``, ``before`` and ``limit`` run inside SQLite. The SQL is in
:mod:`.statements`, the reads in :mod:`.fetch`, retention in :mod:`.prune`.
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

from ...checkpoint.config import matches, now, split_filter, target, validate_ns
from ...checkpoint.delta import empty_history
from ...checkpoint.saver import OffloadedSaver, SessionSaverBase
from ...checkpoint.writes import plan_writes
from ...errors import ConfigurationError
from .connections import SqliteConnections
from .fetch import assemble, chunks, delta_history, to_row
from .prune import keep_latest
from .statements import CheckpointStatements

__all__ = ["SqliteCheckpointSaver"]


class SqliteCheckpointSaver(OffloadedSaver, SessionSaverBase):
    """LangGraph checkpointer on a SQLite file.

    Built by ``store.checkpointer()`` it shares the store's connections (and so its ``:memory:``
    database); built with ``path=`` it opens and closes its own.
    """

    _sweeps = True

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
        with connections.connection() as conn:
            conn.executescript(self.sql.schema)

    def close(self) -> None:
        self._stop_sweeper()
        if self._owns_connections:
            self.connections.close()

    # -- threads (call inside the caller's connection or transaction) ------------------------------
    def _owner_filter(self) -> tuple[bool, str | None]:
        return (self.user_id is not None, self.user_id)

    def _thread_row(
        self, conn: sqlite3.Connection, thread_id: str, at: float
    ) -> tuple[str | None] | None:
        """(owner,) of a live thread; an expired one is deleted on the spot."""
        row = conn.execute(self.sql.thread_row, (thread_id,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= at:
            self._drop(conn, [thread_id])
            return None
        return (row[0],)

    def _drop(self, conn: sqlite3.Connection, thread_ids: Sequence[str]) -> None:
        ids = json.dumps(list(thread_ids))
        for statement in self.sql.drop_threads:
            conn.execute(statement, (ids,))

    def _claim(self, conn: sqlite3.Connection, thread_id: str, at: float, action: str) -> None:
        """Create or touch the thread row (owner stamp, sliding TTL), refusing other users' threads."""
        row = self._thread_row(conn, thread_id, at)
        if row is None:
            conn.execute(
                self.sql.insert_thread, (thread_id, self.user_id, at, at, self._expires(at))
            )
        elif not self._owns(row[0]):
            raise self._refuse(thread_id, action)
        else:
            conn.execute(self.sql.touch_thread, (at, self._expires(at), thread_id))

    def _refresh(self, conn: sqlite3.Connection, thread_ids: Sequence[str], at: float) -> None:
        """refresh_on_read: a read slides the expiry of the threads it returned."""
        if self.refresh_on_read and self.ttl is not None and thread_ids:
            ids = json.dumps(sorted(set(thread_ids)))
            conn.execute(self.sql.refresh_threads, (self._expires(at), ids))

    def _latest(
        self, conn: sqlite3.Connection, config: RunnableConfig, at: float
    ) -> tuple[Any, ...] | None:
        """The row ``config`` points at (its checkpoint, else the thread's newest)."""
        t = target(config)
        sql, params = self.sql.listing(
            thread_id=t.thread_id,
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
            before=None,
            owner=self._owner_filter(),
            pushed={},
            limit=1,
            at=at,
        )
        row = conn.execute(sql, params).fetchone()
        if row is not None:
            self._refresh(conn, [t.thread_id], at)
        return row

    # -- reads ---------------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self.connections.connection() as conn:
            row = self._latest(conn, config, now())
            if row is None:
                return None
            return assemble(conn, self.sql, self.serde, [to_row(row)], self._logs, cache=True)[0]

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
        thread_id = target(config).thread_id if config else None
        ns = conf.get("checkpoint_ns")
        if ns is not None:
            validate_ns(ns)
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        pushed, local = split_filter(filter)
        with self.connections.connection() as conn:
            at = now()
            sql, params = self.sql.listing(
                thread_id=thread_id,
                ns=ns,
                checkpoint_id=conf.get("checkpoint_id"),
                before=before_id,
                owner=self._owner_filter(),
                pushed=pushed,
                limit=None if local else limit,
                at=at,
            )
            rows = [to_row(r) for r in conn.execute(sql, params)]
            if local:
                rows = [r for r in rows if matches(json.loads(r.metadata), local)]
                if limit is not None:
                    rows = rows[: max(limit, 0)]
            self._refresh(conn, [r.thread_id for r in rows], at)
            out: list[CheckpointTuple] = []
            for chunk in chunks(rows, 500):
                out.extend(assemble(conn, self.sql, self.serde, chunk, self._logs, cache=False))
            return out

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain, in a bounded number of
        statements (see :func:`.fetch.delta_history`)."""
        if not channels:
            return {}
        t = target(config)
        with self.connections.connection() as conn:
            row = self._latest(conn, config, now())
            if row is None:
                return empty_history(channels)
            return delta_history(conn, self.sql, self.serde, t.thread_id, t.ns, row[3], channels)

    # -- writes --------------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        plan = self._plan(config, checkpoint, metadata, new_versions)
        s, tid, ns = self.sql, plan.thread_id, plan.ns
        with self.connections.transaction() as conn:
            self._claim(conn, tid, plan.ts, "write to")
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
                "thread_id": tid,
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
        rows = plan_writes(self.serde, writes, task_id, task_path)
        with self.connections.transaction() as conn:
            self._claim(conn, t.thread_id, now(), "write to")
            for statement, replace in (
                (self.sql.replace_write, True),
                (self.sql.insert_write, False),
            ):
                conn.executemany(
                    statement,
                    [
                        (t.thread_id, t.ns, t.checkpoint_id, w.task_id, w.idx, w.task_path)
                        + (w.channel, w.type, w.value)
                        for w in rows
                        if w.replace is replace
                    ],
                )

    def delete_thread(self, thread_id: str) -> None:
        with self.connections.transaction() as conn:
            row = self._thread_row(conn, thread_id, now())
            if row is not None and not self._owns(row[0]):
                raise self._refuse(thread_id, "delete")
            self._drop(conn, [thread_id])
        self._logs.drop_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        scoped, owner = self._owner_filter()
        with self.connections.transaction() as conn:
            doomed = conn.execute(
                self.sql.checkpoints_of_runs, (json.dumps(runs), not scoped, owner)
            ).fetchall()
            for statement in self.sql.delete_checkpoint:
                conn.executemany(statement, doomed)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        with self.connections.transaction() as conn:
            at = now()
            src = self._thread_row(conn, source_thread_id, at)
            if src is None:
                return
            if not self._owns(src[0]):
                raise self._refuse(source_thread_id, "copy")
            dst = self._thread_row(conn, target_thread_id, at)
            if dst is not None and not self._owns(dst[0]):
                raise self._refuse(target_thread_id, "overwrite")
            self._drop(conn, [target_thread_id])
            owner = src[0] if self.user_id is None else self.user_id
            conn.execute(
                self.sql.insert_thread, (target_thread_id, owner, at, at, self._expires(at))
            )
            for statement in self.sql.copy_rows:
                conn.execute(statement, (target_thread_id, source_thread_id))
        self._logs.drop_thread(target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            with self.connections.transaction() as conn:
                row = self._thread_row(conn, tid, now())
                if row is None:
                    continue
                if not self._owns(row[0]):
                    raise self._refuse(tid, "prune")
                keep_latest(conn, self.sql, self.serde, tid)
            self._logs.drop_thread(tid)

    # -- retention and introspection -----------------------------------------------------------------
    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, checkpoint count and stored bytes of a visible thread, else None."""
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.thread_info, (thread_id,)).fetchone()
            if row is None or not self._owns(row[0]) or (row[3] is not None and row[3] <= now()):
                return None
            count, total = conn.execute(self.sql.thread_size, (thread_id,)).fetchone()
        return {
            "thread_id": thread_id,
            "owner": row[0],
            "created_at": row[1],
            "updated_at": row[2],
            "expires_at": row[3],
            "checkpoints": count,
            "bytes": total,
        }

    def purge_expired(self) -> int:
        """Delete every expired thread (all its rows); returns how many. Run it periodically."""
        with self.connections.transaction() as conn:
            gone = [r[0] for r in conn.execute(self.sql.expired_threads, (now(),))]
            self._drop(conn, gone)
        return len(gone)
