"""`with_session_memory`: give any LCEL runnable a per-user session history.

Our own Runnable (not a wrapper of the deprecated ``RunnableWithMessageHistory``), configured by
the same ``configurable`` fields, ``session_id`` and ``user_id``. Per turn it reads one bounded
window, runs the chain, then stores the turn's input and output messages with one atomic append.

Save rules, identical for invoke / batch / stream and their async twins:
- a chain that raises stores nothing (``save_input_on_error=True`` keeps the input messages);
- a streamed reply is stored once, as one merged ``AIMessage``, never as chunks;
- a turn cut short (the consumer stops a stream, the task is cancelled, ``asyncio.wait_for``
  times out, an HTTP client disconnects) stores the input and what was streamed so far, marked
  ``response_metadata["interrupted"] = True``: cancellation is not an error of the chain. The
  save after a cancellation runs as a task of its own, so it never delays the cancellation;
  ``await chain.aflush()`` waits for such saves.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs

from ._steps import Steps, acall, adrive, call, drive
from .errors import ConfigurationError
from .history import SessionHistory
from .memory import SessionMemoryProtocol, compose, select_window
from .store import SessionStore
from .turn import TurnShape, merge

logger = logging.getLogger(__name__)

HistoryFactory = Callable[..., SessionHistory | Awaitable[SessionHistory]]
MemoryLike = SessionMemoryProtocol | Sequence[SessionMemoryProtocol] | None

SESSION_ID_SPEC = ConfigurableFieldSpec(
    id="session_id",
    annotation=str,
    name="Session ID",
    default="",
    is_shared=True,
    description="Which conversation this turn belongs to.",
)
USER_ID_SPEC = ConfigurableFieldSpec(
    id="user_id",
    annotation=str | None,
    name="User ID",
    default=None,
    is_shared=True,
    description="Owner of the session; sessions of one user are invisible to every other.",
)


class LastMessages:
    """The default memory: the last ``k`` messages in one bounded read, cut only between whole
    tool-call units (never an orphan ToolMessage, never a call without its results)."""

    def __init__(self, k: int):
        if k < 1:
            raise ConfigurationError(f"max_messages must be at least 1, got {k}")
        self.k = k

    def _last(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The window of the last ``k`` of ``messages`` (all that a history without a bounded
        read returns, or the ``k`` a ``SessionHistory`` tail read)."""
        last = list(messages)[-self.k :]
        return select_window(last, [0] * len(last), max_messages=self.k)

    def load_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        return self._last(history.tail(self.k) if _bounded(history) else history.messages)

    async def aload_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        return self._last(
            await history.atail(self.k) if _bounded(history) else await history.aget_messages()
        )

    def save_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        return None

    async def asave_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        return None


class _Turn:
    """What a turn has opened so far: enough to save it by the rule if it is cut short."""

    history: Any = None
    new: list[BaseMessage] | None = None
    total: Any = None


Call = tuple[Any, ...]  # (operation, *args): a step of a turn


