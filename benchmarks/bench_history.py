#!/usr/bin/env python
"""Chat-history cost per turn and async throughput, this package beside the usual alternatives.

One command, one run::

    python benchmarks/bench_history.py                 # full run (a few minutes)
    python benchmarks/bench_history.py --quick         # smoke run (well under a minute)
    python benchmarks/bench_history.py --lengths 10,1000 --engines sqlite,memory

A *turn* is what a chat application does with its history on every request: read the last 20
messages, then append one human and one AI message of about 300 characters each.

Part 1 times single turns (median of many) at several history lengths, plus a column where the
history is short but the same table / database holds 10,000 rows of another session.
Part 2 runs 64 concurrent asyncio sessions x 50 turns and reports turns per second.

Compared systems
  ours          SessionStore on SQLite (file), on Redis and on PostgreSQL: ``tail(20)`` +
                ``add_messages([h, a])``
  langchain     InMemoryChatMessageHistory (langchain-core), RedisChatMessageHistory and
                SQLChatMessageHistory (langchain-community): ``messages[-20:]`` + ``add_messages``,
                as ``RunnableWithMessageHistory`` does
  floors        the least work that does the same job with langchain-core's message dicts:
                a redis-py pipeline (LRANGE -20 -1 + RPUSH), raw sqlite3 in WAL mode and raw
                psycopg in pipeline mode (indexed SELECT ... ORDER BY seq DESC LIMIT 20 + INSERT
                in one transaction);
                encoding (``message_to_dict`` + ``json.dumps``) and decoding
                (``json.loads`` + ``messages_from_dict``) are included

The benchmark never fails: it prints PASS / MISS per target and exits 0. Redis and PostgreSQL
rows are skipped, with the reason, when the servers are unreachable. Everything it creates (temp
directories, Redis keys under a unique prefix, a uniquely named PostgreSQL table) is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata as md
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning)
try:
    from langchain_core._api.deprecation import LangChainDeprecationWarning

    warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)
except ImportError:  # pragma: no cover
    pass

from langchain_core.messages import (  # noqa: E402
    AIMessage,
    BaseMessage,
    HumanMessage,
    message_to_dict,
    messages_from_dict,
)

from langchain_sessionmem import SessionStore  # noqa: E402

TAIL = 20
OTHER_ROWS = 10_000
OTHER = "other"  # column key: H=10 next to OTHER_ROWS rows of another session
SEED_MESSAGES = 20  # history of each async session before the run

# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------

_WORDS = " ".join(
    [
        "the session store keeps every message of a conversation in order and returns the last few",
        "quickly whatever the length of the history tool call answer question user assistant model",
        "token window summary context memory agent graph thread state cache write read append",
    ]
).split()


def _text(rng: random.Random, chars: int = 300) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


_RNG = random.Random(20240601)
_TEXTS = [_text(_RNG) for _ in range(64)]


def turn_pair(i: int) -> tuple[BaseMessage, BaseMessage]:
    """A fresh human + AI message without ids, as an application (and RWMH) produces them."""
    return (
        HumanMessage(content=_TEXTS[i % 64]),
        AIMessage(content=_TEXTS[(i * 7 + 3) % 64], response_metadata={"model_name": "bench"}),
    )


def base_history(n: int) -> list[BaseMessage]:
    """Alternating human / AI messages with ids, used to populate long histories in bulk."""
    out: list[BaseMessage] = []
    for i in range(n):
        cls = HumanMessage if i % 2 == 0 else AIMessage
        out.append(cls(content=_TEXTS[i % 64], id=str(uuid.UUID(int=i + 1, version=4))))
    return out


class Corpus:
    """The populated history, built once: messages and their community-style JSON dumps."""

    def __init__(self, n: int):
        self.messages = base_history(n)
        self.dumped = [json.dumps(message_to_dict(m)) for m in self.messages]


def _decode(items: Sequence[str | bytes]) -> list[BaseMessage]:
    return messages_from_dict([json.loads(item) for item in items])


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def redis_problem(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return f"no Redis at {url}: {exc}"
    return None


def postgres_problem(url: str) -> str | None:
    try:
        import sqlalchemy
    except ImportError:
        return "sqlalchemy is not installed"
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"no PostgreSQL at {url}: {str(exc).splitlines()[0]}"
    return None


def community_sql_problem() -> str | None:
    try:
        from langchain_community.chat_message_histories import SQLChatMessageHistory  # noqa: F401
    except ImportError as exc:  # SQLAlchemy 2.1 needs greenlet for the module to import at all
        return f"SQLChatMessageHistory cannot be imported: {str(exc).splitlines()[0][:90]}"
    return None


def aiosqlite_problem() -> str | None:
    try:
        import aiosqlite  # noqa: F401
    except ImportError:
        return "aiosqlite is not installed (pip install aiosqlite)"
    return None


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def describe_machine(redis_url: str, redis_ok: bool, pg_url: str, pg_ok: bool) -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        f"machine   {cores} cores ({usable} usable), {_cpu_model()}, load average {load}",
        f"system    {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
        "packages  "
        + ", ".join(
            f"{name} {_version(name)}"
            for name in (
                "langchain-sessionmem",
                "langchain-core",
                "langchain-community",
                "SQLAlchemy",
                "redis",
                "aiosqlite",
                "psycopg",
                "pydantic",
            )
        ),
    ]
    servers = []
    if redis_ok:
        import redis

        client = redis.Redis.from_url(redis_url)
        servers.append(f"Redis {client.info('server').get('redis_version')} at {redis_url}")
        client.close()
    if pg_ok:
        import sqlalchemy

        engine = sqlalchemy.create_engine(pg_url)
        with engine.connect() as conn:
            version = conn.execute(sqlalchemy.text("SHOW server_version")).scalar()
        engine.dispose()
        servers.append(f"PostgreSQL {version} at {pg_url}")
    lines.append("servers   " + ("; ".join(servers) if servers else "none reachable"))
    return lines


# --------------------------------------------------------------------------------------------
# Systems for part 1 (sync, one turn at a time)
# --------------------------------------------------------------------------------------------


class Ctx:
    """Shared run context: temp dir, unique names, service URLs, cleanup bookkeeping."""

    def __init__(self, redis_url: str, pg_url: str):
        self.run_id = uuid.uuid4().hex[:10]
        self.prefix = f"bench-{self.run_id}"
        self.tmp = tempfile.mkdtemp(prefix="sessionmem-bench-")
        self.redis_url = redis_url
        self.pg_url = pg_url
        self._n = 0
        self.pg_tables: set[str] = set()
        self.redis_used = False

    def name(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}-{kind}-{self._n}"

    def db_path(self, kind: str) -> str:
        path = os.path.join(self.tmp, f"{self.name(kind)}.db")
        return path

    def cleanup(self) -> list[str]:
        notes = []
        if self.redis_used:
            try:
                import redis

                client = redis.Redis.from_url(self.redis_url)
                deleted = 0
                for pattern in (f"{{{self.prefix}*", f"{self.prefix}*"):
                    batch = []
                    for key in client.scan_iter(match=pattern, count=1000):
                        batch.append(key)
                        if len(batch) >= 500:
                            deleted += client.delete(*batch)
                            batch = []
                    if batch:
                        deleted += client.delete(*batch)
                client.close()
                if deleted:
                    notes.append(f"removed {deleted} leftover Redis keys")
            except Exception as exc:  # noqa: BLE001
                notes.append(f"Redis cleanup failed: {exc}")
        if self.pg_tables:
            try:
                import sqlalchemy

                engine = sqlalchemy.create_engine(self.pg_url)
                with engine.begin() as conn:
                    for table in self.pg_tables:
                        conn.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
                engine.dispose()
            except Exception as exc:  # noqa: BLE001
                notes.append(f"PostgreSQL cleanup failed: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return notes


def _delete_redis_prefix(client: Any, pattern: str) -> None:
    batch = list(client.scan_iter(match=pattern, count=1000))
    for i in range(0, len(batch), 500):
        client.delete(*batch[i : i + 500])


class System:
    """One storage system. ``open`` makes fresh storage; sessions are created and dropped untimed."""

    key = ""
    label = ""
    tags: frozenset[str] = frozenset()
    supports_other = True

    def __init__(self, ctx: Ctx, corpus: Corpus):
        self.ctx = ctx
        self.corpus = corpus

    def open(self, other_rows: int) -> None: ...
    def new_session(self, n: int) -> Any: ...
    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None: ...
    def drop(self, handle: Any) -> None: ...
    def close(self) -> None: ...


class OursSqlite(System):
    key, label, tags = "ours-sqlite", "ours: SessionStore sqlite", frozenset({"ours", "sqlite"})

    def open(self, other_rows: int) -> None:
        self.store = SessionStore.from_url(f"sqlite:///{self.ctx.db_path('ours')}")
        if other_rows:
            self.store.history(OTHER).add_messages(self.corpus.messages[:other_rows])

    def new_session(self, n: int) -> Any:
        history = self.store.history(uuid.uuid4().hex)
        if n:
            history.add_messages(self.corpus.messages[:n])
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.tail(TAIL)
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()

    def close(self) -> None:
        self.store.close()


class OursRedis(OursSqlite):
    key, label, tags = "ours-redis", "ours: SessionStore redis", frozenset({"ours", "redis"})

    def open(self, other_rows: int) -> None:
        self.ctx.redis_used = True
        self.namespace = self.ctx.name("ours")
        self.store = SessionStore.from_url(self.ctx.redis_url, namespace=self.namespace)
        if other_rows:
            self.store.history(OTHER).add_messages(self.corpus.messages[:other_rows])

    def close(self) -> None:
        _delete_redis_prefix(self.store.engine.client, "{" + self.namespace + "|*")
        self.store.close()


class InMemory(System):
    key, label, tags = (
        "memory",
        "InMemoryChatMessageHistory",
        frozenset({"memory", "langchain", "community"}),
    )
    supports_other = False

    def new_session(self, n: int) -> Any:
        from langchain_core.chat_history import InMemoryChatMessageHistory

        return InMemoryChatMessageHistory(messages=list(self.corpus.messages[:n]))

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()


class CommunityRedis(System):
    key, label, tags = (
        "community-redis",
        "RedisChatMessageHistory",
        frozenset({"community", "redis"}),
    )

    def open(self, other_rows: int) -> None:
        import redis

        self.ctx.redis_used = True
        self.key_prefix = self.ctx.name("community") + ":"
        self.admin = redis.Redis.from_url(self.ctx.redis_url)
        if other_rows:
            self._fill(self.key_prefix + OTHER, other_rows)

    def _fill(self, key: str, n: int) -> None:
        # LPUSH in chronological order leaves the newest at the head, as add_message does.
        for i in range(0, n, 1000):
            self.admin.lpush(key, *self.corpus.dumped[i : min(n, i + 1000)])

    def new_session(self, n: int) -> Any:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        history = RedisChatMessageHistory(
            uuid.uuid4().hex, url=self.ctx.redis_url, key_prefix=self.key_prefix
        )
        if n:
            self._fill(history.key, n)
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()
        handle.redis_client.close()

    def close(self) -> None:
        _delete_redis_prefix(self.admin, self.key_prefix + "*")
        self.admin.close()


class CommunitySql(System):
    key, label, tags = (
        "community-sql",
        "SQLChatMessageHistory sqlite",
        frozenset({"community", "sqlite"}),
    )

    def url(self) -> str:
        return f"sqlite:///{self.ctx.db_path('community')}"

    def open(self, other_rows: int) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(self.url())
        self.table = self.ctx.name("sql").replace("-", "_")
        self.model = self._history(OTHER).sql_model_class  # creates the table
        if other_rows:
            self._fill(OTHER, other_rows)

    def _history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import SQLChatMessageHistory

        return SQLChatMessageHistory(
            session_id=session_id, table_name=self.table, connection=self.engine
        )

    def _fill(self, session_id: str, n: int) -> None:
        rows = [{"session_id": session_id, "message": d} for d in self.corpus.dumped[:n]]
        with self.engine.begin() as conn:
            conn.execute(self.model.__table__.insert(), rows)

    def new_session(self, n: int) -> Any:
        session_id = uuid.uuid4().hex
        history = self._history(session_id)
        if n:
            self._fill(session_id, n)
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()
        handle.session_maker.remove()

    def close(self) -> None:
        self.engine.dispose()


class CommunityPostgres(CommunitySql):
    key, label, tags = (
        "community-pg",
        "SQLChatMessageHistory postgres",
        frozenset({"community", "postgres"}),
    )

    def url(self) -> str:
        return self.ctx.pg_url

    def open(self, other_rows: int) -> None:
        super().open(0)
        self.ctx.pg_tables.add(self.table)
        if other_rows:
            self._fill(OTHER, other_rows)

    def close(self) -> None:
        import sqlalchemy

        with self.engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{self.table}"'))
        self.ctx.pg_tables.discard(self.table)
        super().close()


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as libpq / psycopg wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class OursPostgres(OursSqlite):
    key, label, tags = "ours-pg", "ours: SessionStore postgres", frozenset({"ours", "postgres"})

    def open(self, other_rows: int) -> None:
        self.namespace = self.ctx.name("ours")
        self.ctx.pg_tables.update({f"{self.namespace}_messages", f"{self.namespace}_sessions"})
        self.store = SessionStore.from_url(libpq_url(self.ctx.pg_url), namespace=self.namespace)
        if other_rows:
            self.store.history(OTHER).add_messages(self.corpus.messages[:other_rows])

    def close(self) -> None:
        with self.store.engine.connection() as conn:
            conn.execute(
                f'DROP TABLE IF EXISTS "{self.namespace}_messages", "{self.namespace}_sessions"'
            )
        self.ctx.pg_tables.difference_update(
            {f"{self.namespace}_messages", f"{self.namespace}_sessions"}
        )
        self.store.close()


PG_FLOOR_SCHEMA = """CREATE TABLE IF NOT EXISTS "{table}" (
    session TEXT NOT NULL, seq BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session, seq))"""
PG_FLOOR_TAIL = 'SELECT seq, data FROM "{table}" WHERE session = %s ORDER BY seq DESC LIMIT %s'
PG_FLOOR_INSERT = 'INSERT INTO "{table}" (session, seq, data) VALUES (%s, %s, %s)'


def floor_pg_turn(
    conn: Any, table: str, session: str, h: BaseMessage, a: BaseMessage
) -> list[BaseMessage]:
    """One transaction in pipeline mode: the indexed tail read, then both INSERTs and COMMIT."""
    dh, da = json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a))
    with conn.pipeline(), conn.transaction():
        rows = conn.execute(PG_FLOOR_TAIL.format(table=table), (session, TAIL)).fetchall()
        seq = rows[0][0] + 1 if rows else 1
        conn.cursor().executemany(
            PG_FLOOR_INSERT.format(table=table), [(session, seq, dh), (session, seq + 1, da)]
        )
    rows.reverse()
    return _decode([data for _, data in rows])


async def afloor_pg_turn(
    conn: Any, table: str, session: str, h: BaseMessage, a: BaseMessage
) -> list[BaseMessage]:
    dh, da = json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a))
    async with conn.pipeline(), conn.transaction():
        rows = await (
            await conn.execute(PG_FLOOR_TAIL.format(table=table), (session, TAIL))
        ).fetchall()
        seq = rows[0][0] + 1 if rows else 1
        await conn.cursor().executemany(
            PG_FLOOR_INSERT.format(table=table), [(session, seq, dh), (session, seq + 1, da)]
        )
    rows.reverse()
    return _decode([data for _, data in rows])


class FloorPostgres(System):
    key, label, tags = "floor-pg", "floor: psycopg pipeline", frozenset({"floor", "postgres"})

    def open(self, other_rows: int) -> None:
        import psycopg

        self.conn = psycopg.connect(libpq_url(self.ctx.pg_url), autocommit=True)
        self.table = self.ctx.name("floor").replace("-", "_")
        self.ctx.pg_tables.add(self.table)
        self.conn.execute(PG_FLOOR_SCHEMA.format(table=self.table))
        if other_rows:
            self._fill(OTHER, other_rows)

    def _fill(self, session: str, n: int) -> None:
        with self.conn.transaction():
            self.conn.cursor().executemany(
                PG_FLOOR_INSERT.format(table=self.table),
                [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])],
            )

    def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        if n:
            self._fill(session, n)
        return session

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        floor_pg_turn(self.conn, self.table, handle, h, a)

    def drop(self, handle: Any) -> None:
        self.conn.execute(f'DELETE FROM "{self.table}" WHERE session = %s', (handle,))

    def close(self) -> None:
        self.conn.execute(f'DROP TABLE IF EXISTS "{self.table}"')
        self.ctx.pg_tables.discard(self.table)
        self.conn.close()


class FloorRedis(System):
    key, label, tags = "floor-redis", "floor: redis-py pipeline", frozenset({"floor", "redis"})

    def open(self, other_rows: int) -> None:
        import redis

        self.ctx.redis_used = True
        self.key_prefix = self.ctx.name("floor") + ":"
        self.client = redis.Redis.from_url(self.ctx.redis_url)
        if other_rows:
            self._fill(self.key_prefix + OTHER, other_rows)

    def _fill(self, key: str, n: int) -> None:
        for i in range(0, n, 1000):
            self.client.rpush(key, *self.corpus.dumped[i : min(n, i + 1000)])

    def new_session(self, n: int) -> Any:
        key = self.key_prefix + uuid.uuid4().hex
        if n:
            self._fill(key, n)
        return key

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(handle, -TAIL, -1)
        pipe.rpush(handle, json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a)))
        items, _ = pipe.execute()
        _decode(items)

    def drop(self, handle: Any) -> None:
        self.client.delete(handle)

    def close(self) -> None:
        _delete_redis_prefix(self.client, self.key_prefix + "*")
        self.client.close()


class FloorRedisApart(FloorRedis):
    key, label, tags = (
        "floor-redis-apart",
        "floor: redis-py, read then write",
        frozenset({"floor", "redis"}),
    )

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        _decode(self.client.lrange(handle, -TAIL, -1))
        self.client.rpush(handle, json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a)))


FLOOR_SCHEMA = """CREATE TABLE IF NOT EXISTS messages (
    session TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (session, seq)) WITHOUT ROWID"""
FLOOR_TAIL = "SELECT seq, data FROM messages WHERE session = ? ORDER BY seq DESC LIMIT ?"
FLOOR_INSERT = "INSERT INTO messages (session, seq, data) VALUES (?, ?, ?)"
FLOOR_LAST = "SELECT coalesce(max(seq), 0) FROM messages WHERE session = ?"


def floor_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def floor_sqlite_turn(
    conn: sqlite3.Connection, session: str, h: BaseMessage, a: BaseMessage
) -> list[BaseMessage]:
    dh, da = json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a))
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(FLOOR_TAIL, (session, TAIL)).fetchall()
        seq = rows[0][0] + 1 if rows else 1
        conn.executemany(FLOOR_INSERT, [(session, seq, dh), (session, seq + 1, da)])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    rows.reverse()
    return _decode([data for _, data in rows])


def floor_sqlite_read(conn: sqlite3.Connection, session: str) -> list[BaseMessage]:
    rows = conn.execute(FLOOR_TAIL, (session, TAIL)).fetchall()
    rows.reverse()
    return _decode([data for _, data in rows])


def floor_sqlite_write(
    conn: sqlite3.Connection, session: str, h: BaseMessage, a: BaseMessage
) -> None:
    dh, da = json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a))
    conn.execute("BEGIN IMMEDIATE")
    try:
        seq = conn.execute(FLOOR_LAST, (session,)).fetchone()[0] + 1
        conn.executemany(FLOOR_INSERT, [(session, seq, dh), (session, seq + 1, da)])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class FloorSqlite(System):
    key, label, tags = "floor-sqlite", "floor: sqlite3 WAL", frozenset({"floor", "sqlite"})

    def open(self, other_rows: int) -> None:
        self.conn = floor_connect(self.ctx.db_path("floor"))
        self.conn.execute(FLOOR_SCHEMA)
        if other_rows:
            self._fill(OTHER, other_rows)

    def _fill(self, session: str, n: int) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                FLOOR_INSERT, [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])]
            )

    def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        if n:
            self._fill(session, n)
        return session

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        floor_sqlite_turn(self.conn, handle, h, a)

    def drop(self, handle: Any) -> None:
        self.conn.execute("DELETE FROM messages WHERE session = ?", (handle,))

    def close(self) -> None:
        self.conn.close()


class FloorSqliteApart(FloorSqlite):
    key, label, tags = (
        "floor-sqlite-apart",
        "floor: sqlite3, read then write",
        frozenset({"floor", "sqlite"}),
    )

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        floor_sqlite_read(self.conn, handle)
        floor_sqlite_write(self.conn, handle, h, a)


SYSTEMS: list[type[System]] = [
    OursSqlite,
    FloorSqlite,
    FloorSqliteApart,
    CommunitySql,
    OursRedis,
    FloorRedis,
    FloorRedisApart,
    CommunityRedis,
    OursPostgres,
    FloorPostgres,
    CommunityPostgres,
    InMemory,
]


# --------------------------------------------------------------------------------------------
# Part 1: per-turn cost
# --------------------------------------------------------------------------------------------


@dataclass
class Budget:
    seconds: float  # wall-clock budget of one cell (untimed setup included)
    min_samples: int
    max_samples: int
    warmup: int = 3


@dataclass
class Cell:
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


class _Runner:
    """One system's progress through one column: its current session and its samples."""

    def __init__(self, system: System, length: int, budget: Budget):
        self.system = system
        self.length = length
        self.per_session = max(1, length // 50)  # a session grows by at most 4 %, then a fresh one
        self.budget = budget
        self.cell = Cell()
        self.handle: Any = None
        self.used = self.per_session
        self.done = 0
        self.spent = 0.0  # wall-clock seconds, untimed session set-up included

    @property
    def finished(self) -> bool:
        n = len(self.cell.samples)
        return (
            self.cell.error is not None
            or n >= self.budget.max_samples
            or (n >= self.budget.min_samples and self.spent >= self.budget.seconds)
        )

    def run_slice(self, seconds: float, seq: list[int]) -> None:
        start = time.perf_counter()
        try:
            while not self.finished:
                if self.used >= self.per_session:
                    if self.handle is not None:
                        self.system.drop(self.handle)
                    self.handle, self.used = self.system.new_session(self.length), 0
                h, a = turn_pair(seq[0])
                seq[0] += 1
                t0 = time.perf_counter()
                self.system.turn(self.handle, h, a)
                elapsed = time.perf_counter() - t0
                self.used += 1
                self.done += 1
                if self.done > self.budget.warmup:
                    self.cell.samples.append(elapsed)
                if time.perf_counter() - start >= seconds:
                    break
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not crash
            self.cell.error = _short(exc)
        self.spent += time.perf_counter() - start


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:90] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"


