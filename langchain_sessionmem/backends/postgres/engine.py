"""Chat history on PostgreSQL through psycopg 3: the plans of :mod:`.plans` on shared connections.

Same tables and semantics as the SQLite engine: reading the last K messages is one indexed query
``ORDER BY seq DESC LIMIT K``, and an append is one statement whose session upsert takes the
session's row lock and reserves the positions before the inserts, so concurrent writers queue
instead of colliding. Everything runs in autocommit except the rare multi-statement writes
(restarting an expired session, compare-and-set), which are short explicit transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg.errors

from ..._steps import Steps, adrive, drive
from ...errors import ConfigurationError
from ...records import EncodedMessage, Record, SessionInfo, SessionKey
from ..args import check_messages
from .connections import PostgresConnections
from .migrations import HISTORY, MigrationPlans
from .plans import Lost, Plans, encode_cursor
from .queries import Plan, Run
from .recall import PostgresRecall
from .statements import Statements

T = TypeVar("T")
_UNIQUE_RETRIES = 5
ORDERS = ("updated_desc",)


class PostgresEngine(PostgresRecall):
    """Sessions on PostgreSQL through :class:`PostgresConnections` (its pools, or the caller's)."""

    kind = "postgres"

    def __init__(
        self,
        connections: PostgresConnections,
        *,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.connections = connections
        self.namespace = namespace
        self.ttl = ttl
        self.sql = Statements(namespace)
        self.plans = Plans(self.sql, ttl, refresh_on_read, clock)
        self.refresh_on_read = self.plans.refresh_on_read
        self.migrations = MigrationPlans(namespace, "history", HISTORY)

    def _run(self, plan: Plan[T], write: bool = False) -> T:
        return self.connections.run(plan, write=write, schema=self.migrations)

    async def _arun(self, plan: Plan[T], write: bool = False) -> T:
        return await self.connections.arun(plan, write=write, schema=self.migrations)

    def _send(self, run: Run) -> Any:
        return self._run(run.plan, write=run.write)

    async def _asend(self, run: Run) -> Any:
        return await self._arun(run.plan, write=run.write)

    # -- the operations that take more than one plan ---------------------------------------
    def _append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> Steps[Run, int]:
        """Append in one statement; restart an expired session; retry a lost id race."""
        messages = check_messages(messages)  # a sequence of EncodedMessage, else a typed error
        restart = False
        indexed = bool(messages) and messages[0].index is not None  # a recall store
        if indexed:
            yield from self._ready()
        for attempt in range(_UNIQUE_RETRIES):
            try:
                plan = self.plans.append(key, messages, restart=restart)
                if indexed:  # the postings join the append's transaction
                    plan = self._recall_appended(plan, key, messages)
                added = yield Run(plan, restart or indexed)
            except psycopg.errors.UniqueViolation:  # a concurrent writer stored the id first
                if attempt == _UNIQUE_RETRIES - 1:
                    raise
                continue
            if added is not None:
                return added
            restart = True  # the session had expired: start it afresh
        raise AssertionError("unreachable: a restarted session cannot be expired")

    def _cas_state(self, key: SessionKey, expected: int, data: bytes) -> Steps[Run, bool]:
        try:
            return bool((yield Run(self.plans.cas_state(key, expected, data), write=True)))
        except Lost:
            return False

    # -- sync and async entry points -------------------------------------------------------
    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return drive(self._append(key, messages), self._send)

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return await adrive(self._append(key, messages), self._asend)

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return drive(self._cas_state(key, expected_version, data), self._send)

    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return await adrive(self._cas_state(key, expected_version, data), self._asend)

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        return self._run(self.plans.tail(key, k))

    async def atail(self, key: SessionKey, k: int | None) -> list[Record]:
        return await self._arun(self.plans.tail(key, k))

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return self._run(self.plans.range(key, start, end))

    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return await self._arun(self.plans.range(key, start, end))

    def count(self, key: SessionKey) -> int:
        return self._run(self.plans.count(key))

    async def acount(self, key: SessionKey) -> int:
        return await self._arun(self.plans.count(key))

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return self._run(self.plans.get_state(key))

    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return await self._arun(self.plans.get_state(key))

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        return self._run(self.plans.get_user_state(user_id))

    async def aget_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        return await self._arun(self.plans.get_user_state(user_id))

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        return self._run(self.plans.cas_user_state(user_id, expected_version, data))

    async def acas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        plan = self.plans.cas_user_state(user_id, expected_version, data)
        return await self._arun(plan)

    def delete_session(self, key: SessionKey) -> bool:
        return self._run(self.plans.delete_session(key), write=True)

    async def adelete_session(self, key: SessionKey) -> bool:
        return await self._arun(self.plans.delete_session(key), write=True)

    def pop(self, key: SessionKey, n: int) -> list[Record]:
        return self._run(self.plans.pop(key, n))

    async def apop(self, key: SessionKey, n: int) -> list[Record]:
        return await self._arun(self.plans.pop(key, n))

    def get_user_key(self, user_id: str) -> bytes | None:
        return self._run(self.plans.get_user_key(user_id))

    async def aget_user_key(self, user_id: str) -> bytes | None:
        return await self._arun(self.plans.get_user_key(user_id))

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        return self._run(self.plans.create_user_key(user_id, wrapped))

    async def acreate_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        return await self._arun(self.plans.create_user_key(user_id, wrapped))

    def list_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        """Live sessions, newest first; ``limit`` / ``after`` (see :meth:`cursor`) page them."""
        return self._run(self._listing(user_id, limit, after, order))

    async def alist_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        return await self._arun(self._listing(user_id, limit, after, order))

    def _listing(
        self, user_id: str | None, limit: int | None, after: str | None, order: str
    ) -> Plan[list[SessionInfo]]:
        """The plan of a page of :meth:`list_sessions` (an unknown ``order`` fails before I/O)."""
        if order not in ORDERS:
            raise ConfigurationError(
                f"list_sessions order {order!r} is not supported: use {ORDERS}"
            )
        return self.plans.list_sessions(user_id, limit, after)

    @staticmethod
    def cursor(info: SessionInfo) -> str:
        """The ``after=`` of the page that follows ``info`` (the last row of a page)."""
        return encode_cursor(info.updated_at, info.session_id)

    def delete_user(self, user_id: str | None) -> int:
        return self._run(self.plans.delete_user(user_id), write=True)

    async def adelete_user(self, user_id: str | None) -> int:
        return await self._arun(self.plans.delete_user(user_id), write=True)

    def purge_expired(self) -> int:
        return self._run(self.plans.purge_expired(), write=True)

    async def apurge_expired(self) -> int:
        return await self._arun(self.plans.purge_expired(), write=True)

    def close(self) -> None:
        self.connections.close()

    async def aclose(self) -> None:
        await self.connections.aclose()
