"""Direct connections for the hot path: one held per thread (sync), a free list per event loop,
never more than half the pool: the client's own commands (pipelines) keep the other half.

redis-py's command path takes a connection from the pool and gives it back on every command
(a lock, a poll of the socket, metrics hooks, a retry closure): about as much client time as the
round trip itself. A lane keeps connections of the same pool checked out and writes each
request, packed once, straight on one of them, with the connection's own retry policy (the
scripts sent this way are safe to repeat: appends skip ids already stored). Only clients this
package made get lanes; a caller's own client, and a cluster client, take the usual path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

try:  # hiredis packs a command in C; redis-py's asyncio connections pack in Python
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis ships with the redis extra
    _pack = None

_STALE = (RedisConnectionError, RedisTimeoutError, OSError)


Command = Sequence[Any]
"""A command as its arguments (str, bytes, int): ``("EVALSHA", sha, 1, key, 20)``."""


def pack(conn: Any, commands: Sequence[Command]) -> list[bytes]:
    """``commands`` as the chunks of one write to ``conn``."""
    if _pack is not None:
        return [b"".join([_pack(tuple(args)) for args in commands])]
    return conn.pack_commands(commands)  # type: ignore[no-any-return]


def _replies(replies: list[Any]) -> list[Any]:
    """``replies``, or the first error among them raised (each reply was read by then, so the
    connection is in step for the next request)."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


class _Holders:
    """How many threads of this process hold a connection of one lane (at most ``limit``)."""

    def __init__(self, limit: int):
        self.limit, self.count, self.pid = limit, 0, os.getpid()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's threads are not here
                self.count, self.pid = 0, os.getpid()
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.count = max(0, self.count - 1)


class _Held:
    """A connection checked out of ``pool`` by one thread; back to the pool when dropped."""

    __slots__ = ("conn", "holders", "pid", "pool")

    def __init__(self, pool: Any, holders: _Holders):
        self.pool, self.holders = pool, holders
        self.pid = os.getpid()
        try:
            self.conn = pool.get_connection()
        except BaseException:
            holders.give()
            raise

    def __del__(self) -> None:  # the thread ended or the lane was replaced
        if self.pid == os.getpid() and hasattr(self, "conn"):
            with contextlib.suppress(Exception):  # interpreter shutdown, a closed pool
                self.pool.release(self.conn)
            self.holders.give()


class Lane:
    """The sync lane of one ``redis.Redis`` client: each thread holds one pool connection.

    Threads hold at most half the pool, leaving the other half to the client's own commands
    (pipelines); a thread beyond that borrows a connection from the pool for each request.
    """

    def __init__(self, client: Any):
        self.client = client
        self._local = threading.local()
        size = getattr(client.connection_pool, "max_connections", None) or 2**31
        self._holders = _Holders(size // 2)

    def _conn(self) -> tuple[Any, bool]:
        """This thread's connection, and whether it is only borrowed for one request."""
        held = getattr(self._local, "held", None)
        if held is not None and held.pid == os.getpid():
            return held.conn, False
        pool = self.client.connection_pool
        if self._holders.take():  # first use here, or a forked child
            held = self._local.held = _Held(pool, self._holders)
            return held.conn, False
        return pool.get_connection(), True

    def call(self, *commands: Command) -> list[Any]:
        """Send ``commands`` in one write and return their replies; an error reply is raised.
        Connection errors retry as redis-py does.

        Like the pool on every checkout, a connection the server hung up on (or one holding a
        reply nobody asked for) is reconnected before the request is written."""
        conn, borrowed = self._conn()
        try:
            return self._call(conn, commands)
        finally:
            if borrowed:
                self.client.connection_pool.release(conn)

    @staticmethod
    def _call(conn: Any, commands: Sequence[Command]) -> list[Any]:
        try:
            if conn.can_read():
                conn.disconnect()
        except _STALE:
            conn.disconnect()
        packed = pack(conn, commands)

        def attempt() -> list[Any]:
            conn.send_packed_command(packed)
            replies = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as exc:  # read on: the other replies are on the wire
                    replies.append(exc)
            return replies

        return _replies(conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect()))


class AsyncLane:
    """The asyncio lane of one event loop's client: idle connections wait in a free list.

    One loop runs one task at a time, so the list needs no lock; a connection is taken for one
    request and put back after its reply (or given back to the pool when the request failed).
    Idle connections kept here are checked out of the pool, so :attr:`slots` bounds everything
    the loop sends, the client's own pipelines included, to the pool's size minus them: a burst
    waits for a connection instead of failing with redis-py's "Too many connections".
    """

    def __init__(self, client: Any):
        self.client = client
        self._free: list[Any] = []
        size = getattr(client.connection_pool, "max_connections", None) or 2**31
        self._keep = size // 2  # idle ones kept for the next requests; more go back to the pool
        self.slots = asyncio.Semaphore(max(1, size - self._keep))

    async def call(self, *commands: Command) -> list[Any]:
        """:meth:`Lane.call` on one of the loop's connections."""
        async with self.slots:
            return await self._call(commands)

    async def _call(self, commands: tuple[Command, ...]) -> list[Any]:
        pool = self.client.connection_pool
        if self._free:
            conn = self._free.pop()
            try:  # the pool's checkout test: a hung-up connection is reconnected
                if await conn.can_read():
                    await conn.disconnect()
            except _STALE:
                await conn.disconnect()
        else:
            conn = await pool.get_connection()
        packed = pack(conn, commands)

        async def attempt() -> list[Any]:
            await conn.send_packed_command(packed)
            replies = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies

        async def failed(_error: BaseException) -> None:
            await conn.disconnect()

        try:
            replies = await conn.retry.call_with_retry(attempt, failed)
        except BaseException:
            await pool.release(conn)  # the pool reconnects it on its next use
            raise
        if len(self._free) < self._keep:
            self._free.append(conn)
        else:
            await pool.release(conn)
        return _replies(replies)

    async def aclose(self) -> None:
        """Give every idle connection back to the pool."""
        free, self._free = self._free, []
        for conn in free:
            await self.client.connection_pool.release(conn)