def measure_column(
    systems: Sequence[System], length: int, other_rows: int, budget: Budget, seq: list[int]
) -> dict[str, Cell]:
    """Median single-turn cost of each system at history length ``length``.

    The systems take turns in slices of ~50 ms, so a slow moment of the machine hits all of
    them alike and the ratios stay fair. Each session takes at most ``max(1, length // 50)``
    turns and is then dropped and replaced by a fresh one populated in bulk; only turns are timed.
    """
    gc.collect()
    runners: list[_Runner] = []
    cells: dict[str, Cell] = {}
    for system in systems:
        runner = _Runner(system, length, budget)
        cells[system.key] = runner.cell
        try:
            system.open(other_rows)
            runners.append(runner)
        except Exception as exc:  # noqa: BLE001
            runner.cell.error = _short(exc)
    try:
        while any(not r.finished for r in runners):
            for runner in runners:
                if not runner.finished:
                    runner.run_slice(0.05, seq)
    finally:
        for runner in runners:
            try:
                if runner.handle is not None and runner.cell.error is None:
                    runner.system.drop(runner.handle)
                runner.system.close()
            except Exception:  # noqa: BLE001
                pass
    return cells


# --------------------------------------------------------------------------------------------
# Part 2: async throughput
# --------------------------------------------------------------------------------------------


