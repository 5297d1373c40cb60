"""Async twins for objects whose I/O is local: run the sync method inline, on a lane, or in a thread.

Why one mixin: the memory engine and saver do no I/O (inline is fastest and never blocks), the
SQLite ones block on the file (their database's lane, a thread of its own, keeps the event loop
free). Either way the async method is the sync one, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Lane(Protocol):
    """A thread that runs sync calls for event loops (``backends.sqlite.lane.Lane``)."""

    def run(
        self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None
    ) -> Awaitable[Any]: ...


class Offload:
    """``await self._offload(fn, *args)``: inline when ``_offload_inline``, else on the lane
    :meth:`_offload_lane` returns, else in ``asyncio.to_thread``."""

    _offload_inline: bool = False

    def _offload_lane(self) -> Lane | None:
        return None

    async def _offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._offload_inline:
            return fn(*args, **kwargs)
        lane = self._offload_lane()
        if lane is not None:
            return await lane.run(fn, args, kwargs)
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
