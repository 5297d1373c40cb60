"""Connections to one SQLite database, shared by the chat-history engine and the checkpointer.

Each thread keeps its own connection (WAL, ``synchronous=NORMAL``, a busy timeout, autocommit),
so readers never wait for writers; ``:memory:`` is one private database per connection, so
there all threads share a single connection behind a lock. Writes go through
:meth:`SqliteConnections.transaction`, a ``BEGIN IMMEDIATE`` that queues writers from threads
and processes on the busy timeout instead of failing with ``database is locked``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigurationError, EngineUnavailableError

MEMORY = ":memory:"


class SqliteConnections:
    def __init__(self, path: str, *, busy_timeout: float = 30.0):
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._registry = threading.Lock()
        self._shared_lock = threading.RLock() if path == MEMORY else None
        self._closed = False

    def connect(self) -> sqlite3.Connection:
        """A new connection with these settings."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path != MEMORY:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise EngineUnavailableError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        return conn

    def _mine(self) -> sqlite3.Connection:
        if self._closed:
            raise ConfigurationError(
                f"the connections to {self.path!r} are closed (its store or checkpointer was closed): open a new one"
            )
        if self._shared_lock is not None and self._all:
            return self._all[0]
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._registry:
                self._all.append(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (the shared one, locked, for ``:memory:``)."""
        if self._shared_lock is None:
            yield self._mine()
            return
        with self._shared_lock:
            yield self._mine()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, rolled back if the block raises."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._registry:
            for conn in self._all:
                conn.close()
            self._all.clear()