class AsyncSystem:
    key = ""
    label = ""
    tags: frozenset[str] = frozenset()
    note = ""

    def __init__(self, ctx: Ctx, corpus: Corpus):
        self.ctx = ctx
        self.corpus = corpus

    async def open(self) -> None: ...
    async def new_session(self, n: int) -> Any: ...
    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None: ...
    async def close(self) -> None: ...


class AsyncOursSqlite(AsyncSystem):
    key, label, tags = "ours-sqlite", "ours: SessionStore sqlite", frozenset({"ours", "sqlite"})

    def make_store(self) -> SessionStore:
        return SessionStore.from_url(f"sqlite:///{self.ctx.db_path('ours')}")

    async def open(self) -> None:
        self.store = self.make_store()

    async def new_session(self, n: int) -> Any:
        history = self.store.history(uuid.uuid4().hex)
        await history.aadd_messages(self.corpus.messages[:n])
        return history

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await handle.atail(TAIL)
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        await self.store.aclose()


class AsyncOursRedis(AsyncOursSqlite):
    key, label, tags = "ours-redis", "ours: SessionStore redis", frozenset({"ours", "redis"})

    def make_store(self) -> SessionStore:
        self.ctx.redis_used = True
        self.namespace = self.ctx.name("ours")
        return SessionStore.from_url(self.ctx.redis_url, namespace=self.namespace)

    async def close(self) -> None:
        await self.store.aclose()
        import redis

        client = redis.Redis.from_url(self.ctx.redis_url)
        _delete_redis_prefix(client, "{" + self.namespace + "|*")
        client.close()


