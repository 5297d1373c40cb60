"""Embedded engine on stdlib sqlite3 (connections: :mod:`.sqlite_connections`).

Reads of the last K messages are one indexed query on (session, seq); a batch append is one
``BEGIN IMMEDIATE`` transaction, so concurrent writers from threads or processes queue instead of
failing with ``database is locked``. Async methods run in worker threads so the loop never blocks.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ...records import (
    EncodedMessage,
    Record,
    SessionInfo,
    SessionKey,
    to_datetime,
    to_optional_datetime,
    unique_new,
)
from ..base import OffloadedEngine, sql_params, stored_user
from .connections import SqliteConnections
from .statements import SessionStatements


class SqliteEngine(OffloadedEngine):
    kind = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
        busy_timeout: float = 30.0,
    ):
        self.path = path
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self.sql = SessionStatements(namespace)
        self.connections = SqliteConnections(path, busy_timeout=busy_timeout)
        with self.connections.connection() as conn:
            conn.executescript(self.sql.schema)

    def _touch(
        self, conn: sqlite3.Connection, key: SessionKey, now: float, added: int = 0
    ) -> tuple[int, int]:
        """Start the session afresh if it expired, then create or refresh it; returns (pk, count)."""
        conn.execute(self.sql.drop_expired_one, sql_params(key, now=now))
        expires = None if self.ttl is None else now + self.ttl
        return conn.execute(
            self.sql.touch, sql_params(key, now=now, expires=expires, n=added)
        ).fetchone()

    @contextmanager
    def _reading(self, key: SessionKey) -> Iterator[tuple[sqlite3.Connection, float]]:
        """A connection for a read of ``key``; with refresh_on_read the session's expiry slides first."""
        now = time.time()
        with self.connections.connection() as conn:
            if self.refresh_on_read and self.ttl is not None:
                conn.execute(self.sql.refresh, sql_params(key, now=now, expires=now + self.ttl))
            yield conn, now

    # -- messages --------------------------------------------------------------------------
    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        with self.connections.transaction() as conn:
            now = time.time()
            fresh = list(messages)
            if not all(m.generated for m in messages):  # ids made by this call need no lookup
                ids = {f"id{i}": m.id for i, m in enumerate(messages)}
                marks = ",".join(f":{name}" for name in ids)
                rows = conn.execute(
                    self.sql.known_ids.format(marks=marks), sql_params(key, now=now, **ids)
                )
                fresh = unique_new(messages, {row[0] for row in rows})
            pk, count = self._touch(conn, key, now, len(fresh))
            first = count - len(fresh)
            conn.executemany(
                self.sql.insert_message,
                [(pk, first + i + 1, m.id, m.data) for i, m in enumerate(fresh)],
            )
            return len(fresh)

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        with self._reading(key) as (conn, now):
            rows = conn.execute(
                self.sql.tail, sql_params(key, now=now, k=-1 if k is None else k)
            ).fetchall()
        rows.reverse()
        return rows

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        with self._reading(key) as (conn, now):
            params = sql_params(key, now=now, start=start, end=2**62 if end is None else end)
            return conn.execute(self.sql.range, params).fetchall()

    def count(self, key: SessionKey) -> int:
        with self._reading(key) as (conn, now):
            row = conn.execute(self.sql.count, sql_params(key, now=now)).fetchone()
        return 0 if row is None else row[0]

    # -- state -----------------------------------------------------------------------------
    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        with self._reading(key) as (conn, now):
            row = conn.execute(self.sql.get_state, sql_params(key, now=now)).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        try:
            with self.connections.transaction() as conn:
                pk, _ = self._touch(conn, key, time.time())
                updated = conn.execute(
                    self.sql.cas_state, {"pk": pk, "data": data, "expected": expected_version}
                )
                if updated.rowcount != 1:
                    raise _Lost  # rolls the touch back too
        except _Lost:
            return False
        return True

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.get_user_state, {"user": user_id}).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        sql = self.sql.create_user_state if expected_version == 0 else self.sql.cas_user_state
        params = {"user": user_id, "data": data, "expected": expected_version}
        with self.connections.connection() as conn:
            return conn.execute(sql, params).rowcount == 1

    # -- sessions --------------------------------------------------------------------------
    def delete_session(self, key: SessionKey) -> bool:
        with self.connections.transaction() as conn:
            return any(
                live
                for (live,) in conn.execute(
                    self.sql.delete_session, sql_params(key, now=time.time())
                )
            )

    def list_sessions(self, user_id: str | None) -> list[SessionInfo]:
        params = {"user": stored_user(user_id), "now": time.time()}
        with self.connections.connection() as conn:
            rows = conn.execute(self.sql.list_sessions, params).fetchall()
        return [
            SessionInfo(
                sid,
                user_id,
                to_datetime(created),
                to_datetime(updated),
                count,
                to_optional_datetime(expires),
            )
            for sid, created, updated, count, expires in rows
        ]

    def get_user_key(self, user_id: str) -> bytes | None:
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.get_user_key, {"user": user_id}).fetchone()
        return None if row is None else bytes(row[0])

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        with self.connections.transaction() as conn:
            conn.execute(self.sql.create_user_key, {"user": user_id, "wrapped": wrapped})
            return bytes(conn.execute(self.sql.get_user_key, {"user": user_id}).fetchone()[0])

    def delete_user(self, user_id: str | None) -> int:
        """Erase the user's sessions, state and data key, then truncate the WAL.

        Connections run with ``secure_delete``, so the freed pages are zeroed in place; the WAL
        checkpoint moves those pages into the file and empties the WAL, so no erased text stays in
        either (what the filesystem or a backup kept is outside SQLite's reach).
        """
        params = {"user": stored_user(user_id), "now": time.time()}
        with self.connections.transaction() as conn:
            conn.execute(self.sql.delete_user_state, params)
            conn.execute(self.sql.delete_user_key, params)
            deleted = sum(live for (live,) in conn.execute(self.sql.delete_user, params))
        self.connections.truncate_wal()
        return deleted

    def purge_expired(self) -> int:
        with self.connections.transaction() as conn:
            return conn.execute(self.sql.purge_expired, {"now": time.time()}).rowcount

    def close(self) -> None:
        self.connections.close()


class _Lost(Exception):
    """A compare-and-set found another version; raised inside the transaction to roll it back."""
