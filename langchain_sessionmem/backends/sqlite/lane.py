"""The async lane of one SQLite database: a thread that runs the sync calls of event loops, and
commits the appends that queued up while it was busy in one transaction (group commit).

Why not ``asyncio.to_thread``: a hop through the default executor costs about three times a hop
through a queue the thread waits on, and its threads (up to ``min(32, cpus + 4)``) race each
other for the write lock, whose busy handler sleeps whole milliseconds. One thread per database
never waits on itself; appends waiting in its queue share one ``BEGIN IMMEDIATE`` ... ``COMMIT``,
each in its own savepoint, so each stays atomic and one that fails is rolled back alone. Sync
callers in other threads and other processes still take the lock their own way (busy timeout).
The thread retires after a few idle seconds and the next call starts another.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from typing import Any

IDLE_SECONDS = 5.0
"""How long the thread waits for work before it retires."""
MAX_GROUP = 64
"""The most appends one transaction commits."""

Transaction = Callable[[], AbstractContextManager[Any]]


class _Job:
    __slots__ = ("context", "error", "fn", "future", "grouped", "kwargs", "loop", "args", "value")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, grouped: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.future = self.loop.create_future()
        self.context = contextvars.copy_context()  # what to_thread would carry over
        self.fn, self.args, self.kwargs, self.grouped = fn, args, kwargs, grouped
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            self.error = exc

    def settle(self) -> None:
        """Hand the outcome to the job's loop (a closed loop has nobody left to tell)."""
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.future, self.value, self.error)


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


class Lane:
    """``await lane.run(fn, args, kwargs)`` runs ``fn`` on the lane's thread; ``grouped=True``
    marks a write that may share a transaction with the writes queued next to it."""

    def __init__(self, connections: Any, *, name: str) -> None:
        self.pid = os.getpid()
        self.name = name
        self._transaction: Transaction = connections.transaction
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._serving = False
        self._start()

    def run(
        self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, *, grouped=False
    ) -> asyncio.Future:
        job = _Job(fn, args, kwargs or {}, grouped)
        self._queue.put(job)
        if not self._serving:  # retired (see _serve): the queued job needs a thread
            self._start()
        return job.future

    def _start(self) -> None:
        self._serving = True
        threading.Thread(target=self._serve, name=self.name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                jobs = [self._queue.get(timeout=IDLE_SECONDS)]
            except queue.Empty:
                self._serving = False  # from here a new job starts a new thread ...
                try:
                    jobs = [self._queue.get_nowait()]  # ... unless it came just before
                except queue.Empty:
                    return
                self._serving = True
            while True:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for unit in _units(jobs):
                if len(unit) == 1:
                    unit[0].run()
                else:
                    self._commit_together(unit)
                for job in unit:
                    job.settle()
            del jobs, unit, job  # hold nothing while idle

    def _commit_together(self, jobs: list[_Job]) -> None:
        """Run the jobs in one transaction, each in a savepoint of it. If the transaction fails
        (BEGIN, COMMIT, or SQLite rolling it back on a full disk or an I/O error), the jobs it
        held fail with it; those after a rollback run in transactions of their own."""
        held, lost = len(jobs), None
        try:
            with self._transaction() as conn:
                for i, job in enumerate(jobs):
                    job.run()
                    if job.error is not None and not conn.in_transaction:
                        held, lost = i, job.error
                        for rest in jobs[i + 1 :]:
                            rest.run()
                        raise _RolledBack
        except _RolledBack:
            pass
        except BaseException as exc:  # noqa: BLE001 - the batch's outcome, told to each job
            lost = exc
        if lost is not None:
            for job in jobs[:held]:
                if job.error is None:
                    job.value, job.error = None, lost


class _RolledBack(Exception):
    """SQLite rolled the group's transaction back: leave the block without a COMMIT."""


def _units(jobs: list[_Job]) -> Iterator[list[_Job]]:
    """The jobs in order: runs of grouped writes (up to MAX_GROUP) together, others alone."""
    group: list[_Job] = []
    for job in jobs:
        if job.grouped:
            group.append(job)
            if len(group) < MAX_GROUP:
                continue
        if group:
            yield group
            group = []
        if not job.grouped:
            yield [job]
    if group:
        yield group