class AsyncOursPostgres(AsyncOursSqlite):
    key, label, tags = "ours-pg", "ours: SessionStore postgres", frozenset({"ours", "postgres"})
    note = "asyncio pool, max_size=10"

    def make_store(self) -> SessionStore:
        self.namespace = self.ctx.name("ours")
        self.ctx.pg_tables.update({f"{self.namespace}_messages", f"{self.namespace}_sessions"})
        return SessionStore.from_url(libpq_url(self.ctx.pg_url), namespace=self.namespace)

    async def close(self) -> None:
        async with self.store.engine.aconnection() as conn:
            await conn.execute(
                f'DROP TABLE IF EXISTS "{self.namespace}_messages", "{self.namespace}_sessions"'
            )
        self.ctx.pg_tables.difference_update(
            {f"{self.namespace}_messages", f"{self.namespace}_sessions"}
        )
        await self.store.aclose()


class AsyncFloorPostgres(AsyncSystem):
    key, label, tags = "floor-pg", "floor: psycopg async pipeline", frozenset({"floor", "postgres"})
    note = "psycopg_pool, max_size=10"

    async def open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.table = self.ctx.name("floor").replace("-", "_")
        self.ctx.pg_tables.add(self.table)
        self.pool = AsyncConnectionPool(
            libpq_url(self.ctx.pg_url),
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True},
        )
        await self.pool.open()
        async with self.pool.connection() as conn:
            await conn.execute(PG_FLOOR_SCHEMA.format(table=self.table))

    async def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        async with self.pool.connection() as conn, conn.transaction():
            await conn.cursor().executemany(
                PG_FLOOR_INSERT.format(table=self.table),
                [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])],
            )
        return session

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        async with self.pool.connection() as conn:
            await afloor_pg_turn(conn, self.table, handle, h, a)

    async def close(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(f'DROP TABLE IF EXISTS "{self.table}"')
        self.ctx.pg_tables.discard(self.table)
        await self.pool.close()


class AsyncFloorRedis(AsyncSystem):
    key, label, tags = "floor-redis", "floor: redis.asyncio pipeline", frozenset({"floor", "redis"})

    async def open(self) -> None:
        import redis.asyncio

        self.ctx.redis_used = True
        self.key_prefix = self.ctx.name("floor") + ":"
        self.client = redis.asyncio.Redis.from_url(self.ctx.redis_url)

    async def new_session(self, n: int) -> Any:
        key = self.key_prefix + uuid.uuid4().hex
        await self.client.rpush(key, *self.corpus.dumped[:n])
        return key

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(handle, -TAIL, -1)
        pipe.rpush(handle, json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a)))
        items, _ = await pipe.execute()
        _decode(items)

    async def close(self) -> None:
        await self.client.aclose()
        import redis

        client = redis.Redis.from_url(self.ctx.redis_url)
        _delete_redis_prefix(client, self.key_prefix + "*")
        client.close()