class SessionMemoryRunnable(Runnable[Any, Any]):
    """A runnable with per-user session memory. Build it with :func:`with_session_memory`."""

    def __init__(
        self,
        bound: Runnable,
        sessions: SessionStore | HistoryFactory,
        *,
        memory: MemoryLike = None,
        max_messages: int = 50,
        input_messages_key: str | None = None,
        output_messages_key: str | None = None,
        history_messages_key: str | None = None,
        save_input_on_error: bool = False,
        require_user: bool = False,
    ):
        self.bound = bound
        self.sessions = sessions
        self.memory = _memory(memory, max_messages)
        self.shape = TurnShape(input_messages_key, output_messages_key, history_messages_key)
        self.save_input_on_error = save_input_on_error
        self.require_user = require_user
        self._pending: set[asyncio.Task[Any]] = set()

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return get_unique_config_specs([SESSION_ID_SPEC, USER_ID_SPEC, *self.bound.config_specs])

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or f"SessionMemory[{self.bound.get_name()}]")

    # -- sessions --------------------------------------------------------------------------
    def _ids(self, config: RunnableConfig) -> tuple[str, str | None]:
        configurable = config.get("configurable", {})
        session_id = configurable.get("session_id")
        if not session_id:
            raise ConfigurationError(
                "no session_id: call with config={'configurable': {'session_id': '...', "
                "'user_id': '...'}}"
            )
        user_id = configurable.get("user_id")
        anonymous_ok = not self.require_user and (
            not isinstance(self.sessions, SessionStore) or self.sessions.allow_anonymous
        )
        if user_id is None and not anonymous_ok:
            raise ConfigurationError(
                "no user_id: call with config={'configurable': {'session_id': '...', "
                "'user_id': '<the signed-in user>'}} (or build the store with "
                "allow_anonymous=True to share one anonymous namespace)"
            )
        return session_id, user_id

    def _open(self, config: RunnableConfig) -> SessionHistory:
        history = self._history_for(config)
        if inspect.iscoroutine(history):
            history.close()
            raise ConfigurationError(
                "this history factory is async: use ainvoke / astream / abatch"
            )
        return history

    async def _aopen(self, config: RunnableConfig) -> SessionHistory:
        history = self._history_for(config)
        return await history if inspect.isawaitable(history) else history

    def _history_for(self, config: RunnableConfig) -> Any:
        session_id, user_id = self._ids(config)
        if isinstance(self.sessions, SessionStore):
            return self.sessions.history(session_id, user_id=user_id)
        factory: Callable[..., Any] = self.sessions
        if "user_id" in inspect.signature(factory).parameters:
            return factory(session_id=session_id, user_id=user_id)
        return factory(session_id)

    def _save(
        self, history: SessionHistory, messages: list[BaseMessage], config: RunnableConfig
    ) -> None:
        drive(self._saving(history, messages, config), call)

    async def _asave(
        self, history: SessionHistory, messages: list[BaseMessage], config: RunnableConfig
    ) -> None:
        await adrive(self._saving(history, messages, config), acall)

    def _saving(
        self, history: SessionHistory, messages: list[BaseMessage], config: RunnableConfig
    ) -> Steps[tuple[Any, ...], None]:
        """Store the turn's messages, then the memory's upkeep (``save_context``): method
        requests for ``_steps.call`` / ``acall``."""
        yield (history, "add_messages", messages)
        try:
            yield (self.memory, "save_context", history, messages, config)
        except Exception:  # the turn is stored; memory upkeep is retried on a later turn
            logger.exception("memory upkeep failed for session %r", _sid(history))

    def _save_cut_short(self, turn: _Turn) -> None:
        """After a cancellation: store the input and the partial reply in a task of its own."""
        if turn.history is None or turn.new is None:
            return
        messages = [*turn.new, *self.shape.partial_messages(turn.total)]
        task = asyncio.get_running_loop().create_task(turn.history.aadd_messages(messages))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def aflush(self) -> None:
        """Wait for the saves of turns that were cancelled (they run in tasks of their own)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- invoke: one generator of steps for invoke and ainvoke --------------------------------
    def _invoke_steps(self, input: Any, config: RunnableConfig, turn: _Turn) -> Steps[Call, Any]:
        turn.history = history = yield ("open", config)
        turn.new = new = self.shape.input_messages(input)
        context = yield ("load", history, new, config)
        try:
            output = yield ("call", self.shape.chain_input(input, context, new), config)
        except Exception:
            turn.new = None  # an error of the chain: not a turn cut short
            if self.save_input_on_error:
                yield ("append", history, new)
            raise
        yield ("save", history, [*new, *self.shape.output_messages(output)], config)
        return output

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        ops = {
            "open": self._open,
            "load": self.memory.load_context,
            "call": lambda value, cfg: self.bound.invoke(value, cfg, **kwargs),
            "append": lambda history, messages: history.add_messages(messages),
            "save": self._save,
        }
        steps = self._invoke_steps(input, ensure_config(config), _Turn())
        return drive(steps, lambda call: ops[call[0]](*call[1:]))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        ops = {
            "open": self._aopen,
            "load": self.memory.aload_context,
            "call": lambda value, cfg: self.bound.ainvoke(value, cfg, **kwargs),
            "append": lambda history, messages: history.aadd_messages(messages),
            "save": self._asave,
        }
        turn = _Turn()
        try:
            steps = self._invoke_steps(input, ensure_config(config), turn)
            return await adrive(steps, lambda call: ops[call[0]](*call[1:]))
        except asyncio.CancelledError:
            self._save_cut_short(turn)
            raise

    # -- stream ----------------------------------------------------------------------------
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        config = ensure_config(config)
        history = self._open(config)
        new = self.shape.input_messages(input)
        context = self.memory.load_context(history, new, config)
        total, finished = None, False
        try:
            for chunk in self.bound.stream(
                self.shape.chain_input(input, context, new), config, **kwargs
            ):
                total = merge(total, chunk)
                yield chunk
            finished = True
        except GeneratorExit:  # the consumer stopped early: keep what it saw, marked as partial
            history.add_messages([*new, *self.shape.partial_messages(total)])
            raise
        except Exception:
            if self.save_input_on_error:
                history.add_messages(new)
            raise
        if finished:
            self._save(history, [*new, *self.shape.output_messages(total)], config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        config = ensure_config(config)
        turn = _Turn()
        turn.history = history = await self._aopen(config)
        turn.new = new = self.shape.input_messages(input)
        context = await self.memory.aload_context(history, new, config)
        finished = False
        try:
            async for chunk in self.bound.astream(
                self.shape.chain_input(input, context, new), config, **kwargs
            ):
                turn.total = merge(turn.total, chunk)
                yield chunk
            finished = True
        except GeneratorExit:  # the consumer called aclose(): keep what it saw, marked partial
            await history.aadd_messages([*new, *self.shape.partial_messages(turn.total)])
            raise
        except asyncio.CancelledError:  # cancelled, timed out, client gone: not a chain error
            self._save_cut_short(turn)
            raise
        except Exception:
            if self.save_input_on_error:
                await history.aadd_messages(new)
            raise
        if finished:
            await self._asave(history, [*new, *self.shape.output_messages(turn.total)], config)


def _bounded(history: Any) -> bool:
    """A history with an O(k) read of its last ``k`` messages."""
    return isinstance(history, SessionHistory)


def _sid(history: Any) -> str:
    return str(getattr(history, "session_id", "?"))


def _memory(memory: MemoryLike, max_messages: int) -> SessionMemoryProtocol:
    """The strategy to use: the default window, a composition of a list, or the given object."""
    if memory is None:
        return LastMessages(max_messages)
    if isinstance(memory, (list, tuple)):
        return compose(list(memory))
    if not isinstance(memory, SessionMemoryProtocol):
        raise ConfigurationError(
            f"memory={memory!r} lacks load_context / aload_context / save_context / asave_context: "
            "pass a strategy from langchain_sessionmem.memory, or a list of them"
        )
    return memory


def with_session_memory(
    runnable: Runnable,
    sessions: SessionStore | HistoryFactory,
    *,
    memory: MemoryLike = None,
    max_messages: int = 50,
    input_messages_key: str | None = None,
    output_messages_key: str | None = None,
    history_messages_key: str | None = None,
    save_input_on_error: bool = False,
    require_user: bool = False,
) -> SessionMemoryRunnable:
    """Wrap ``runnable`` so each call reads and records its session.

    ``sessions`` is a :class:`SessionStore`, or a factory ``(session_id[, user_id]) -> history``
    that may be async. ``memory`` picks what of the session enters the prompt: a strategy from
    :mod:`langchain_sessionmem.memory`, a list of them (composed), or by default the last
    ``max_messages`` messages. Keys follow ``RunnableWithMessageHistory``: with
    ``history_messages_key`` the history goes under that key, otherwise it is prepended to the
    input messages. Call with ``config={"configurable": {"session_id": ..., "user_id": ...}}``.
    """
    return SessionMemoryRunnable(
        runnable,
        sessions,
        memory=memory,
        max_messages=max_messages,
        input_messages_key=input_messages_key,
        output_messages_key=output_messages_key,
        history_messages_key=history_messages_key,
        save_input_on_error=save_input_on_error,
        require_user=require_user,
    )


__all__ = [
    "LastMessages",
    "SessionMemoryRunnable",
    "with_session_memory",
    "SESSION_ID_SPEC",
    "USER_ID_SPEC",
]
