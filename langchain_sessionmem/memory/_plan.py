"""Sans-I/O plans: memory logic written once, run by a sync or an async driver.

A plan is a generator that yields :class:`Op` objects (read a range, update state, call a
model) and receives their results. :func:`run` executes ops with sync calls and :func:`arun`
with their async twins, so ``load_context`` and ``aload_context`` share every line of logic
and the async path never blocks the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_log = logging.getLogger("langchain_sessionmem.memory")

Plan = Generator["Op", Any, T]


class Op:
    """One I/O step of a plan."""

    def run(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    async def arun(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Tail(Op):
    history: Any
    k: int

    def run(self) -> Any:
        return self.history.tail_entries(self.k)

    async def arun(self) -> Any:
        return await self.history.atail_entries(self.k)


@dataclass
class Range(Op):
    history: Any
    start: int
    end: int | None = None

    def run(self) -> Any:
        return self.history.range_entries(self.start, self.end)

    async def arun(self) -> Any:
        return await self.history.arange_entries(self.start, self.end)


@dataclass
class Count(Op):
    history: Any

    def run(self) -> Any:
        return self.history.count()

    async def arun(self) -> Any:
        return await self.history.acount()


@dataclass
class GetState(Op):
    history: Any

    def run(self) -> Any:
        return self.history.get_state()

    async def arun(self) -> Any:
        return await self.history.aget_state()


@dataclass
class UpdateState(Op):
    """Compare-and-set loop on the history's state; ``fn`` returning ``None`` changes nothing."""

    history: Any
    fn: Callable[[dict[str, Any]], dict[str, Any] | None]

    def run(self) -> Any:
        return self.history.update_state(self.fn)

    async def arun(self) -> Any:
        return await self.history.aupdate_state(self.fn)


@dataclass
class GetUserState(Op):
    """The per-user state of the history's owner (shared by the user's sessions)."""

    history: Any

    def run(self) -> Any:
        return self.history.get_user_state()

    async def arun(self) -> Any:
        return await self.history.aget_user_state()


@dataclass
class UpdateUserState(Op):
    """Compare-and-set loop on the per-user state."""

    history: Any
    fn: Callable[[dict[str, Any]], dict[str, Any] | None]

    def run(self) -> Any:
        return self.history.update_user_state(self.fn)

    async def arun(self) -> Any:
        return await self.history.aupdate_user_state(self.fn)


@dataclass
class Invoke(Op):
    """Call a Runnable (a chat model, a structured-output chain)."""

    runnable: Any
    input: Any
    config: Any = None

    def run(self) -> Any:
        return self.runnable.invoke(self.input, self.config)

    async def arun(self) -> Any:
        return await self.runnable.ainvoke(self.input, self.config)


def run(plan: Plan[T]) -> T:
    """Execute ``plan`` with blocking calls."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = op.run(), None
        except Exception as exc:  # noqa: BLE001 - handed back to the plan, which decides
            value, error = None, exc


async def arun(plan: Plan[T]) -> T:
    """Execute ``plan`` with the async twins of each call."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = await op.arun(), None
        except Exception as exc:  # noqa: BLE001
            value, error = None, exc


@dataclass
class Spawn(Op):
    """Start ``factory()``'s plan in the background: a thread for sync callers, a task for async."""

    background: Background
    key: str
    factory: Callable[[], Plan[Any]]

    def run(self) -> Any:
        return self.background.start_thread(self.key, self.factory)

    async def arun(self) -> Any:
        return self.background.start_task(self.key, self.factory)


class Background:
    """Background plans of one strategy, at most one in flight per key (session).

    Why per key: a second summary of the same session while one runs would send the same
    messages to the model twice; the next turn retries instead.
    """

    def __init__(self, name: str = "sessionmem") -> None:
        import threading

        self._name = name
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._futures: set[Any] = set()
        self._tasks: set[Any] = set()
        self._executor: Any = None

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
        if not self._claim(key):
            return False
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=self._name)

        def job() -> Any:
            try:
                return run(factory())
            except Exception:  # noqa: BLE001 - nobody awaits a background job: log it
                _log.exception("background memory work for %r failed", key)
            finally:
                self._release(key)

        future = self._executor.submit(job)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return True

    def start_task(self, key: str, factory: Callable[[], Plan[Any]]) -> bool:
        import asyncio

        if not self._claim(key):
            return False

        async def job() -> Any:
            try:
                return await arun(factory())
            except Exception:  # noqa: BLE001
                _log.exception("background memory work for %r failed", key)
            finally:
                self._release(key)

        task = asyncio.get_running_loop().create_task(job())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def wait(self, timeout: float | None = None) -> None:
        from concurrent.futures import wait

        if self._futures:
            wait(list(self._futures), timeout=timeout)

    async def await_all(self) -> None:
        import asyncio

        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
