"""Server engine on PostgreSQL through psycopg 3, with sync and asyncio connection pools.

Same tables and semantics as the SQLite engine, under ``"<namespace>_sessions"`` and
``"<namespace>_messages"``: ids are plain text, reading the last K messages is one indexed query
``ORDER BY seq DESC LIMIT K``, and an append is one statement whose session upsert takes the
session's row lock and reserves the positions before the inserts, so concurrent writers queue
instead of colliding. Everything runs in autocommit except the rare multi-statement writes
(restarting an expired session, compare-and-set), which are short explicit transactions, so no
connection is ever left idle in transaction.

Every operation is a plan: a generator that yields :class:`Query` objects and receives their
rows. The plans (with the SQL and the decoders) are shared; the sync and async executors that
drive them over ``psycopg.Connection`` / ``psycopg.AsyncConnection`` are a few lines each.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from ..codec import EncodedMessage
from ..errors import ConfigurationError, EngineUnavailableError

try:
    import psycopg
    import psycopg.errors
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.rows import tuple_row
    from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout
except ImportError as exc:  # the engine is imported only when a PostgreSQL store is asked for
    raise ConfigurationError(
        "the PostgreSQL engine needs psycopg 3 and psycopg-pool: pip install 'langchain-sessionmem[postgres]'"
    ) from exc
from .base import Record, SessionInfo, SessionKey, redacted, sql_params, stored_user, unique_new

T = TypeVar("T")
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently, so two tables could collide
_LONGEST_SUFFIX = "_sessions_expiry"
_UNIQUE_RETRIES = 5

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS "{ns}_sessions" (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    message_count BIGINT NOT NULL DEFAULT 0,
    state_version BIGINT NOT NULL DEFAULT 0,
    state BYTEA,
    UNIQUE (user_id, session_id)
)""",
    """CREATE INDEX IF NOT EXISTS "{ns}_sessions_expiry" ON "{ns}_sessions" (expires_at)
    WHERE expires_at IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS "{ns}_messages" (
    session_pk BIGINT NOT NULL REFERENCES "{ns}_sessions" (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (session_pk, seq)
)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_messages_id" ON "{ns}_messages" (session_pk, message_id)""",
)

LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"
Fetch = Literal["none", "all"]


@dataclass(frozen=True)
class Query:
    """One statement of a plan; ``fetch="all"`` sends the pipeline and returns its rows."""

    sql: str
    params: dict[str, Any] | None = None
    fetch: Fetch = "none"


Plan = Generator[Query, Any, T]


