"""The asyncio connections of one event loop, reused from call to call (no background tasks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

_IDLE = psycopg.pq.TransactionStatus.IDLE


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

    async def getconn(self) -> psycopg.AsyncConnection[Any]:
        """An idle connection, or a new one while fewer than ``max_size`` are lent; the
        timeout's task is paid only when every connection is lent."""
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), self.timeout)
            except asyncio.TimeoutError as exc:
                raise PoolTimeout(f"no connection free within {self.timeout} s") from exc
        else:
            await self._slots.acquire()  # returns at once
        try:
            if self._idle:
                return self._idle.pop()
            return await psycopg.AsyncConnection.connect(self.conninfo, **self.kwargs)
        except BaseException:
            self._slots.release()
            raise

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Take ``conn`` back; one left mid-transaction or broken is closed, never lent again."""
        try:
            if not conn.closed and conn.pgconn.transaction_status == _IDLE:
                self._idle.append(conn)
            elif not conn.closed:
                await conn.close()
        finally:
            self._slots.release()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self.getconn()
        try:
            yield conn
        finally:
            await self.putconn(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
