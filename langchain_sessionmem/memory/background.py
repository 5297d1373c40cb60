"""`Background`: a strategy's slow work (summaries) after the reply, at most one per session.

Why per key: a second summary of the same session while one runs would send the same messages
to the model twice; the next turn retries instead. Sync callers get a small thread pool, async
callers an asyncio task; both run the same plan through :mod:`.ops`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from .ops import Plan, arun, run

logger = logging.getLogger("langchain_sessionmem.memory")


class Background:
    """Background plans of one strategy, at most one in flight per key (session)."""

    def __init__(self, name: str = "sessionmem") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._futures: set[Future[Any]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._executor: ThreadPoolExecutor | None = None

    def _claim(self, key: str) -> bool:
        with self._lock:
            if key in self._inflight:
                return False
            self._inflight.add(key)
            return True

    def _release(self, key: str) -> None:
        with self._lock:
            self._inflight.discard(key)

    def start_thread(self, key: str, factory: Callable[[], Plan[Any]]) -> bool:
        """Run ``factory()``'s plan on a worker thread; ``False`` if ``key`` is still busy."""
        if not self._claim(key):
            return False
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=self._name)
            executor = self._executor

        def job() -> Any:
            try:
                return run(factory())
            except Exception:  # noqa: BLE001 - nobody awaits a background job: log it
                logger.exception("background memory work for %r failed", key)
            finally:
                self._release(key)

        future = executor.submit(job)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return True

    def start_task(self, key: str, factory: Callable[[], Plan[Any]]) -> bool:
        """Run ``factory()``'s plan as a task of the running loop; ``False`` if ``key`` is busy."""
        if not self._claim(key):
            return False

        async def job() -> Any:
            try:
                return await arun(factory())
            except Exception:  # noqa: BLE001
                logger.exception("background memory work for %r failed", key)
            finally:
                self._release(key)

        task = asyncio.get_running_loop().create_task(job())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the thread jobs started so far."""
        if self._futures:
            wait(list(self._futures), timeout=timeout)

    async def await_all(self) -> None:
        """Wait for the tasks started so far (and any they started)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
