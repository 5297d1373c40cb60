"""One resource per running event loop (asyncio clients and connections belong to one loop).

Why: redis-py and psycopg asyncio objects fail on any loop but their own, and notebooks or test
suites run several loops (``asyncio.run`` twice) in one process. A finished loop's resource is
dropped with the loop (weak keys), and :meth:`PerLoop.pop` lets its owner close it explicitly.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")


class PerLoop(Generic[R]):
    """``get()`` returns the running loop's resource, made by ``factory`` on first use there."""

    def __init__(self, factory: Callable[[], R]):
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, R] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self) -> R:
        loop = asyncio.get_running_loop()
        resource = self._by_loop.get(loop)
        if resource is None:
            with self._lock:
                resource = self._by_loop.get(loop)
                if resource is None:
                    resource = self._by_loop[loop] = self._factory()
        return resource

    def peek(self) -> R | None:
        """The running loop's resource if one was made, without making it."""
        try:
            return self._by_loop.get(asyncio.get_running_loop())
        except RuntimeError:
            return None

    def pop(self) -> R | None:
        """Forget the running loop's resource and return it (for the caller to close)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        with self._lock:
            return self._by_loop.pop(loop, None)

    def clear(self) -> list[R]:
        """Forget every loop's resource and return them."""
        with self._lock:
            resources = list(self._by_loop.values())
            self._by_loop.clear()
        return resources
