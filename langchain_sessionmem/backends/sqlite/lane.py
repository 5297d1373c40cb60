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
from contextlib import AbstractContextManager, nullcontext, suppress
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


def _settle_all(jobs: list[_Job]) -> None:
    """Hand the outcomes to the jobs' loops, one wake-up per loop (a closed loop has nobody left
    to tell)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append((job.future, job.value, job.error))
    for loop, outcomes in by_loop.items():
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for future, value, error in outcomes:
        if future.done():  # the awaiting task was cancelled
            continue
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
        # a burst of jobs runs on one connection (the shared one of :memory: stays per job, so
        # other threads get their turns between jobs)
        self._hold: Transaction = (
            connections.connection if connections._shared_lock is None else nullcontext
        )
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
            told = 0
            try:
                with self._hold():
                    for unit in _units(jobs):
                        if len(unit) == 1:
                            unit[0].run()
                        else:
                            self._commit_together(unit)
                        _settle_all(unit)
                        told += len(unit)
                        del unit
            except Exception as exc:  # noqa: BLE001 - no connection (closed): each job is told
                for job in jobs[told:]:
                    job.value, job.error = None, exc
                _settle_all(jobs[told:])
            del jobs  # hold nothing while idle

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
    """What to run for jobs that waited together: each ungrouped job alone, in order, then the
    grouped writes in order, up to MAX_GROUP per transaction.

    Jobs that waited in the queue together are concurrent calls (none had returned when the
    next was made), so any order of them is one their callers could have seen; the reads go
    first, so their callers decode while the writes commit.
    """
    group: list[_Job] = []
    for job in jobs:
        if job.grouped:
            group.append(job)
        else:
            yield [job]
    for i in range(0, len(group), MAX_GROUP):
        yield group[i : i + MAX_GROUP]