class Statements:
    """The SQL of one namespace, built once; no I/O here."""

    def __init__(self, ns: str):
        if len(f"{ns}{_LONGEST_SUFFIX}".encode()) > MAX_IDENTIFIER:
            longest = MAX_IDENTIFIER - len(_LONGEST_SUFFIX)
            raise ConfigurationError(
                f"namespace {ns!r} is too long for PostgreSQL table names: use at most {longest} characters"
            )
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        self.schema = [statement.format(ns=ns) for statement in SCHEMA]
        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in pg_type: serialize them.
        digest = hashlib.blake2b(f"sessionmem schema {ns}".encode(), digest_size=8).digest()
        self.schema_lock = (
            f"SELECT pg_advisory_xact_lock({int.from_bytes(digest, 'big', signed=True)})"
        )
        self.drop_expired_one = f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND expires_at <= %(now)s"
        # Creates or refreshes the session; the conflict path takes the row lock, so writers of one
        # session queue here, each reserving its %(n)s positions after the last writer's.
        self.touch = (
            f"INSERT INTO {s} AS s (user_id, session_id, created_at, updated_at, expires_at, message_count) "
            "VALUES (%(user)s, %(sid)s, %(now)s, %(now)s, %(expires)s, %(n)s) "
            "ON CONFLICT (user_id, session_id) DO UPDATE SET updated_at = EXCLUDED.updated_at, "
            "expires_at = EXCLUDED.expires_at, message_count = s.message_count + EXCLUDED.message_count"
        )
        # The touch and the inserts as one statement (one round trip, atomic on its own). An expired
        # session is left alone (its row locked, nothing written) and the count is 0: the caller then
        # drops it with drop_expired_one and runs this again, both in one transaction.
        self.append = (
            f"WITH session AS ({self.touch} WHERE s.expires_at IS NULL OR s.expires_at > %(now)s "
            "RETURNING id, message_count), "
            f"added AS (INSERT INTO {m} (session_pk, seq, message_id, data) "
            "SELECT session.id, session.message_count - %(n)s + new.ord, new.message_id, new.data "
            "FROM session, unnest(%(ids)s::text[], %(datas)s::bytea[]) WITH ORDINALITY AS new(message_id, data, ord)) "
            "SELECT count(*) FROM session"
        )
        session_of = (
            f"SELECT id FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        )
        self.known_ids = f"SELECT message_id FROM {m} WHERE session_pk = ({session_of}) AND message_id = ANY(%(ids)s)"
        self.tail = f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) ORDER BY seq DESC LIMIT %(k)s"
        self.range = (
            f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) "
            "AND seq >= %(start)s AND seq < %(end)s ORDER BY seq"
        )
        self.refresh = f"UPDATE {s} SET expires_at = %(expires)s WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.count = f"SELECT message_count FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.get_state = f"SELECT state_version, state FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.cas_state = (
            f"UPDATE {s} SET state = %(data)s, state_version = state_version + 1 "
            "WHERE user_id = %(user)s AND session_id = %(sid)s AND state_version = %(expected)s RETURNING 1"
        )
        # Deletes report only live sessions, like Redis where expired ones are already gone.
        self.delete_session = (
            f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s RETURNING {LIVE}"
        )
        self.list_sessions = (
            f"SELECT session_id, created_at, updated_at, message_count, expires_at FROM {s} "
            f"WHERE user_id = %(user)s AND {LIVE} ORDER BY updated_at DESC"
        )
        self.delete_user = f"DELETE FROM {s} WHERE user_id = %(user)s RETURNING {LIVE}"
        self.purge_expired = f"WITH gone AS (DELETE FROM {s} WHERE expires_at <= %(now)s RETURNING 1) SELECT count(*) FROM gone"


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Lost(Exception):
    """A compare-and-set found another version; raised inside the transaction to roll it back."""


class Plans:
    """Every operation as a plan of queries plus the decoding of their rows; no I/O here."""

    def __init__(self, sql: Statements, ttl: float | None, refresh_on_read: bool):
        self.sql = sql
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None

    def _expires(self, now: datetime) -> datetime | None:
        return None if self.ttl is None else now + timedelta(seconds=self.ttl)

    def schema(self) -> Plan[None]:
        yield Query(self.sql.schema_lock)
        for statement in self.sql.schema:
            yield Query(statement)

    # -- writes ----------------------------------------------------------------------------
    def append(
        self, key: SessionKey, messages: Sequence[EncodedMessage], *, restart: bool = False
    ) -> Plan[int | None]:
        """Appends in one statement; ``None`` when the session had expired, so the caller runs the
        plan again with ``restart=True`` in a transaction, which first drops the expired session."""
        now = _now()
        if restart:
            yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        fresh = list(messages)
        if not all(m.generated for m in messages):  # ids made by this call need no lookup
            rows = yield Query(
                self.sql.known_ids, sql_params(key, now=now, ids=[m.id for m in messages]), "all"
            )
            fresh = unique_new(messages, {row[0] for row in rows})
        rows = yield Query(
            self.sql.append,
            sql_params(
                key,
                now=now,
                expires=self._expires(now),
                n=len(fresh),
                ids=[m.id for m in fresh],
                datas=[m.data for m in fresh],
            ),
            "all",
        )
        return len(fresh) if rows[0][0] else None

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> Plan[bool]:
        """Start the session afresh if it expired, touch it, then swap the state or roll back."""
        now = _now()
        yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        yield Query(self.sql.touch, sql_params(key, now=now, expires=self._expires(now), n=0))
        rows = yield Query(
            self.sql.cas_state, sql_params(key, data=data, expected=expected_version), "all"
        )
        if not rows:
            raise _Lost  # rolls the touch back too
        return True

    def delete_session(self, key: SessionKey) -> Plan[bool]:
        rows = yield Query(self.sql.delete_session, sql_params(key, now=_now()), "all")
        return any(live for (live,) in rows)

    def delete_user(self, user_id: str | None) -> Plan[int]:
        rows = yield Query(
            self.sql.delete_user, {"user": stored_user(user_id), "now": _now()}, "all"
        )
        return sum(bool(live) for (live,) in rows)

    def purge_expired(self) -> Plan[int]:
        rows = yield Query(self.sql.purge_expired, {"now": _now()}, "all")
        return int(rows[0][0])

    # -- reads (autocommit; with refresh_on_read the expiry slides in the same round trip) -
    def _read(self, key: SessionKey, sql: str, **extra: Any) -> Plan[list[tuple[Any, ...]]]:
        now = _now()
        if self.refresh_on_read and self.ttl is not None:
            yield Query(self.sql.refresh, sql_params(key, now=now, expires=self._expires(now)))
        rows = yield Query(sql, sql_params(key, now=now, **extra), "all")
        return rows

    def tail(self, key: SessionKey, k: int | None) -> Plan[list[Record]]:
        rows = yield from self._read(key, self.sql.tail, k=k)
        rows.reverse()
        return [(seq, bytes(data)) for seq, data in rows]

    def range(self, key: SessionKey, start: int, end: int | None) -> Plan[list[Record]]:
        rows = yield from self._read(
            key, self.sql.range, start=start, end=2**62 if end is None else end
        )
        return [(seq, bytes(data)) for seq, data in rows]

    def count(self, key: SessionKey) -> Plan[int]:
        rows = yield from self._read(key, self.sql.count)
        return int(rows[0][0]) if rows else 0

    def get_state(self, key: SessionKey) -> Plan[tuple[int, bytes | None]]:
        rows = yield from self._read(key, self.sql.get_state)
        if not rows:
            return 0, None
        version, data = rows[0]
        return int(version), None if data is None else bytes(data)

    def list_sessions(self, user_id: str | None) -> Plan[list[SessionInfo]]:
        rows = yield Query(
            self.sql.list_sessions, {"user": stored_user(user_id), "now": _now()}, "all"
        )
        return [
            SessionInfo(
                sid,
                user_id,
                _utc(created),
                _utc(updated),
                int(count),
                None if expires is None else _utc(expires),
            )
            for sid, created, updated, count, expires in rows
        ]