class AsyncFloorRedisApart(AsyncFloorRedis):
    key, label, tags = (
        "floor-redis-apart",
        "floor: redis.asyncio, read then write",
        frozenset({"floor", "redis"}),
    )

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        _decode(await self.client.lrange(handle, -TAIL, -1))
        await self.client.rpush(
            handle, json.dumps(message_to_dict(h)), json.dumps(message_to_dict(a))
        )


class AsyncFloorSqlite(AsyncSystem):
    key, label, tags = (
        "floor-sqlite",
        "floor: sqlite3 WAL + to_thread",
        frozenset({"floor", "sqlite"}),
    )
    note = "one connection per worker thread"

    async def open(self) -> None:
        self.path = self.ctx.db_path("floor")
        self.local = threading.local()
        self.conns: list[sqlite3.Connection] = []
        self.lock = threading.Lock()
        conn = floor_connect(self.path)
        conn.execute(FLOOR_SCHEMA)
        conn.close()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = floor_connect(self.path)
            with self.lock:
                self.conns.append(conn)
        return conn

    def _fill(self, session: str, n: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            FLOOR_INSERT, [(session, i + 1, d) for i, d in enumerate(self.corpus.dumped[:n])]
        )
        conn.execute("COMMIT")

    async def new_session(self, n: int) -> Any:
        session = uuid.uuid4().hex
        await asyncio.to_thread(self._fill, session, n)
        return session

    def _turn(self, session: str, h: BaseMessage, a: BaseMessage) -> None:
        floor_sqlite_turn(self._conn(), session, h, a)

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await asyncio.to_thread(self._turn, handle, h, a)

    async def close(self) -> None:
        for conn in self.conns:
            conn.close()


