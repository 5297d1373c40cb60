"""Floors: the least work that does a turn by hand (redis-py, sqlite3 in WAL mode, psycopg).

Each floor encodes with ``json.dumps(message_to_dict(m))`` and decodes with ``json.loads`` +
``messages_from_dict``, so it returns the same messages as a real history. The one-call floors
(one pipeline / one transaction) are the targets; the "read then write" floors make the two calls
a real turn needs (the model runs between the read and the write) and are printed for context.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from typing import Any

from langchain_core.messages import BaseMessage

from .turns import OTHER, TAIL, AsyncChatSystem, ChatSystem, decode, encode

# -- SQLite ------------------------------------------------------------------------------------
SQLITE_SCHEMA = """CREATE TABLE IF NOT EXISTS messages (
    session TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (session, seq)) WITHOUT ROWID"""
SQLITE_TAIL = "SELECT seq, data FROM messages WHERE session = ? ORDER BY seq DESC LIMIT ?"
SQLITE_INSERT = "INSERT INTO messages (session, seq, data) VALUES (?, ?, ?)"
SQLITE_LAST = "SELECT coalesce(max(seq), 0) FROM messages WHERE session = ?"


def sqlite_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _immediate(conn: sqlite3.Connection, body: Any) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = body()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


def sqlite_fill(conn: sqlite3.Connection, session: str, dumped: list[str]) -> None:
    rows = [(session, i + 1, d) for i, d in enumerate(dumped)]
    _immediate(conn, lambda: conn.executemany(SQLITE_INSERT, rows))


def sqlite_turn(conn: sqlite3.Connection, session: str, h: BaseMessage, a: BaseMessage) -> None:
    """One IMMEDIATE transaction: the indexed tail read, then both INSERTs."""
    dh, da = encode(h), encode(a)

    def body() -> list:
        rows = conn.execute(SQLITE_TAIL, (session, TAIL)).fetchall()
        seq = rows[0][0] + 1 if rows else 1
        conn.executemany(SQLITE_INSERT, [(session, seq, dh), (session, seq + 1, da)])
        return rows

    decode([data for _, data in reversed(_immediate(conn, body))])


def sqlite_read(conn: sqlite3.Connection, session: str) -> None:
    decode([data for _, data in reversed(conn.execute(SQLITE_TAIL, (session, TAIL)).fetchall())])


def sqlite_write(conn: sqlite3.Connection, session: str, h: BaseMessage, a: BaseMessage) -> None:
    dh, da = encode(h), encode(a)

    def body() -> None:
        seq = conn.execute(SQLITE_LAST, (session,)).fetchone()[0] + 1
        conn.executemany(SQLITE_INSERT, [(session, seq, dh), (session, seq + 1, da)])

    _immediate(conn, body)


class FloorSqlite(ChatSystem):
    key, label, tags = "floor-sqlite", "floor: sqlite3 WAL", frozenset({"floor", "sqlite"})

    def open(self, other_rows: int) -> None:
        self.conn = sqlite_connect(self.ws.db_path("floor"))
        self.conn.execute(SQLITE_SCHEMA)
        if other_rows:
            sqlite_fill(self.conn, OTHER, self.corpus.dumped[:other_rows])

    def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        if n:
            sqlite_fill(self.conn, session, self.corpus.dumped[:n])
        return session

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        sqlite_turn(self.conn, handle, h, a)

    def drop(self, handle: Any) -> None:
        self.conn.execute("DELETE FROM messages WHERE session = ?", (handle,))

    def close(self) -> None:
        self.conn.close()


class FloorSqliteApart(FloorSqlite):
    key, label = "floor-sqlite-apart", "floor: sqlite3, read then write"

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        sqlite_read(self.conn, handle)
        sqlite_write(self.conn, handle, h, a)


class AsyncFloorSqlite(AsyncChatSystem):
    key, label, tags = (
        "floor-sqlite",
        "floor: sqlite3 WAL + to_thread",
        frozenset({"floor", "sqlite"}),
    )
    note = "one connection per worker thread"

    async def open(self) -> None:
        self.path = self.ws.db_path("floor")
        self.local = threading.local()
        self.conns: list[sqlite3.Connection] = []
        self.lock = threading.Lock()
        conn = sqlite_connect(self.path)
        conn.execute(SQLITE_SCHEMA)
        conn.close()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = sqlite_connect(self.path)
            with self.lock:
                self.conns.append(conn)
        return conn

    async def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        await asyncio.to_thread(lambda: sqlite_fill(self.conn(), session, self.corpus.dumped[:n]))
        return session

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await asyncio.to_thread(lambda: sqlite_turn(self.conn(), handle, h, a))

    async def close(self) -> None:
        for conn in self.conns:
            conn.close()


class AsyncFloorSqliteApart(AsyncFloorSqlite):
    key, label = "floor-sqlite-apart", "floor: sqlite3, read then write"
    note = "two to_thread hops per turn"

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await asyncio.to_thread(lambda: sqlite_read(self.conn(), handle))
        await asyncio.to_thread(lambda: sqlite_write(self.conn(), handle, h, a))


# -- Redis -------------------------------------------------------------------------------------
class FloorRedis(ChatSystem):
    key, label, tags = "floor-redis", "floor: redis-py pipeline", frozenset({"floor", "redis"})
    needs = ("redis",)

    def open(self, other_rows: int) -> None:
        import redis

        self.ws.redis_used = True
        self.prefix = self.ws.name("floor") + ":"
        self.client = redis.Redis.from_url(self.ws.services.redis_url)
        if other_rows:
            self.fill(self.prefix + OTHER, other_rows)

    def fill(self, key: str, n: int) -> None:
        for i in range(0, n, 1000):
            self.client.rpush(key, *self.corpus.dumped[i : min(n, i + 1000)])

    def new_session(self, n: int) -> Any:
        key = self.prefix + uuid.uuid4().hex
        if n:
            self.fill(key, n)
        return key

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(handle, -TAIL, -1)
        pipe.rpush(handle, encode(h), encode(a))
        items, _ = pipe.execute()
        decode(items)

    def drop(self, handle: Any) -> None:
        self.client.delete(handle)

    def close(self) -> None:
        self.client.close()
        self.ws.forget_keys(self.prefix)


class FloorRedisApart(FloorRedis):
    key, label = "floor-redis-apart", "floor: redis-py, read then write"

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        decode(self.client.lrange(handle, -TAIL, -1))
        self.client.rpush(handle, encode(h), encode(a))


class AsyncFloorRedis(AsyncChatSystem):
    key, label, tags = "floor-redis", "floor: redis.asyncio pipeline", frozenset({"floor", "redis"})
    needs = ("redis",)

    async def open(self) -> None:
        import redis.asyncio

        self.ws.redis_used = True
        self.prefix = self.ws.name("floor") + ":"
        self.client = redis.asyncio.Redis.from_url(self.ws.services.redis_url)

    async def new_session(self, n: int) -> Any:
        key = self.prefix + uuid.uuid4().hex
        await self.client.rpush(key, *self.corpus.dumped[:n])
        return key

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(handle, -TAIL, -1)
        pipe.rpush(handle, encode(h), encode(a))
        items, _ = await pipe.execute()
        decode(items)

    async def close(self) -> None:
        await self.client.aclose()
        self.ws.forget_keys(self.prefix)


class AsyncFloorRedisApart(AsyncFloorRedis):
    key, label = "floor-redis-apart", "floor: redis.asyncio, read then write"

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        decode(await self.client.lrange(handle, -TAIL, -1))
        await self.client.rpush(handle, encode(h), encode(a))


# -- PostgreSQL --------------------------------------------------------------------------------
PG_SCHEMA = """CREATE TABLE IF NOT EXISTS "{table}" (
    session TEXT NOT NULL, seq BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session, seq))"""
PG_TAIL = 'SELECT seq, data FROM "{table}" WHERE session = %s ORDER BY seq DESC LIMIT %s'
PG_INSERT = 'INSERT INTO "{table}" (session, seq, data) VALUES (%s, %s, %s)'
PG_INSERT_TWO = 'INSERT INTO "{table}" (session, seq, data) VALUES (%s, %s, %s), (%s, %s, %s)'


def _pg_rows(session: str, seq: int, h: BaseMessage, a: BaseMessage) -> list[tuple]:
    return [(session, seq, encode(h)), (session, seq + 1, encode(a))]


class FloorPostgres(ChatSystem):
    key, label, tags = "floor-pg", "floor: psycopg pipeline", frozenset({"floor", "postgres"})
    needs = ("postgres",)

    def open(self, other_rows: int) -> None:
        import psycopg

        self.conn = psycopg.connect(self.ws.postgres(), autocommit=True)
        self.table = self.ws.name("floor")
        self.conn.execute(PG_SCHEMA.format(table=self.table))
        self.tail, self.insert = (
            PG_TAIL.format(table=self.table),
            PG_INSERT.format(table=self.table),
        )
        if other_rows:
            self.fill(OTHER, other_rows)

    def fill(self, session: str, n: int) -> None:
        with self.conn.transaction():
            rows = [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])]
            self.conn.cursor().executemany(self.insert, rows)

    def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        if n:
            self.fill(session, n)
        return session

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        """One transaction in pipeline mode: the indexed tail read, then both INSERTs and COMMIT."""
        with self.conn.pipeline(), self.conn.transaction():
            rows = self.conn.execute(self.tail, (handle, TAIL)).fetchall()
            seq = rows[0][0] + 1 if rows else 1
            self.conn.cursor().executemany(self.insert, _pg_rows(handle, seq, h, a))
        decode([data for _, data in reversed(rows)])

    def drop(self, handle: Any) -> None:
        self.conn.execute(f'DELETE FROM "{self.table}" WHERE session = %s', (handle,))

    def close(self) -> None:
        self.conn.close()
        self.ws.drop_tables(self.table)


class FloorPostgresApart(FloorPostgres):
    """The two calls a chain makes: the indexed SELECT, then one INSERT of both rows (autocommit)."""

    key, label = "floor-pg-apart", "floor: psycopg, read then write"

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        rows = self.conn.execute(self.tail, (handle, TAIL)).fetchall()
        decode([data for _, data in reversed(rows)])
        seq = rows[0][0] + 1 if rows else 1
        params = (handle, seq, encode(h), handle, seq + 1, encode(a))
        self.conn.execute(PG_INSERT_TWO.format(table=self.table), params)


class AsyncFloorPostgres(AsyncChatSystem):
    key, label, tags = "floor-pg", "floor: psycopg async pipeline", frozenset({"floor", "postgres"})
    needs = ("postgres", "psycopg_pool")
    note = "psycopg_pool, max_size=10"

    async def open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.table = self.ws.name("floor")
        self.tail, self.insert = (
            PG_TAIL.format(table=self.table),
            PG_INSERT.format(table=self.table),
        )
        self.pool = AsyncConnectionPool(
            self.ws.postgres(), min_size=1, max_size=10, open=False, kwargs={"autocommit": True}
        )
        await self.pool.open()
        async with self.pool.connection() as conn:
            await conn.execute(PG_SCHEMA.format(table=self.table))

    async def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        rows = [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])]
        async with self.pool.connection() as conn, conn.transaction():
            await conn.cursor().executemany(self.insert, rows)
        return session

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            rows = await (await conn.execute(self.tail, (handle, TAIL))).fetchall()
            seq = rows[0][0] + 1 if rows else 1
            await conn.cursor().executemany(self.insert, _pg_rows(handle, seq, h, a))
        decode([data for _, data in reversed(rows)])

    async def close(self) -> None:
        await self.pool.close()
        self.ws.drop_tables(self.table)


class AsyncFloorPostgresApart(AsyncFloorPostgres):
    key, label = "floor-pg-apart", "floor: psycopg async, read then write"
    note = "two pool checkouts per turn"

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(self.tail, (handle, TAIL))).fetchall()
        decode([data for _, data in reversed(rows)])
        seq = rows[0][0] + 1 if rows else 1
        params = (handle, seq, encode(h), handle, seq + 1, encode(a))
        async with self.pool.connection() as conn:
            await conn.execute(PG_INSERT_TWO.format(table=self.table), params)


SYNC = [
    FloorSqlite,
    FloorSqliteApart,
    FloorRedis,
    FloorRedisApart,
    FloorPostgres,
    FloorPostgresApart,
]
ASYNC = [
    AsyncFloorSqlite,
    AsyncFloorSqliteApart,
    AsyncFloorRedis,
    AsyncFloorRedisApart,
    AsyncFloorPostgres,
    AsyncFloorPostgresApart,
]
