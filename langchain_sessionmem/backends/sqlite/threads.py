"""Thread management on the SQLite saver: delete, copy, prune, runs, listing, erase, expiry.

A mixin of :class:`~.saver.SqliteCheckpointSaver` (which holds ``sql``, ``connections`` and the
shared saver state); every method acts on the saver's owner's threads only, except
:meth:`ThreadAdmin.purge_expired` (maintenance).
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from ...records import ThreadInfo
from ..args import to_datetime_checked
from .prune import keep_latest
from .reseal import copy_resealed

logger = logging.getLogger(__name__)


class ThreadAdmin:
    """What a saver does to whole threads (``self`` is a ``SqliteCheckpointSaver``)."""

    sql: Any
    connections: Any
    clock: Any
    user_id: str | None
    _logs: Any

    def _live(self, conn: sqlite3.Connection, key: str, at: float) -> bool:
        """Whether the thread stored under ``key`` is live; an expired one is deleted on the spot."""
        row = conn.execute(self.sql.thread_row, (key,)).fetchone()
        if row is not None and row[1] is not None and row[1] <= at:
            self._drop(conn, [key])
            return False
        return row is not None

    def _drop(self, conn: sqlite3.Connection, keys: Sequence[str]) -> None:
        ids = json.dumps(list(keys))
        for statement in self.sql.drop_threads:
            conn.execute(statement, (ids,))

    def delete_thread(self, thread_id: str) -> None:
        key = self._key(self._thread_ids([thread_id])[0])
        with self.connections.transaction() as conn:
            self._drop(conn, [key])
        self._logs.drop_thread(key)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = self._run_ids(run_ids)
        if not runs:
            return
        with self.connections.transaction() as conn:
            doomed = conn.execute(
                self.sql.checkpoints_of_runs, (json.dumps(runs), self.user_id)
            ).fetchall()
            for statement in self.sql.delete_checkpoint:
                conn.executemany(statement, doomed)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src, dst = (self._key(t) for t in self._thread_ids([source_thread_id, target_thread_id]))
        codec = self._codec()
        with self.connections.transaction() as conn:
            at = self.clock()
            if not self._live(conn, src, at):
                return
            self._drop(conn, [dst])
            conn.execute(self.sql.insert_thread, (dst, self.user_id, at, at, self._expires(at)))
            if codec.sealing:
                copy_resealed(conn, self.sql, codec, src, dst, target_thread_id)
            else:
                for statement in self.sql.copy_rows:
                    conn.execute(statement, (dst, src))
        self._logs.drop_thread(dst)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            key, codec = self._key(tid), self._codec()
            with self.connections.transaction() as conn:
                if self._live(conn, key, self.clock()):
                    keep_latest(conn, self.sql, codec, key)
            self._logs.drop_thread(key)

    # -- retention and introspection -----------------------------------------------------------------
    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, checkpoint count and stored bytes of one of the owner's threads."""
        key = self._key(self._thread_ids([thread_id])[0])
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.thread_info, (key,)).fetchone()
            if row is None or (row[3] is not None and row[3] <= self.clock()):
                return None
            count, total = conn.execute(self.sql.thread_size, (key,)).fetchone()
        return {
            "thread_id": thread_id,
            "owner": row[0],
            "created_at": row[1],
            "updated_at": row[2],
            "expires_at": row[3],
            "checkpoints": count,
            "bytes": total,
        }

    def list_threads(self) -> builtins.list[ThreadInfo]:
        """The owner's live threads, newest first; a row damaged by hand is skipped (logged)."""
        with self.connections.connection() as conn:
            rows = conn.execute(self.sql.owner_threads, (self.user_id, self.clock())).fetchall()
        infos = []
        for key, created, updated, expires, count in rows:
            try:
                infos.append(
                    ThreadInfo(
                        self._public(key),
                        self.user_id,
                        to_datetime_checked(created),
                        to_datetime_checked(updated),
                        None if expires is None else to_datetime_checked(expires),
                        count,
                    )
                )
            except ValueError as exc:
                logger.warning("skipping the damaged thread %r: %s", self._public(key), exc)
        return infos

    def delete_user_threads(self) -> int:
        """Delete every thread of the owner, then truncate the WAL (freed pages are zeroed by
        ``secure_delete``), so none of the erased checkpoints stays in the file or its WAL."""
        with self.connections.transaction() as conn:
            at = self.clock()
            rows = conn.execute(self.sql.all_owner_threads, (self.user_id,)).fetchall()
            self._drop(conn, [key for key, _ in rows])
        self.connections.truncate_wal()
        for key, _ in rows:
            self._logs.drop_thread(key)
        return sum(expires is None or expires > at for _, expires in rows)

    def purge_expired(self) -> int:
        """Delete every expired thread (all its rows); returns how many. Run it periodically."""
        with self.connections.transaction() as conn:
            gone = [r[0] for r in conn.execute(self.sql.expired_threads, (self.clock(),))]
            self._drop(conn, gone)
        return len(gone)