class AsyncFloorSqliteApart(AsyncFloorSqlite):
    key, label, tags = (
        "floor-sqlite-apart",
        "floor: sqlite3, read then write",
        frozenset({"floor", "sqlite"}),
    )
    note = "two to_thread hops per turn"

    def _read(self, session: str) -> None:
        floor_sqlite_read(self._conn(), session)

    def _write(self, session: str, h: BaseMessage, a: BaseMessage) -> None:
        floor_sqlite_write(self._conn(), session, h, a)

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await asyncio.to_thread(self._read, handle)
        await asyncio.to_thread(self._write, handle, h, a)


class AsyncCommunitySql(AsyncSystem):
    key, label, tags = (
        "community-sql",
        "SQLChatMessageHistory aiosqlite",
        frozenset({"community", "sqlite"}),
    )
    note = "sqlite+aiosqlite, one shared AsyncEngine"

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.engine = create_async_engine(f"sqlite+aiosqlite:///{self.ctx.db_path('community')}")
        self.table = self.ctx.name("sql").replace("-", "_")
        first = self._history(OTHER)
        await first._acreate_table_if_not_exists()
        self.model = first.sql_model_class

    def _history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import SQLChatMessageHistory

        return SQLChatMessageHistory(
            session_id=session_id, table_name=self.table, connection=self.engine
        )

    async def new_session(self, n: int) -> Any:
        session_id = uuid.uuid4().hex
        rows = [{"session_id": session_id, "message": d} for d in self.corpus.dumped[:n]]
        async with self.engine.begin() as conn:
            await conn.execute(self.model.__table__.insert(), rows)
        return self._history(session_id)

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        (await handle.aget_messages())[-TAIL:]
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        await self.engine.dispose()


class AsyncCommunityRedis(AsyncSystem):
    key, label, tags = (
        "community-redis",
        "RedisChatMessageHistory",
        frozenset({"community", "redis"}),
    )
    note = "no native async: default executor hop"

    async def open(self) -> None:
        import redis

        self.ctx.redis_used = True
        self.key_prefix = self.ctx.name("community") + ":"
        self.admin = redis.Redis.from_url(self.ctx.redis_url)
        self.histories: list[Any] = []

    async def new_session(self, n: int) -> Any:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        history = RedisChatMessageHistory(
            uuid.uuid4().hex, url=self.ctx.redis_url, key_prefix=self.key_prefix
        )
        self.admin.lpush(history.key, *self.corpus.dumped[:n])
        self.histories.append(history)
        return history

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        (await handle.aget_messages())[-TAIL:]
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        for history in self.histories:
            history.redis_client.close()
        _delete_redis_prefix(self.admin, self.key_prefix + "*")
        self.admin.close()


ASYNC_SYSTEMS: list[type[AsyncSystem]] = [
    AsyncOursSqlite,
    AsyncFloorSqlite,
    AsyncFloorSqliteApart,
    AsyncCommunitySql,
    AsyncOursRedis,
    AsyncFloorRedis,
    AsyncFloorRedisApart,
    AsyncCommunityRedis,
    AsyncOursPostgres,
    AsyncFloorPostgres,
]


@dataclass
class Round:
    turns_per_s: float | None
    error: str | None = None


async def _one_round(system: AsyncSystem, sessions: int, turns: int) -> Round:
    await system.open()
    try:
        handles = [await system.new_session(SEED_MESSAGES) for _ in range(sessions)]
        plans = [[turn_pair(s * turns + t) for t in range(turns)] for s in range(sessions)]
        gc.collect()

        async def worker(handle: Any, plan: list[tuple[BaseMessage, BaseMessage]]) -> None:
            for h, a in plan:
                await system.turn(handle, h, a)

        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(worker(hd, p) for hd, p in zip(handles, plans, strict=True)), return_exceptions=True
        )
        elapsed = time.perf_counter() - t0
    finally:
        await system.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        first = errors[0]
        message = str(first).splitlines()[0][:70] if str(first) else ""
        return Round(
            None, f"{len(errors)}/{sessions} sessions raised {type(first).__name__}: {message}"
        )
    return Round(sessions * turns / elapsed)


