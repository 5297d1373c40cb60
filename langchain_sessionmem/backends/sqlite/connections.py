"""Connections to one SQLite database, shared by the chat-history engine and the checkpointer.

A small pool: a caller borrows an idle connection (WAL, ``synchronous=NORMAL``, a busy timeout,
autocommit) and gives it back, so short-lived worker threads (LangGraph starts a pool per run)
reuse connections instead of opening one each. ``:memory:`` is one private database per
connection, so there everyone shares a single connection behind a lock. Writes go through
:meth:`SqliteConnections.transaction`, a ``BEGIN IMMEDIATE`` that queues writers from threads
and processes on the busy timeout instead of failing with ``database is locked``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import ConfigurationError, EngineUnavailableError
from .statements import BEGIN, COMMIT, FILE_PRAGMAS, PRAGMAS, ROLLBACK, WAL_TRUNCATE

MEMORY = ":memory:"


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

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for this block (the shared one, locked, for ``:memory:``).

        Nested blocks in one thread get the same connection, so they see its transaction.
        """
        if self._shared_lock is not None:
            with self._shared_lock:
                yield self._borrow()
            return
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._local.conn = self._borrow()
        try:
            yield conn
        finally:
            self._local.conn = None
            self._give_back(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, rolled back if the block raises."""
        with self.connection() as conn:
            conn.execute(BEGIN)
            try:
                yield conn
            except BaseException:
                conn.execute(ROLLBACK)
                raise
            conn.execute(COMMIT)

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
