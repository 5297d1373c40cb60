"""Async twins for objects whose I/O is local: run the sync method inline or in a worker thread.

Why one mixin: the memory engine and saver do no I/O (inline is fastest and never blocks), the
SQLite ones block on the file (a worker thread keeps the event loop free). Either way the async
method is the sync one, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Offload:
    """``await self._offload(fn, *args)``: inline when ``_offload_inline``, else ``to_thread``."""

    _offload_inline: bool = False

    async def _offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._offload_inline:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