def run_async(system: AsyncSystem, sessions: int, turns: int) -> Round:
    try:
        return asyncio.run(_one_round(system, sessions, turns))
    except Exception as exc:  # noqa: BLE001
        return Round(
            None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:70] if str(exc) else ''}"
        )


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return (
        f"{ms:.4f}"
        if ms < 0.1
        else f"{ms:.3f}"
        if ms < 10
        else f"{ms:.2f}"
        if ms < 100
        else f"{ms:.1f}"
    )


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 0.1:
        return f"{x:.4f}x"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], first_width: int = 34) -> str:
    widths = [max(first_width, len(header[0]), *(len(r[0]) for r in rows))]
    for i in range(1, len(header)):
        widths.append(max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            [
                cells[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
            ]
        ).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def column_name(col: int | str) -> str:
    return f"H=10 +{OTHER_ROWS:,} other" if col == OTHER else f"H={col:,}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def select(classes: Sequence[type], wanted: set[str] | None) -> list[type]:
    if not wanted:
        return list(classes)
    return [c for c in classes if c.key in wanted or c.tags & wanted]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="engines: ours-sqlite ours-redis ours-pg memory community-redis community-sql "
        "community-pg floor-redis floor-sqlite floor-pg, or groups: ours community floor "
        "sqlite redis postgres memory",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short smoke run (fewer samples, 5 async turns per session, 2 rounds)",
    )
    p.add_argument(
        "--lengths",
        default="10,1000,10000",
        help="history lengths for part 1 (default 10,1000,10000)",
    )
    p.add_argument(
        "--no-other",
        action="store_true",
        help=f"skip the 'H=10 next to {OTHER_ROWS:,} other rows' column",
    )
    p.add_argument(
        "--engines", default="", help="comma-separated systems or groups to run (default: all)"
    )
    p.add_argument("--skip-turn", action="store_true", help="skip part 1 (per-turn cost)")
    p.add_argument("--skip-async", action="store_true", help="skip part 2 (async throughput)")
    p.add_argument(
        "--cell-seconds", type=float, default=None, help="wall-clock budget per part-1 cell"
    )
    p.add_argument(
        "--sessions", type=int, default=64, help="concurrent sessions in part 2 (default 64)"
    )
    p.add_argument(
        "--turns", type=int, default=None, help="turns per session in part 2 (default 50, quick 5)"
    )
    p.add_argument(
        "--rounds", type=int, default=None, help="rounds per system in part 2 (default 3, quick 2)"
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("SESSIONMEM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SESSIONMEM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    lengths = [int(x) for x in args.lengths.replace("_", "").split(",") if x.strip()]
    wanted = {w.strip() for w in args.engines.split(",") if w.strip()} or None
    budget = (
        Budget(args.cell_seconds or 0.3, 3, 60)
        if args.quick
        else Budget(args.cell_seconds or 2.0, 9, 500)
    )
    turns = args.turns or (5 if args.quick else 50)
    rounds = args.rounds or (2 if args.quick else 3)

    redis_why = redis_problem(args.redis_url)
    pg_why = postgres_problem(args.postgres_url)
    sql_why = community_sql_problem()
    aiosqlite_why = sql_why or aiosqlite_problem()

    def unavailable(tags: frozenset[str], key: str) -> str | None:
        if "redis" in tags and redis_why:
            return redis_why
        if "postgres" in tags and pg_why:
            return pg_why
        if key in ("community-sql", "community-pg") and sql_why:
            return sql_why
        return None

    print("langchain-sessionmem chat-history benchmark" + (" (--quick)" if args.quick else ""))
    print("=" * 60)
    for line in describe_machine(
        args.redis_url, redis_why is None, args.postgres_url, pg_why is None
    ):
        print(line)
    print(
        f"command   python benchmarks/bench_history.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
    )
    print(
        f"turn      read the last {TAIL} messages, append 1 human + 1 AI message of ~300 characters"
    )
    print()

    ctx = Ctx(args.redis_url, args.postgres_url)
    corpus = Corpus(max([*lengths, OTHER_ROWS if not args.no_other else 0, SEED_MESSAGES]))
    verdicts: list[str] = []
    try:
        if not args.skip_turn:
            run_part1(args, ctx, corpus, lengths, wanted, budget, unavailable, verdicts)
        if not args.skip_async:
            run_part2(
                args, ctx, corpus, wanted, turns, rounds, unavailable, aiosqlite_why, verdicts
            )
    finally:
        notes = ctx.cleanup()
    print("Verdicts")
    print("--------")
    for v in verdicts:
        print(v)
    if not verdicts:
        print("no target judged: a target needs both ours and its floor in the run")
    for note in notes:
        print(f"cleanup: {note}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"\ntotal wall time {time.perf_counter() - started:.0f} s, load average at the end {load}"
    )
    return 0


def run_part1(
    args: argparse.Namespace,
    ctx: Ctx,
    corpus: Corpus,
    lengths: list[int],
    wanted: set[str] | None,
    budget: Budget,
    unavailable: Callable[..., str | None],
    verdicts: list[str],
) -> None:
    columns: list[int | str] = [*lengths] + ([] if args.no_other else [OTHER])
    print("Part 1: per-turn cost, median milliseconds per turn (lower is better)")
    print(
        f"  each cell: >= {budget.min_samples} timed turns (up to {budget.max_samples}) in ~{budget.seconds:g} s of wall time, "
        f"after {budget.warmup} warm-up turns;"
    )
    print(
        "  the systems of a column alternate in ~50 ms slices; histories are populated in bulk; a session"
    )
    print("  takes at most max(1, H/50) turns, then a fresh one is used (so H stays within 4 %)")
    print()
    results: dict[str, dict[int | str, Cell]] = {}
    skipped: list[str] = []
    seq = [0]
    systems: list[System] = []
    for cls in select(SYSTEMS, wanted):
        why = unavailable(cls.tags, cls.key)
        if why:
            skipped.append(f"  skipped {cls.label}: {why}")
            continue
        systems.append(cls(ctx, corpus))
        results[cls.key] = {}
    for col in columns:
        length, other = (10, OTHER_ROWS) if col == OTHER else (int(col), 0)
        chosen = [s for s in systems if col != OTHER or s.supports_other]
        for key, cell in measure_column(chosen, length, other, budget, seq).items():
            results[key][col] = cell
    labels = {c.key: c.label for c in SYSTEMS}
    rows = []
    for key, cells in results.items():
        row = [labels[key]]
        for col in columns:
            cell = cells.get(col)
            if cell is None:
                row.append("n/a")
            elif cell.error:
                row.append("error")
            else:
                row.append(f"{fmt_ms(cell.median)} ({len(cell.samples)})")
        rows.append(row)
    print(table(["system            median ms (samples)", *map(column_name, columns)], rows))
    for key, cells in results.items():
        for col, cell in cells.items():
            if cell.error:
                print(f"  error in {labels[key]} at {column_name(col)}: {cell.error}")
    for line in skipped:
        print(line)
    if "memory" in results:
        print("  n/a: an in-memory history has no shared table")
    print()

    def med(key: str, col: int | str) -> float | None:
        cell = results.get(key, {}).get(col)
        return None if cell is None or cell.error else cell.median

    ratio_rows = [
        ("ours sqlite / sqlite3 floor", "ours-sqlite", "floor-sqlite", "<= 1.5x"),
        ("ours redis / redis-py floor", "ours-redis", "floor-redis", "<= 1.5x"),
        (
            "ours sqlite / sqlite3 floor, read then write",
            "ours-sqlite",
            "floor-sqlite-apart",
            "info",
        ),
        ("ours redis / redis-py floor, read then write", "ours-redis", "floor-redis-apart", "info"),
        ("SQLChatMessageHistory sqlite / ours sqlite", "community-sql", "ours-sqlite", "speed-up"),
        ("SQLChatMessageHistory postgres / ours sqlite", "community-pg", "ours-sqlite", "speed-up"),
        ("RedisChatMessageHistory / ours redis", "community-redis", "ours-redis", "speed-up"),
        ("ours postgres / psycopg floor", "ours-pg", "floor-pg", "<= 1.5x"),
        ("SQLChatMessageHistory postgres / ours postgres", "community-pg", "ours-pg", "speed-up"),
        ("InMemoryChatMessageHistory / ours sqlite", "memory", "ours-sqlite", "reference"),
    ]
    rrows = []
    for label, a, b, target in ratio_rows:
        if a in results and b in results:
            rrows.append(
                [label, *(fmt_ratio(ratio(med(a, c), med(b, c))) for c in columns), target]
            )
    if rrows:
        print("Part 1 ratios (time of the first / time of the second)")
        print(table(["ratio", *map(column_name, columns), "target"], rrows, first_width=44))
        print()

    for engine, floor_key, ours_key in (
        ("SQLite", "floor-sqlite", "ours-sqlite"),
        ("Redis", "floor-redis", "ours-redis"),
        ("PostgreSQL", "floor-pg", "ours-pg"),
    ):
        if ours_key not in results or floor_key not in results:
            continue
        pairs = [(c, med(ours_key, c), med(floor_key, c)) for c in columns]
        valid = [(c, o, f) for c, o, f in pairs if o is not None and f is not None]
        if not valid:
            verdicts.append(f"MISS  per-turn {engine}: no valid measurement")
            continue
        worst = max(valid, key=lambda t: t[1] / t[2])
        ok = all(o / f <= 1.5 for _, o, f in valid) and len(valid) == len(columns)
        detail = ", ".join(f"{column_name(c)} {fmt_ms(o)}/{fmt_ms(f)} ms" for c, o, f in valid)
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  per-turn ours {engine} <= 1.5x floor at every length: "
            f"worst {worst[1] / worst[2]:.2f}x at {column_name(worst[0])} ({detail})"
        )
        communities = {
            "SQLite": ("community-sql", "community-pg"),
            "Redis": ("community-redis",),
            "PostgreSQL": ("community-pg",),
        }
        for community in communities[engine]:
            big = max((c for c in columns if c != OTHER), default=None)
            if big is not None and community in results:
                r = ratio(med(community, big), med(ours_key, big))
                if r is not None:
                    verdicts.append(
                        f"info  {labels[community]} / ours {engine} at {column_name(big)}: {fmt_ratio(r)} "
                        f"({fmt_ms(med(community, big))} vs {fmt_ms(med(ours_key, big))} ms)"
                    )


def run_part2(
    args: argparse.Namespace,
    ctx: Ctx,
    corpus: Corpus,
    wanted: set[str] | None,
    turns: int,
    rounds: int,
    unavailable: Callable[..., str | None],
    aiosqlite_why: str | None,
    verdicts: list[str],
) -> None:
    sessions = args.sessions
    print(
        f"Part 2: async throughput, {sessions} concurrent sessions x {turns} turns "
        f"(each session starts with {SEED_MESSAGES} messages), {rounds} rounds, turns/s (higher is better)"
    )
    print()
    results: dict[str, list[Round]] = {}
    skipped = []
    labels = {c.key: c.label for c in ASYNC_SYSTEMS}
    notes = {c.key: c.note for c in ASYNC_SYSTEMS}
    chosen = []
    for cls in select(ASYNC_SYSTEMS, wanted):
        why = unavailable(cls.tags, cls.key) or (
            aiosqlite_why if cls is AsyncCommunitySql else None
        )
        if why:
            skipped.append(f"  skipped {cls.label}: {why}")
            continue
        chosen.append(cls)
        results[cls.key] = []
    for _ in range(rounds):  # round 1 of every system, then round 2, ...: drift hits all alike
        for cls in chosen:
            results[cls.key].append(run_async(cls(ctx, corpus), sessions, turns))

    def median_tps(key: str) -> float | None:
        ok = [r.turns_per_s for r in results.get(key, []) if r.turns_per_s is not None]
        return statistics.median(ok) if ok else None

    floor_of = {
        "ours-sqlite": "floor-sqlite",
        "ours-redis": "floor-redis",
        "floor-sqlite-apart": "floor-sqlite",
        "floor-redis-apart": "floor-redis",
        "community-sql": "floor-sqlite",
        "community-redis": "floor-redis",
        "ours-pg": "floor-pg",
    }
    rows = []
    for key, rs in results.items():
        failed = sum(r.turns_per_s is None for r in rs)
        rounds_txt = " ".join(
            "fail" if r.turns_per_s is None else f"{r.turns_per_s:.0f}" for r in rs
        )
        floor = floor_of.get(key)
        rows.append(
            [
                labels[key],
                "-" if median_tps(key) is None else f"{median_tps(key):.0f}",
                rounds_txt,
                fmt_ratio(ratio(median_tps(key), median_tps(floor))) if floor in results else "-",
                f"{failed}/{len(rs)}",
                notes[key],
            ]
        )
    print(table(["system", "turns/s median", "rounds", "vs floor", "failed rounds", "note"], rows))
    for key, rs in results.items():
        for i, r in enumerate(rs, 1):
            if r.error:
                print(f"  {labels[key]} round {i} failed: {r.error}")
    for line in skipped:
        print(line)
    print()

    for engine, ours_key, floor_key in (
        ("SQLite", "ours-sqlite", "floor-sqlite"),
        ("Redis", "ours-redis", "floor-redis"),
        ("PostgreSQL", "ours-pg", "floor-pg"),
    ):
        if ours_key not in results or floor_key not in results:
            continue
        o, f = median_tps(ours_key), median_tps(floor_key)
        failed = sum(r.turns_per_s is None for r in results[ours_key])
        r = ratio(o, f)
        ok = r is not None and r >= 0.7 and failed == 0
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  async ours {engine} >= 0.7x floor, 0 failed rounds: "
            f"{fmt_ratio(r)} ({'-' if o is None else f'{o:.0f}'} vs {'-' if f is None else f'{f:.0f}'} "
            f"turns/s), {failed}/{len(results[ours_key])} failed rounds"
        )
        apart = floor_key + "-apart"
        if apart in results and median_tps(apart) is not None and o is not None:
            verdicts.append(
                f"info  async ours {engine} / floor read-then-write: {fmt_ratio(ratio(o, median_tps(apart)))} "
                f"({o:.0f} vs {median_tps(apart):.0f} turns/s)"
            )
    for key in ("community-sql", "community-redis"):
        if key in results:
            failed = sum(r.turns_per_s is None for r in results[key])
            m = median_tps(key)
            verdicts.append(
                f"info  async {labels[key]}: {'-' if m is None else f'{m:.0f}'} turns/s, "
                f"{failed}/{len(results[key])} failed rounds"
            )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - print and still exit 0 is wrong for a crash: say so
        traceback.print_exc()
        sys.exit(1)
