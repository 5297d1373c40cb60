"""Embedded engine on stdlib sqlite3 (connections: :mod:`.connections`, SQL: :mod:`.statements`).

Reads of the last K messages are one indexed query on (session, seq); a batch append is one
``BEGIN IMMEDIATE`` transaction, so concurrent writers from threads or processes queue instead of
failing with ``database is locked``. Async methods run on the database's lane (a thread of its
own, :mod:`.lane`) so the loop never blocks; appends queued there together commit together.
TTL reads the injectable ``clock`` (epoch seconds), so tests move time instead of sleeping.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence

from ...records import EncodedMessage, Record, SessionInfo, SessionKey, unique_new
from ..args import (
    check_bytes,
    check_int,
    check_key,
    check_messages,
    check_page,
    check_user,
    decode_cursor,
    encode_cursor,
    to_datetime_checked,
)
from ..base import OffloadedEngine, sql_params, stored_user
from .connections import SqliteConnections
from .lane import Lane
from .recall import SqliteRecall
from .statements import SessionStatements

logger = logging.getLogger(__name__)
POSITIONS = 4096
"""Sessions whose (pk, last position) an engine remembers; beyond that it starts over."""
SLACK_SECONDS = 60.0
"""The most a read-slid expiry may lag (refresh_on_read): reads that close skip the write."""


class SqliteEngine(SqliteRecall, OffloadedEngine):
    kind = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.path = path
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        # a read within this many seconds of the last slide leaves the expiry (0.1 % of the TTL,
        # at most a minute): a session may expire that much early, and such reads write nothing
        self._slack = 0.0 if ttl is None else min(ttl * 0.001, SLACK_SECONDS)
        self.clock = clock
        self.namespace = namespace
        self.sql = SessionStatements(namespace)
        # (pk, last position) of sessions this engine wrote: a guess the next write checks
        self._positions: dict[SessionKey, tuple[int, int]] = {}
        self.connections = SqliteConnections(path, busy_timeout=busy_timeout)
        with self.connections.connection() as conn:
            conn.executescript(self.sql.schema)

    def _expires(self, now: float) -> float | None:
        return None if self.ttl is None else now + self.ttl

    def _touch(
        self, conn: sqlite3.Connection, key: SessionKey, now: float, added: int = 0
    ) -> tuple[int, int]:
        """Refresh a live session, else start it afresh (an expired one is deleted first).
        Reserves ``added`` positions; returns (pk, last position)."""
        params = sql_params(key, now=now, expires=self._expires(now), n=added)
        seen = self._positions.get(key)
        if seen is not None:
            params["pk"], params["last"] = seen
            if conn.execute(self.sql.touch_known, params).rowcount == 1:
                row = self._positions[key] = (seen[0], seen[1] + added)
                return row
        row = conn.execute(self.sql.touch_live, params).fetchone()
        if row is None:
            conn.execute(self.sql.drop_expired_one, params)
            row = conn.execute(self.sql.touch, params).fetchone()
        if len(self._positions) >= POSITIONS:
            self._positions.clear()
        self._positions[key] = (row[0], row[1])
        return row

    def _read(self, key: SessionKey, sql: str, **extra: object) -> list:
        """The rows of one read statement of ``key``; with refresh_on_read the expiry slides
        first."""
        check_key(key)
        now = self.clock()
        params = sql_params(key, now=now, **extra)
        with self.connections.connection() as conn:
            if self.refresh_on_read:
                slide = {"expires": self._expires(now), "slack": self._slack}
                conn.execute(self.sql.refresh, {**params, **slide})
            return conn.execute(sql, params).fetchall()

    # -- messages --------------------------------------------------------------------------
    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        check_key(key)
        messages = check_messages(messages)
        with self.connections.transaction() as conn:
            now = self.clock()
            fresh = messages
            if not all(m.generated for m in messages):  # ids made by this call need no lookup
                ids = json.dumps([m.id for m in messages])
                rows = conn.execute(self.sql.known_ids, sql_params(key, now=now, ids=ids))
                fresh = unique_new(messages, {row[0] for row in rows})
            pk, last = self._touch(conn, key, now, len(fresh))
            first = last - len(fresh) + 1
            conn.executemany(
                self.sql.insert_message,
                [(pk, first + i, m.id, m.data) for i, m in enumerate(fresh)],
            )
            if fresh and fresh[0].index is not None:  # the store keeps a recall index
                self._recall_appended(conn, key, pk, first, fresh, now)
            return len(fresh)

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        """On the database's lane, sharing a transaction with the appends queued beside it."""
        return await self.connections.lane().run(self.append, (key, messages), grouped=True)

    def _offload_lane(self) -> Lane:
        return self.connections.lane()

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        limit = -1 if k is None else check_int(k, "k", low=0)
        rows = self._read(key, self.sql.tail, k=limit)
        rows.reverse()
        return rows

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        start = check_int(start, "start")
        stop = 2**62 if end is None else check_int(end, "end")
        return self._read(key, self.sql.range, start=start, end=stop)

    def count(self, key: SessionKey) -> int:
        """The rows the session holds (a row lost to damage is not counted)."""
        return self._read(key, self.sql.count)[0][0]

    def pop(self, key: SessionKey, n: int) -> list[Record]:
        """Remove the last ``n`` messages atomically; returns them oldest first."""
        check_key(key)
        n = check_int(n, "n", low=0)
        if n == 0:
            return []
        with self.connections.transaction() as conn:
            now = self.clock()
            conn.execute(self.sql.drop_expired_one, sql_params(key, now=now))
            row = conn.execute(self.sql.session_pk, sql_params(key, now=now)).fetchone()
            if row is None:
                return []
            gone = conn.execute(self.sql.pop, {"pk": row[0], "n": n}).fetchall()
            conn.execute(
                self.sql.after_pop, {"pk": row[0], "now": now, "expires": self._expires(now)}
            )
        return sorted((seq, bytes(data)) for seq, data in gone)

    # -- state -----------------------------------------------------------------------------
    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        rows = self._read(key, self.sql.get_state)
        return (0, None) if not rows else (rows[0][0], rows[0][1])

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        check_key(key)
        params = {"data": check_bytes(data, "data"), "expected": check_int(expected_version, "v")}
        try:
            with self.connections.transaction() as conn:
                pk, _ = self._touch(conn, key, self.clock())
                if conn.execute(self.sql.cas_state, {"pk": pk, **params}).rowcount != 1:
                    raise _Lost  # rolls the touch back too
        except _Lost:
            return False
        return True

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.get_user_state, {"user": check_user(user_id)}).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        expected = check_int(expected_version, "expected_version")
        sql = self.sql.create_user_state if expected == 0 else self.sql.cas_user_state
        params = {"user": check_user(user_id), "data": check_bytes(data, "data")}
        with self.connections.connection() as conn:
            return conn.execute(sql, {**params, "expected": expected}).rowcount == 1

    def get_user_key(self, user_id: str) -> bytes | None:
        with self.connections.connection() as conn:
            row = conn.execute(self.sql.get_user_key, {"user": check_user(user_id)}).fetchone()
        return None if row is None else bytes(row[0])

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        params = {"user": check_user(user_id), "wrapped": check_bytes(wrapped, "wrapped")}
        with self.connections.transaction() as conn:
            conn.execute(self.sql.create_user_key, params)
            return bytes(conn.execute(self.sql.get_user_key, params).fetchone()[0])

    # -- sessions --------------------------------------------------------------------------
    def delete_session(self, key: SessionKey) -> bool:
        check_key(key)
        params = sql_params(key, now=self.clock())
        with self.connections.transaction() as conn:
            return any(live for (live,) in conn.execute(self.sql.delete_session, params))

    def list_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        """Live sessions, newest first; ``limit`` / ``after`` (see :meth:`cursor`) page them.

        A row damaged by hand (a timestamp that is not a number) is skipped with a warning, so
        it never hides the healthy sessions.
        """
        user = check_user(user_id, anonymous=True)
        page = check_page(limit, order)
        params = {"user": stored_user(user), "now": self.clock(), "limit": page or -1}
        sql = self.sql.list_sessions
        if after is not None:
            params["at"], params["sid"] = decode_cursor(after)
            sql = self.sql.list_sessions_after
        if page == 0:
            return []
        with self.connections.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        infos = []
        for sid, created, updated, count, expires in rows:
            try:
                infos.append(
                    SessionInfo(
                        sid,
                        user,
                        to_datetime_checked(created),
                        to_datetime_checked(updated),
                        count,
                        None if expires is None else to_datetime_checked(expires),
                    )
                )
            except ValueError as exc:
                logger.warning("skipping the damaged session %r of %r: %s", sid, user, exc)
        return infos

    cursor = staticmethod(encode_cursor)
    """``engine.cursor(info)``: the ``after=`` of the page that follows ``info``."""

    async def apop(self, key: SessionKey, n: int) -> list[Record]:
        return await self._offload(self.pop, key, n)

    async def alist_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        return await self._offload(
            self.list_sessions, user_id, limit=limit, after=after, order=order
        )

    def delete_user(self, user_id: str | None) -> int:
        """Erase the user's sessions, state and data key, then truncate the WAL.

        Connections run with ``secure_delete``, so the freed pages are zeroed in place; the WAL
        checkpoint moves those pages into the file and empties the WAL, so no erased text stays in
        either (what the filesystem or a backup kept is outside SQLite's reach).
        """
        params = {"user": stored_user(check_user(user_id, anonymous=True)), "now": self.clock()}
        with self.connections.transaction() as conn:
            conn.execute(self.sql.delete_user_state, params)
            conn.execute(self.sql.delete_user_key, params)
            deleted = sum(live for (live,) in conn.execute(self.sql.delete_user, params))
        self.connections.truncate_wal()
        return deleted

    def purge_expired(self) -> int:
        with self.connections.transaction() as conn:
            return conn.execute(self.sql.purge_expired, {"now": self.clock()}).rowcount

    def close(self) -> None:
        self.connections.close()


class _Lost(Exception):
    """A compare-and-set found another version; raised inside the transaction to roll it back."""
