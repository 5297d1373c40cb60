"""Connections to one SQLite database, shared by the chat-history engine and the checkpointer.

A small pool: a caller borrows an idle connection (WAL, ``synchronous=NORMAL``, a busy timeout,
autocommit) and gives it back, so short-lived worker threads (LangGraph starts a pool per run)
reuse connections instead of opening one each. ``:memory:`` is one private database per
connection, so there everyone shares a single connection behind a lock. Writes go through
:meth:`SqliteConnections.transaction`, a ``BEGIN IMMEDIATE`` that queues writers from threads
and processes on the busy timeout instead of failing with ``database is locked``; a transaction
opened inside another one of the same thread is a savepoint of it (how a group commit nests the
appends it batches). Async callers go through :meth:`SqliteConnections.lane`.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from contextlib import AbstractContextManager

from ...errors import ConfigurationError, EngineUnavailableError
from .lane import Lane
from .statements import (
    BEGIN,
    COMMIT,
    FILE_PRAGMAS,
    PRAGMAS,
    RELEASE,
    ROLLBACK,
    ROLLBACK_TO,
    SAVEPOINT,
    WAL_TRUNCATE,
)

MEMORY = ":memory:"
_LANES = itertools.count(1)  # lane thread names: one per database a process opened


def database_path(url: str) -> str:
    """SQLAlchemy's convention: ``sqlite://`` is in-memory, ``sqlite:///rel.db`` and
    ``sqlite:////abs.db`` are files."""
    rest = url[len("sqlite://") :]
    if rest in ("", "/", "/:memory:"):
        return MEMORY
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    return rest[1:]


class SqliteConnections:
    def __init__(self, path: str, *, busy_timeout: float = 30.0):
        self.path = path
        self.busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._local = threading.local()  # the connection this thread holds, for nested blocks
        self._all: list[sqlite3.Connection] = []
        self._registry = threading.Lock()
        self._shared_lock = threading.RLock() if path == MEMORY else None
        self._closed = False
        self._lane: Lane | None = None
        self._lane_lock = threading.Lock()  # taken once, when the first async call makes the lane
        self._writer = threading.RLock()  # held from BEGIN to COMMIT by this process's writers

    def connect(self) -> sqlite3.Connection:
        """A new connection with these settings."""
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            for pragma in PRAGMAS + (FILE_PRAGMAS if self.path != MEMORY else ()):
                conn.execute(pragma)
        except sqlite3.Error as exc:
            raise EngineUnavailableError(
                f"cannot open SQLite database {self.path!r}: {exc}"
            ) from exc
        return conn

    def _borrow(self) -> sqlite3.Connection:
        with self._registry:
            if self._closed:
                raise ConfigurationError(
                    f"the connections to {self.path!r} are closed (its store or checkpointer was closed): open a new one"
                )
            if self._shared_lock is not None and self._all:
                return self._all[0]
            if self._idle:
                return self._idle.pop()
        conn = self.connect()
        with self._registry:
            self._all.append(conn)
        return conn

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # a block that failed mid-statement: never lend a dirty connection
            conn.execute(ROLLBACK)
        with self._registry:
            if self._closed:
                conn.close()
            else:
                self._idle.append(conn)

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection for this block (the shared one, locked, for ``:memory:``).

        Nested blocks in one thread get the same connection, so they see its transaction.
        """
        return _Use(self)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, rolled back if the block raises.

        Inside a transaction of the same thread it is a savepoint instead: the block's writes
        are undone alone if it raises, and become durable with the outer transaction.
        """
        return _Transaction(self)

    def lane(self) -> Lane:
        """The thread that runs this database's async calls (made on first use, and again in a
        forked child, where the parent's thread does not exist)."""
        lane = self._lane
        if lane is not None and lane.pid == os.getpid():
            return lane
        if self._closed:
            raise ConfigurationError(
                f"the connections to {self.path!r} are closed (its store or checkpointer was closed): open a new one"
            )
        with self._lane_lock:
            if self._lane is None or self._lane.pid != os.getpid():
                name = f"sessionmem-sqlite-{next(_LANES)}:{os.path.basename(self.path)}"
                self._lane = Lane(self, name=name)
            return self._lane

    def truncate_wal(self) -> None:
        """Checkpoint the WAL into the file and truncate it (after an erase); no-op in memory."""
        if self.path == MEMORY:
            return
        with self.connection() as conn:
            conn.execute(WAL_TRUNCATE).fetchall()

    def close(self) -> None:
        """Close idle connections now and borrowed ones when they come back."""
        with self._registry:
            self._closed = True
            busy = [c for c in self._all if c not in self._idle]
            for conn in self._idle:
                conn.close()
            self._idle.clear()
            self._all = busy if self._shared_lock is None else []
        if self._shared_lock is not None:
            for conn in busy:
                conn.close()


class _Use:
    """The block of :meth:`SqliteConnections.connection` (a class: a generator-based context
    manager costs more than the statements of a short read)."""

    __slots__ = ("_conn", "_pool", "_returns")

    def __init__(self, pool: SqliteConnections) -> None:
        self._pool = pool

    def __enter__(self) -> sqlite3.Connection:
        pool = self._pool
        lock = pool._shared_lock
        if lock is not None:  # :memory: one connection, one thread at a time
            lock.acquire()
            try:
                self._conn = pool._borrow()
            except BaseException:
                lock.release()
                raise
            self._returns = False
            return self._conn
        conn = getattr(pool._local, "conn", None)
        self._returns = conn is None
        if conn is None:
            conn = pool._local.conn = pool._borrow()
        self._conn = conn
        return conn

    def __exit__(self, *exc: object) -> None:
        pool = self._pool
        if pool._shared_lock is not None:
            pool._shared_lock.release()
        elif self._returns:
            pool._local.conn = None
            pool._give_back(self._conn)


class _Transaction(_Use):
    """The block of :meth:`SqliteConnections.transaction`: BEGIN IMMEDIATE, or a savepoint when
    the thread's connection is already in a transaction.

    Writers of this process queue on a lock before BEGIN: one that finds SQLite's write lock
    taken would poll it in sleeps of whole milliseconds (the busy handler), while the lock wakes
    it the moment the other commits. Other processes still meet on the busy timeout.
    """

    __slots__ = ("_locked", "_nested")

    def __enter__(self) -> sqlite3.Connection:
        conn = super().__enter__()
        self._locked = False
        try:
            self._nested = conn.in_transaction
            if self._nested:
                conn.execute(SAVEPOINT)
            else:
                pool = self._pool
                if pool._shared_lock is None:
                    self._locked = pool._writer.acquire(timeout=pool.busy_timeout)
                conn.execute(BEGIN)
        except BaseException:
            self._unlock()
            super().__exit__(None, None, None)
            raise
        return conn

    def __exit__(self, kind: type | None, *exc: object) -> None:
        conn = self._conn
        try:
            if kind is None:
                conn.execute(RELEASE if self._nested else COMMIT)
            elif conn.in_transaction:  # else SQLite already rolled it all back (full disk, ...)
                if self._nested:
                    conn.execute(ROLLBACK_TO)
                    conn.execute(RELEASE)
                else:
                    conn.execute(ROLLBACK)
        finally:
            self._unlock()
            super().__exit__(kind, *exc)

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            self._pool._writer.release()