# -- where the server is, for errors ------------------------------------------------------
def describe(conninfo: str) -> str:
    """``conninfo`` (a URL or ``key=value`` string) without its password, for errors and logs."""
    if "://" in conninfo:
        return redacted(conninfo)
    try:
        fields = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "the given PostgreSQL conninfo"
    return make_conninfo("", **{k: ("***" if k == "password" else v) for k, v in fields.items()})


def _unreachable(exc: BaseException) -> bool:
    """A failure to reach the server (refused, dropped, shut down), not an error of a statement."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}
    return isinstance(exc, OSError)


def _default_kwargs(conninfo: str | None) -> dict[str, Any]:
    """Autocommit connections; a connect timeout and an application name unless the conninfo has them."""
    given = conninfo_to_dict(conninfo) if conninfo else {}
    kwargs: dict[str, Any] = {"autocommit": True}
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = 10
    if "application_name" not in given:
        kwargs["application_name"] = "sessionmem"
    return kwargs


# -- executors ------------------------------------------------------------------------------
def _drive(conn: psycopg.Connection[Any], plan: Plan[T]) -> T:
    try:
        query = next(plan)
        while True:
            cur = conn.cursor(row_factory=tuple_row)
            cur.execute(query.sql, query.params)
            query = plan.send(cur.fetchall() if query.fetch == "all" else None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _adrive(conn: psycopg.AsyncConnection[Any], plan: Plan[T]) -> T:
    try:
        query = next(plan)
        while True:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(query.sql, query.params)
            query = plan.send(await cur.fetchall() if query.fetch == "all" else None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class LoopConnections:
    """The asyncio connections of one event loop, reused from call to call.

    Unlike ``psycopg_pool.AsyncConnectionPool`` it runs no background tasks, so an event loop can
    end (``asyncio.run`` returning) with nothing left to shut down; connections of a finished loop
    are closed when it is garbage-collected or by :meth:`close`.
    """

    def __init__(self, conninfo: str, kwargs: dict[str, Any], *, max_size: int, timeout: float):
        self.conninfo = conninfo
        self.kwargs = kwargs
        self.timeout = timeout
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(max_size)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except asyncio.TimeoutError as exc:
            raise PoolTimeout(f"no connection free within {self.timeout} s") from exc
        try:
            conn = (
                self._idle.pop()
                if self._idle
                else await psycopg.AsyncConnection.connect(self.conninfo, **self.kwargs)
            )
            try:
                yield conn
            finally:
                clean = (
                    not conn.closed
                    and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                )
                if clean:
                    self._idle.append(conn)
                elif not conn.closed:
                    await conn.close()  # never lend a connection left mid-transaction or broken
        finally:
            self._slots.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


class PostgresEngine:
    """Chat history on PostgreSQL. Give a conninfo (URL or ``key=value``) to let the engine make
    its pools, or your own ``psycopg_pool`` pools (``pool`` sync, ``apool`` asyncio)."""

    kind = "postgres"

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        apool: AsyncConnectionPool[Any] | None = None,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout: float = 30.0,
    ):
        if conninfo is None and pool is None and apool is None:
            raise ConfigurationError(
                "PostgresEngine needs a conninfo (postgresql://...) or a psycopg_pool pool"
            )
        self.conninfo = conninfo
        self.ttl = ttl
        self.sql = Statements(namespace)
        self.plans = Plans(self.sql, ttl, refresh_on_read)
        self.refresh_on_read = self.plans.refresh_on_read
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": pool_timeout,
        }
        self._kwargs = _default_kwargs(conninfo)
        self._pool = pool
        self._apool = apool
        self._owns_pools = conninfo is not None
        # psycopg's asyncio connections belong to one event loop: each loop gets its own pool.
        self._loop_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopConnections] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._schema_ready = False
        self._closed = False

    @property
    def _where(self) -> str:
        return describe(self.conninfo) if self.conninfo else "the given psycopg pool"

    def _unavailable(self, exc: BaseException) -> EngineUnavailableError:
        detail = str(exc)
        password = conninfo_to_dict(self.conninfo).get("password") if self.conninfo else None
        if password:
            detail = detail.replace(str(password), "***")
        return EngineUnavailableError(
            f"cannot reach PostgreSQL at {self._where}: {detail}. Check that the server is running "
            "and the URL is right; nothing was written by this call unless it had already reached the server"
        )

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except PoolClosed as exc:
            raise self._closed_error() from exc
        except Exception as exc:
            if _unreachable(exc):
                raise self._unavailable(exc) from exc
            raise

    def _closed_error(self) -> ConfigurationError:
        return ConfigurationError(
            f"the PostgreSQL pools of {self._where} are closed (its store was closed): open a new store"
        )

    def _no_pool(self, flavour: str) -> ConfigurationError:
        return ConfigurationError(
            f"this store was built from a single psycopg pool and has no {flavour} pool; pass both pool= "
            "and apool= to SessionStore.from_pool to use sync and async methods"
        )

    # -- sync pool and executor ------------------------------------------------------------
    @property
    def pool(self) -> ConnectionPool[Any]:
        """The sync pool, made on first use (after the schema is created)."""
        if self._closed:
            raise self._closed_error()
        if self._pool is None:
            if self.conninfo is None:
                raise self._no_pool("sync")
            with self._lock:
                if self._pool is None:
                    if not self._schema_ready:  # one direct connection: a dead server fails fast
                        with self._guard(), psycopg.connect(self.conninfo, **self._kwargs) as conn:
                            self._create_schema(conn)
                    self._pool = ConnectionPool(
                        self.conninfo,
                        kwargs=self._kwargs,
                        open=True,
                        name="sessionmem",
                        **self._pool_options,
                    )
        return self._pool

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            _drive(conn, self.plans.schema())
        self._schema_ready = True

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection (a pool's connection that is not is switched for the block)."""
        pool = self.pool
        with self._guard(), pool.connection() as conn:
            restore = not conn.autocommit
            conn.autocommit = True
            if not self._schema_ready:
                self._create_schema(conn)
            try:
                yield conn
            finally:
                if restore and not conn.closed:
                    conn.autocommit = False

    def _run(self, plan: Plan[T], *, write: bool = False) -> T:
        """Drive ``plan`` on a pooled connection: in autocommit, or as one transaction for ``write``."""
        with self.connection() as conn, conn.transaction() if write else nullcontext():
            return _drive(conn, plan)

    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        restart = False
        for attempt in range(_UNIQUE_RETRIES):
            try:
                added = self._run(self.plans.append(key, messages, restart=restart), write=restart)
            except (
                psycopg.errors.UniqueViolation
            ):  # a concurrent writer stored the same message id first
                if attempt == _UNIQUE_RETRIES - 1:
                    raise
                continue
            if added is not None:
                return added
            restart = True  # the session had expired: start it afresh
        raise AssertionError("unreachable: a restarted session cannot be expired")

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        return self._run(self.plans.tail(key, k))

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return self._run(self.plans.range(key, start, end))

    def count(self, key: SessionKey) -> int:
        return self._run(self.plans.count(key))

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return self._run(self.plans.get_state(key))

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        try:
            return bool(self._run(self.plans.cas_state(key, expected_version, data), write=True))
        except _Lost:
            return False

    def delete_session(self, key: SessionKey) -> bool:
        return self._run(self.plans.delete_session(key), write=True)

    def list_sessions(self, user_id: str | None) -> list[SessionInfo]:
        return self._run(self.plans.list_sessions(user_id))

    def delete_user(self, user_id: str | None) -> int:
        return self._run(self.plans.delete_user(user_id), write=True)

    def purge_expired(self) -> int:
        return self._run(self.plans.purge_expired(), write=True)

    def close(self) -> None:
        """Close the pools this engine made (a given pool stays its owner's to close)."""
        self._closed = True
        if self._owns_pools and self._pool is not None:
            self._pool.close()
        self._pool = None

    # -- async pool and executor -----------------------------------------------------------
    async def apool(self) -> AsyncConnectionPool[Any] | LoopConnections:
        """The given async pool, or this event loop's connections, made on first use (after the schema)."""
        if self._closed:
            raise self._closed_error()
        if self._apool is not None:
            return self._apool
        if self.conninfo is None:
            raise self._no_pool("async")
        loop = asyncio.get_running_loop()
        pool = self._loop_pools.get(loop)
        if pool is None:
            if not self._schema_ready:
                with self._guard():
                    async with await psycopg.AsyncConnection.connect(
                        self.conninfo, **self._kwargs
                    ) as conn:
                        await self._acreate_schema(conn)
            pool = self._loop_pools.get(loop)  # another task may have made it meanwhile
            if pool is None:
                pool = self._loop_pools[loop] = LoopConnections(
                    self.conninfo,
                    self._kwargs,
                    max_size=self._pool_options["max_size"],
                    timeout=self._pool_options["timeout"],
                )
        return pool

    async def _acreate_schema(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await _adrive(conn, self.plans.schema())
        self._schema_ready = True

    @asynccontextmanager
    async def aconnection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The asyncio twin of :meth:`connection`."""
        pool = await self.apool()
        with self._guard():
            async with pool.connection() as conn:
                restore = not conn.autocommit
                await conn.set_autocommit(True)
                if not self._schema_ready:
                    await self._acreate_schema(conn)
                try:
                    yield conn
                finally:
                    if restore and not conn.closed:
                        await conn.set_autocommit(False)

    async def _arun(self, plan: Plan[T], *, write: bool = False) -> T:
        async with self.aconnection() as conn:
            if write:
                async with conn.transaction():
                    return await _adrive(conn, plan)
            return await _adrive(conn, plan)

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        restart = False
        for attempt in range(_UNIQUE_RETRIES):
            try:
                added = await self._arun(
                    self.plans.append(key, messages, restart=restart), write=restart
                )
            except psycopg.errors.UniqueViolation:
                if attempt == _UNIQUE_RETRIES - 1:
                    raise
                continue
            if added is not None:
                return added
            restart = True
        raise AssertionError("unreachable: a restarted session cannot be expired")

    async def atail(self, key: SessionKey, k: int | None) -> list[Record]:
        return await self._arun(self.plans.tail(key, k))

    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return await self._arun(self.plans.range(key, start, end))

    async def acount(self, key: SessionKey) -> int:
        return await self._arun(self.plans.count(key))

    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return await self._arun(self.plans.get_state(key))

    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        try:
            return bool(
                await self._arun(self.plans.cas_state(key, expected_version, data), write=True)
            )
        except _Lost:
            return False

    async def adelete_session(self, key: SessionKey) -> bool:
        return await self._arun(self.plans.delete_session(key), write=True)

    async def alist_sessions(self, user_id: str | None) -> list[SessionInfo]:
        return await self._arun(self.plans.list_sessions(user_id))

    async def adelete_user(self, user_id: str | None) -> int:
        return await self._arun(self.plans.delete_user(user_id), write=True)

    async def apurge_expired(self) -> int:
        return await self._arun(self.plans.purge_expired(), write=True)

    async def aclose(self) -> None:
        """Close this event loop's pool (and the sync pool) when the engine made them."""
        if self._owns_pools:
            pool = self._loop_pools.pop(asyncio.get_running_loop(), None)
            if pool is not None:
                await pool.close()
        self.close()
