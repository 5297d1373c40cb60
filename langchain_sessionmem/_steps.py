"""The one sans-IO driver: logic written once as a generator of steps, run sync or async.

A step generator yields requests (a query, a script, a model call) and receives each reply; an
error raised by a request is thrown back into the generator, which may handle it. ``drive`` sends
requests with a blocking ``send`` and ``adrive`` with an awaitable ``asend``, so the sync and
async twins of an operation share every line of their logic (as ``httpx.Auth.auth_flow`` does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

S = TypeVar("S")
T = TypeVar("T")

Steps = Generator[S, Any, T]
"""A generator yielding requests of type ``S`` and returning a ``T``."""

Call = tuple[Any, ...]
"""The commonest request: ``(object, method name, *args)``, answered by :func:`call` or :func:`acall`."""


def resume(steps: Steps[S, T], reply: Any, error: BaseException | None) -> tuple[Any, bool]:
    """Send ``reply`` into ``steps`` (or throw ``error`` into them): ``(next request, False)``,
    or ``(their result, True)`` once they return. The part of a driver that does no I/O."""
    try:
        return (steps.send(reply) if error is None else steps.throw(error)), False
    except StopIteration as done:
        return done.value, True


def drive(steps: Steps[S, T], send: Callable[[S], Any]) -> T:
    """Run ``steps`` to completion, answering each request with ``send(request)``."""
    request, finished = resume(steps, None, None)
    while not finished:
        try:
            reply, error = send(request), None
        except Exception as exc:  # noqa: BLE001 - handed to the generator, which decides
            reply, error = None, exc
        request, finished = resume(steps, reply, error)
    return request  # type: ignore[no-any-return]


async def adrive(steps: Steps[S, T], asend: Callable[[S], Awaitable[Any]]) -> T:
    """The async twin of :func:`drive`: each request is answered by ``await asend(request)``."""
    request, finished = resume(steps, None, None)
    while not finished:
        try:
            reply, error = await asend(request), None
        except Exception as exc:  # noqa: BLE001
            reply, error = None, exc
        request, finished = resume(steps, reply, error)
    return request  # type: ignore[no-any-return]


def call(request: Call) -> Any:
    """Answer a :data:`Call` with ``object.name(*args)``."""
    return getattr(request[0], request[1])(*request[2:])


async def acall(request: Call) -> Any:
    """Answer a :data:`Call` with the method's async twin: ``a<name>`` (``_<name>``: ``_a<name>``)."""
    return await getattr(request[0], _twin(request[1]))(*request[2:])


def _twin(name: str) -> str:
    return "_a" + name[1:] if name.startswith("_") else "a" + name
