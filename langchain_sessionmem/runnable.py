"""`with_session_memory`: give any LCEL runnable a per-user session history.

Our own Runnable (not a wrapper of the deprecated ``RunnableWithMessageHistory``), configured by
the same ``configurable`` fields, ``session_id`` and ``user_id``. Per turn it reads one bounded
window, runs the chain, then stores the turn's input and output messages with one atomic append.

Save rules, identical for invoke / batch / stream and their async twins:
- a chain that raises stores nothing (``save_input_on_error=True`` keeps the input messages);
- a streamed reply is stored once, as one merged ``AIMessage``, never as chunks;
- a stream the consumer stops early stores the partial reply with
  ``response_metadata["interrupted"] = True``, never as a complete one.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs

from .errors import ConfigurationError
from .history import SessionHistory
from .memory import SessionMemoryProtocol, compose, select_window
from .store import SessionStore

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

    def _window(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        return select_window(messages, [0] * len(messages), max_messages=self.k)

    def load_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        if isinstance(history, SessionHistory):
            return self._window(history.tail(self.k))
        return self._window(list(history.messages)[-self.k :])

    async def aload_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        if isinstance(history, SessionHistory):
            return self._window(await history.atail(self.k))
        return self._window(list(await history.aget_messages())[-self.k :])

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


def _as_messages(value: Any, what: str) -> list[BaseMessage]:
    if isinstance(value, str):
        return [HumanMessage(content=value)] if what == "input" else [AIMessage(content=value)]
    if isinstance(value, BaseMessageChunk):
        return [message_chunk_to_message(value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(m, BaseMessage) for m in value):
        return [
            message_chunk_to_message(m) if isinstance(m, BaseMessageChunk) else m for m in value
        ]
    raise ConfigurationError(
        f"cannot read the {what} messages from a {type(value).__name__}: the chain's {what} must be a str, "
        f"a message, a list of messages, or a dict (then set {what}_messages_key=...)"
    )


def _merge(total: Any, chunk: Any) -> Any:
    """Add up streamed output: message chunks and strings concatenate, dicts merge per key."""
    if total is None:
        return chunk
    if isinstance(total, dict) and isinstance(chunk, dict):
        merged = dict(total)
        for key, value in chunk.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    try:
        return total + chunk
    except TypeError:
        return chunk


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
        self.input_messages_key = input_messages_key
        self.output_messages_key = output_messages_key
        self.history_messages_key = history_messages_key
        self.save_input_on_error = save_input_on_error
        self.require_user = require_user

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return get_unique_config_specs([SESSION_ID_SPEC, USER_ID_SPEC, *self.bound.config_specs])

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or f"SessionMemory[{self.bound.get_name()}]")

    # -- turn building blocks (no I/O; shared by every path) -------------------------------
    def _ids(self, config: RunnableConfig) -> tuple[str, str | None]:
        configurable = config.get("configurable", {})
        session_id = configurable.get("session_id")
        if not session_id:
            raise ConfigurationError(
                "no session_id: call with config={'configurable': {'session_id': '...', 'user_id': '...'}}"
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

    def _input_messages(self, input: Any) -> list[BaseMessage]:
        if isinstance(input, dict):
            key = self.input_messages_key or "input"
            if key not in input:
                raise ConfigurationError(
                    f"the input dict has no key {key!r} (keys: {sorted(input)}): set input_messages_key=..."
                )
            return _as_messages(input[key], "input")
        return _as_messages(input, "input")

    def _chain_input(self, input: Any, history: list[BaseMessage], new: list[BaseMessage]) -> Any:
        if self.history_messages_key:
            if not isinstance(input, dict):
                raise ConfigurationError(
                    "history_messages_key needs a dict input: pass {'input': ..., ...}"
                )
            return {**input, self.history_messages_key: history}
        if isinstance(input, dict):
            return {**input, self.input_messages_key or "input": [*history, *new]}
        return [*history, *new]

    def _output_messages(self, output: Any) -> list[BaseMessage]:
        if isinstance(output, dict):
            key = self.output_messages_key
            if key is None and len(output) == 1:
                key = next(iter(output))
            if key not in output:
                raise ConfigurationError(
                    f"the chain returned a dict with keys {sorted(output)}: set output_messages_key=..."
                )
            return _as_messages(output[key], "output")
        return _as_messages(output, "output")

    def _partial_messages(self, total: Any) -> list[BaseMessage]:
        messages = self._output_messages(total)
        return [
            m.model_copy(update={"response_metadata": {**m.response_metadata, "interrupted": True}})
            if isinstance(m, AIMessage)
            else m
            for m in messages
        ]

    # -- sessions --------------------------------------------------------------------------
    def _open(self, config: RunnableConfig) -> SessionHistory:
        session_id, user_id = self._ids(config)
        if isinstance(self.sessions, SessionStore):
            return self.sessions.history(session_id, user_id=user_id)
        history = self._call_factory(session_id, user_id)
        if inspect.iscoroutine(history):
            history.close()
            raise ConfigurationError(
                "this history factory is async: use ainvoke / astream / abatch"
            )
        return history

    async def _aopen(self, config: RunnableConfig) -> SessionHistory:
        session_id, user_id = self._ids(config)
        if isinstance(self.sessions, SessionStore):
            return self.sessions.history(session_id, user_id=user_id)
        history = self._call_factory(session_id, user_id)
        return await history if inspect.isawaitable(history) else history

    def _call_factory(self, session_id: str, user_id: str | None) -> Any:
        factory: Callable[..., Any] = self.sessions  # type: ignore[assignment]
        if "user_id" in inspect.signature(factory).parameters:
            return factory(session_id=session_id, user_id=user_id)
        return factory(session_id)

    def _save(
        self, history: SessionHistory, messages: list[BaseMessage], config: RunnableConfig
    ) -> None:
        history.add_messages(messages)
        try:
            self.memory.save_context(history, messages, config)
        except Exception:  # the turn is stored; memory upkeep is retried on a later turn
            logger.exception(
                "memory upkeep failed for session %r", getattr(history, "session_id", "?")
            )

    async def _asave(
        self, history: SessionHistory, messages: list[BaseMessage], config: RunnableConfig
    ) -> None:
        await history.aadd_messages(messages)
        try:
            await self.memory.asave_context(history, messages, config)
        except Exception:
            logger.exception(
                "memory upkeep failed for session %r", getattr(history, "session_id", "?")
            )

    # -- invoke ----------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        history = self._open(config)
        new = self._input_messages(input)
        context = self.memory.load_context(history, new, config)
        try:
            output = self.bound.invoke(self._chain_input(input, context, new), config, **kwargs)
        except BaseException:
            if self.save_input_on_error:
                history.add_messages(new)
            raise
        self._save(history, [*new, *self._output_messages(output)], config)
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        history = await self._aopen(config)
        new = self._input_messages(input)
        context = await self.memory.aload_context(history, new, config)
        try:
            output = await self.bound.ainvoke(
                self._chain_input(input, context, new), config, **kwargs
            )
        except BaseException:
            if self.save_input_on_error:
                await history.aadd_messages(new)
            raise
        await self._asave(history, [*new, *self._output_messages(output)], config)
        return output

    # -- stream ----------------------------------------------------------------------------
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        config = ensure_config(config)
        history = self._open(config)
        new = self._input_messages(input)
        context = self.memory.load_context(history, new, config)
        total, finished = None, False
        try:
            for chunk in self.bound.stream(
                self._chain_input(input, context, new), config, **kwargs
            ):
                total = _merge(total, chunk)
                yield chunk
            finished = True
        except GeneratorExit:  # the consumer stopped early: keep what it saw, marked as partial
            history.add_messages(
                [*new, *(self._partial_messages(total) if total is not None else [])]
            )
            raise
        except BaseException:
            if self.save_input_on_error:
                history.add_messages(new)
            raise
        if finished:
            self._save(history, [*new, *self._output_messages(total)], config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        config = ensure_config(config)
        history = await self._aopen(config)
        new = self._input_messages(input)
        context = await self.memory.aload_context(history, new, config)
        total, finished = None, False
        try:
            async for chunk in self.bound.astream(
                self._chain_input(input, context, new), config, **kwargs
            ):
                total = _merge(total, chunk)
                yield chunk
            finished = True
        except GeneratorExit:
            await history.aadd_messages(
                [*new, *(self._partial_messages(total) if total is not None else [])]
            )
            raise
        except BaseException:
            if self.save_input_on_error:
                await history.aadd_messages(new)
            raise
        if finished:
            await self._asave(history, [*new, *self._output_messages(total)], config)


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
