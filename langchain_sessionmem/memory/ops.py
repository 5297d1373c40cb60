"""The I/O a strategy asks for, as values: strategies yield ops, one driver runs them sync or async.

A strategy's load or save is a generator (a :data:`Plan`) that yields ops (read a range, update
state, call a model) and receives their results; an op that raises has its error thrown back into
the generator. :func:`run` answers ops with blocking calls and :func:`arun` with their async twins,
both through the package's one driver (:mod:`langchain_sessionmem._steps`), so the sync and async
paths of every strategy share all their logic and the async path never blocks the event loop.
:class:`History` is everything an op calls on a history: the contract a third-party history (or a
test double) implements.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from .. import telemetry
from .._steps import adrive, drive
from ..codec import StoredMessage
from ..records import SessionState

T = TypeVar("T")
StateUpdate = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""A pure function of the current state: the new state, or ``None`` to leave it unchanged."""


@runtime_checkable
class History(Protocol):
    """What strategies read and write on a session (``SessionHistory``, ``ListHistory``, yours).

    Positions (``seq``) start at 1. ``update_state`` / ``update_user_state`` run a
    compare-and-set loop around ``fn`` and return the state they left in place. The per-user
    state is shared by every session of ``user_id`` (entity memory with ``scope="user"``).
    """

    @property
    def session_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...

    def tail_entries(self, k: int) -> list[StoredMessage]: ...
    def range_entries(self, start_seq: int, end_seq: int | None = None) -> list[StoredMessage]: ...
    def count(self) -> int: ...
    def get_state(self) -> SessionState: ...
    def cas_state(self, expected_version: int, data: dict[str, Any]) -> bool: ...
    def update_state(self, update: StateUpdate) -> dict[str, Any]: ...
    def get_user_state(self) -> SessionState: ...
    def update_user_state(self, update: StateUpdate) -> dict[str, Any]: ...

    async def atail_entries(self, k: int) -> list[StoredMessage]: ...
    async def arange_entries(
        self, start_seq: int, end_seq: int | None = None
    ) -> list[StoredMessage]: ...
    async def acount(self) -> int: ...
    async def aget_state(self) -> SessionState: ...
    async def acas_state(self, expected_version: int, data: dict[str, Any]) -> bool: ...
    async def aupdate_state(self, update: StateUpdate) -> dict[str, Any]: ...
    async def aget_user_state(self) -> SessionState: ...
    async def aupdate_user_state(self, update: StateUpdate) -> dict[str, Any]: ...


class Op:
    """One I/O request of a plan: ``call`` answers it blocking, ``acall`` without blocking."""

    def call(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    async def acall(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


Plan = Generator[Op, Any, T]
"""A strategy step: yields :class:`Op` requests, receives each result, returns a ``T``."""


@dataclass(frozen=True)
class Tail(Op):
    """The last ``k`` messages with their positions, oldest first."""

    history: History
    k: int

    def call(self) -> list[StoredMessage]:
        return self.history.tail_entries(self.k)

    async def acall(self) -> list[StoredMessage]:
        return await self.history.atail_entries(self.k)


@dataclass(frozen=True)
class Range(Op):
    """Messages with ``start <= seq < end`` (``end=None``: to the newest)."""

    history: History
    start: int
    end: int | None = None

    def call(self) -> list[StoredMessage]:
        return self.history.range_entries(self.start, self.end)

    async def acall(self) -> list[StoredMessage]:
        return await self.history.arange_entries(self.start, self.end)


@dataclass(frozen=True)
class Count(Op):
    """How many messages the session holds."""

    history: History

    def call(self) -> int:
        return self.history.count()

    async def acall(self) -> int:
        return await self.history.acount()


@dataclass(frozen=True)
class GetState(Op):
    """The session's state dict and version."""

    history: History

    def call(self) -> SessionState:
        return self.history.get_state()

    async def acall(self) -> SessionState:
        return await self.history.aget_state()


@dataclass(frozen=True)
class UpdateState(Op):
    """Compare-and-set loop on the session state; ``fn`` returning ``None`` changes nothing."""

    history: History
    fn: StateUpdate

    def call(self) -> dict[str, Any]:
        return self.history.update_state(self.fn)

    async def acall(self) -> dict[str, Any]:
        return await self.history.aupdate_state(self.fn)


@dataclass(frozen=True)
class GetUserState(Op):
    """The per-user state of the history's owner (shared by the user's sessions)."""

    history: History

    def call(self) -> SessionState:
        return self.history.get_user_state()

    async def acall(self) -> SessionState:
        return await self.history.aget_user_state()


@dataclass(frozen=True)
class UpdateUserState(Op):
    """Compare-and-set loop on the per-user state."""

    history: History
    fn: StateUpdate

    def call(self) -> dict[str, Any]:
        return self.history.update_user_state(self.fn)

    async def acall(self) -> dict[str, Any]:
        return await self.history.aupdate_user_state(self.fn)


@dataclass(frozen=True)
class Invoke(Op):
    """Call a Runnable (a chat model, a structured-output chain)."""

    runnable: Any
    input: Any
    config: Any = None

    def call(self) -> Any:
        with telemetry.span("memory.model_call", runnable=_name(self.runnable)):
            return self.runnable.invoke(self.input, self.config)

    async def acall(self) -> Any:
        with telemetry.span("memory.model_call", runnable=_name(self.runnable)):
            return await self.runnable.ainvoke(self.input, self.config)


def _name(runnable: Any) -> str:
    get_name = getattr(runnable, "get_name", None)
    return str(get_name()) if callable(get_name) else type(runnable).__name__


class Spawner(Protocol):
    """Runs plans in the background, at most one per key (see :class:`.background.Background`)."""

    def start_thread(self, key: str, factory: Callable[[], Plan[Any]]) -> bool: ...
    def start_task(self, key: str, factory: Callable[[], Plan[Any]]) -> bool: ...


@dataclass(frozen=True)
class Spawn(Op):
    """Start ``factory()``'s plan in the background: a thread for sync callers, a task for async.

    The result is ``False`` when that key's previous plan is still running (nothing started).
    """

    background: Spawner
    key: str
    factory: Callable[[], Plan[Any]]

    def call(self) -> bool:
        return self.background.start_thread(self.key, self.factory)

    async def acall(self) -> bool:
        return self.background.start_task(self.key, self.factory)


def send(op: Op) -> Any:
    """Answer one op with blocking calls."""
    return op.call()


async def asend(op: Op) -> Any:
    """Answer one op with its async twin."""
    return await op.acall()


def run(plan: Plan[T]) -> T:
    """Execute ``plan`` with blocking calls."""
    return drive(plan, send)


async def arun(plan: Plan[T]) -> T:
    """Execute ``plan`` with the async twins of each call."""
    return await adrive(plan, asend)
