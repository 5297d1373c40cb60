"""Connections to one PostgreSQL database, shared by the chat-history engine and the checkpointer.

A sync ``psycopg_pool.ConnectionPool`` (or the caller's), and per event loop a small set of asyncio
connections reused from call to call (or the caller's ``AsyncConnectionPool``). Every connection is
lent in autocommit, so none is ever left idle in transaction. The engine and the saver each pass
their schema (versioned migrations) with their plans; it is applied once per process, before the
first of them, so a store used only as a checkpointer makes no chat tables and the reverse. Errors
that mean "cannot reach the server" become :class:`EngineUnavailableError` with the password
redacted, here and only here.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, NoReturn, Protocol, TypeVar

from ..._steps import Steps, adrive, drive
from ...errors import ConfigurationError, EngineUnavailableError
from .._loops import PerLoop
from ..base import redacted
from .queries import Plan, Query

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.rows import tuple_row
    from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout
except ImportError as exc:  # the backend is imported only when a PostgreSQL store is asked for
    raise ConfigurationError(
        "the PostgreSQL backend needs psycopg 3 and psycopg-pool: "
        "pip install 'langchain-sessionmem[postgres]'"
    ) from exc

from .lending import (  # noqa: E402 - psycopg is there (checked above)
    Interrupted,
    Request,
    aperform,
    perform,
    statements,
    transaction,
    unprepared,
)
from .loop_pool import LoopConnections  # noqa: E402

T = TypeVar("T")


class Schema(Protocol):
    """Tables a component needs (``migrations.MigrationPlans``): ``plan()`` applies what is missing."""

    def plan(self) -> Plan[Any]: ...


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


_CURSOR = "_sessionmem_cursor"


def _cursor(conn: Any) -> Any:
    """The connection's cursor for our statements, made once: a fresh cursor per statement
    would redo its adapter lookups. A connection serves one caller at a time, so does this."""
    cur = getattr(conn, _CURSOR, None)
    if cur is None or cur.closed:
        cur = conn.cursor(row_factory=tuple_row)
        setattr(conn, _CURSOR, cur)
    return cur


class PostgresConnections:
    """Pools for a conninfo (URL or ``key=value``), or the caller's own pools (never closed here).

    :meth:`run` / :meth:`arun` drive a plan on one pooled connection, in autocommit or, with
    ``write=True``, inside one transaction.
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        apool: AsyncConnectionPool[Any] | None = None,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout: float = 30.0,
        prepare: bool = True,
    ):
        if conninfo is None and pool is None and apool is None:
            raise ConfigurationError(
                "PostgreSQL needs a conninfo (postgresql://...) or a psycopg_pool pool"
            )
        self.conninfo = conninfo
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": pool_timeout,
        }
        self._kwargs = _default_kwargs(conninfo)
        # False for servers behind a pooler that cannot keep prepared statements (pgbouncer in
        # transaction mode before 1.21): then no statement is ever prepared.
        self.prepare = prepare
        self._pool = pool
        self._apool = apool
        self._owns_pools = conninfo is not None
        self._loop_pools: PerLoop[LoopConnections] = PerLoop(self._new_loop_pool)
        self._lock = threading.Lock()
        self._ready: set[Schema] = set()
        self._closed = False

    # -- schemas ---------------------------------------------------------------------------
    def _pending(self, schema: Schema | None) -> bool:
        return schema is not None and schema not in self._ready

    def _setting_up(self, conn: Any, schema: Schema | None) -> Steps[Request, None]:
        """Apply ``schema``'s migrations once per process, in one transaction, before its plans."""
        if self._pending(schema):
            assert schema is not None
            yield from transaction(_cursor(conn), schema.plan(), unprepared)
            self._ready.add(schema)

    def _set_up(self, conn: psycopg.Connection[Any], schema: Schema | None) -> None:
        drive(self._setting_up(conn, schema), perform)

    async def _aset_up(self, conn: psycopg.AsyncConnection[Any], schema: Schema | None) -> None:
        await adrive(self._setting_up(conn, schema), aperform)

    def set_up(self, schema: Schema) -> None:
        """Apply ``schema`` now (``saver.setup()``); a no-op once done in this process."""
        with self.connection(schema):
            pass

    async def aset_up(self, schema: Schema) -> None:
        async with self.aconnection(schema):
            pass

    def _prepare(self, query: Query) -> bool | None:
        """psycopg's ``prepare``: hot statements at once, others by the connection's threshold;
        never with ``prepare=False``."""
        if not self.prepare:
            return False
        return True if query.prepare else None

    # -- errors ----------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return describe(self.conninfo) if self.conninfo else "the given psycopg pool"

    def _unavailable(self, exc: BaseException) -> EngineUnavailableError:
        detail = str(exc)
        password = conninfo_to_dict(self.conninfo).get("password") if self.conninfo else None
        if password:
            detail = detail.replace(str(password), "***")
        return EngineUnavailableError(
            f"cannot reach PostgreSQL at {self.where}: {detail}. Check that the server is "
            "running and the URL is right; nothing was written by this call unless it had "
            "already reached the server"
        )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Map "cannot reach the server" failures and closed pools to typed errors."""
        try:
            yield
        except Exception as exc:
            self._raise_typed(exc)

    def _typed(self, exc: Exception) -> Exception:
        """The typed error of a failure (see :meth:`guard`), or ``exc`` itself."""
        if isinstance(exc, PoolClosed):
            return self._closed_error()
        return self._unavailable(exc) if _unreachable(exc) else exc

    def _raise_typed(self, exc: Exception) -> NoReturn:
        """Raise the typed error of ``exc`` from it, or ``exc`` itself when it has none (what
        :meth:`guard` does, inline in :meth:`run` and :meth:`arun`: a context manager costs a
        few microseconds)."""
        if isinstance(exc, Interrupted):  # cleaned up: the cancellation goes on as itself
            raise exc.cause from None
        typed = self._typed(exc)
        if typed is exc:
            raise exc
        raise typed from exc

    def _closed_error(self) -> ConfigurationError:
        return ConfigurationError(
            f"the PostgreSQL pools of {self.where} are closed (its store was closed): "
            "open a new store"
        )

    def _no_pool(self, flavour: str) -> ConfigurationError:
        return ConfigurationError(
            f"this store was built from a single psycopg pool and has no {flavour} pool; pass "
            "both pool= and apool= to SessionStore.from_pool to use sync and async methods"
        )

    # -- sync ------------------------------------------------------------------------------
    @property
    def pool(self) -> ConnectionPool[Any]:
        """The sync pool, made on first use."""
        return self._sync_pool(None)

    def _sync_pool(self, schema: Schema | None) -> ConnectionPool[Any]:
        """The sync pool; when made here with ``schema`` pending, that runs first on a direct
        connection, so a dead server fails fast instead of after the pool's timeout."""
        if self._closed:
            raise self._closed_error()
        if self._pool is None:
            if self.conninfo is None:
                raise self._no_pool("sync")
            with self._lock:
                if self._pool is None:
                    if self._pending(schema):
                        with self.guard(), psycopg.connect(self.conninfo, **self._kwargs) as conn:
                            self._set_up(conn, schema)
                    self._pool = ConnectionPool(
                        self.conninfo,
                        kwargs=self._kwargs,
                        open=True,
                        name="sessionmem",
                        **self._pool_options,
                    )
        return self._pool

    @contextmanager
    def connection(self, schema: Schema | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection (one that is not is switched for the block), after
        ``schema``'s migrations."""
        pool = self._sync_pool(schema)
        with self.guard(), pool.connection() as conn:
            restore = not conn.autocommit
            conn.autocommit = True
            self._set_up(conn, schema)
            try:
                yield conn
            finally:
                if restore and not conn.closed:
                    conn.autocommit = False

    def run(self, plan: Plan[T], *, write: bool = False, schema: Schema | None = None) -> T:
        """Drive ``plan`` on a pooled connection: in autocommit, or as one transaction; the
        tables of ``schema`` are made first if this process has not seen them yet.

        The hot path of every call: a bare ``getconn`` / ``putconn`` (no context managers of
        the pool) around :meth:`_lent`, the steps both twins share."""
        pool = self._sync_pool(schema)
        try:
            conn = pool.getconn()
            try:
                return drive(self._lent(conn, plan, write, schema), perform)
            finally:
                pool.putconn(conn)
        except Exception as exc:
            self._raise_typed(exc)

    def _lent(
        self, conn: Any, plan: Plan[T], write: bool, schema: Schema | None
    ) -> Steps[Request, T]:
        """One call on a lent connection as requests: autocommit on (a caller's connection may
        be out of it), ``schema``'s migrations if still pending, ``plan`` (one transaction with
        ``write``) on the connection's own cursor, then autocommit as it was."""
        restore = not conn.autocommit
        if restore:
            yield partial(conn.set_autocommit, True)
        try:
            if self._pending(schema):
                yield from self._setting_up(conn, schema)
            run = transaction if write else statements
            return (yield from run(_cursor(conn), plan, self._prepare))
        finally:
            if restore and not conn.closed:
                yield partial(conn.set_autocommit, False)

    # -- async -----------------------------------------------------------------------------
    def _new_loop_pool(self) -> LoopConnections:
        assert self.conninfo is not None
        return LoopConnections(
            self.conninfo,
            self._kwargs,
            max_size=self._pool_options["max_size"],
            timeout=self._pool_options["timeout"],
        )

    async def apool(
        self, schema: Schema | None = None
    ) -> AsyncConnectionPool[Any] | LoopConnections:
        """The given async pool, or this event loop's connections (``schema`` applied first on
        a direct connection when they are made here)."""
        if self._closed:
            raise self._closed_error()
        if self._apool is not None:
            return self._apool
        if self.conninfo is None:
            raise self._no_pool("async")
        if self._loop_pools.peek() is None and self._pending(schema):
            with self.guard():
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, **self._kwargs
                ) as conn:
                    await self._aset_up(conn, schema)
        return self._loop_pools.get()

    @asynccontextmanager
    async def aconnection(
        self, schema: Schema | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The asyncio twin of :meth:`connection`."""
        pool = await self.apool(schema)
        with self.guard():
            async with pool.connection() as conn:
                restore = not conn.autocommit
                await conn.set_autocommit(True)
                await self._aset_up(conn, schema)
                try:
                    yield conn
                finally:
                    if restore and not conn.closed:
                        await conn.set_autocommit(False)

    async def arun(self, plan: Plan[T], *, write: bool = False, schema: Schema | None = None) -> T:
        """The asyncio twin of :meth:`run`, on this loop's connections or the given pool."""
        pool = await self.apool(schema)
        try:
            conn = await pool.getconn()
            try:
                return await adrive(self._lent(conn, plan, write, schema), aperform)
            finally:
                await pool.putconn(conn)
        except Exception as exc:
            self._raise_typed(exc)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the pools this object made (a given pool stays its owner's to close)."""
        self._closed = True
        if self._owns_pools and self._pool is not None:
            self._pool.close()
        self._pool = None

    async def aclose(self) -> None:
        """Close this event loop's connections (and the sync pool) when this object made them."""
        if self._owns_pools:
            pool = self._loop_pools.pop()
            if pool is not None:
                await pool.close()
        self.close()
