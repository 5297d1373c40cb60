"""`SessionMemory`: the base of every strategy, its hook defaults, and strategies composed.

A strategy decides *what* of a session goes into the prompt. Each one is:

- a chat-turn hook for :func:`langchain_sessionmem.with_session_memory`: ``load_context`` before
  the model runs, ``save_context`` after the turn was stored (both with async twins);
- a ``Runnable`` mapping ``list[BaseMessage] -> list[BaseMessage]`` for standalone LCEL use,
  like ``trim_messages``;
- a set of hooks (:class:`~.pipeline.MemoryHooks`) that :mod:`.pipeline` calls in a fixed
  order, which is how strategies compose (``a | b``, a list, :func:`compose`) into one prompt
  within one budget. Composition lives here because ``a | b`` builds it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ..errors import ConfigurationError
from ..records import SessionState
from ..tokens import MessageTokenCounter, TokenCounterLike, as_token_counter
from .local import ListHistory
from .ops import History, Plan, arun, run
from .pipeline import TurnContext, load_plan, save_plan, window_from
from .reporting import MemoryStats, areport, report, reported


@runtime_checkable
class SessionMemoryProtocol(Protocol):
    """What ``with_session_memory`` calls on its ``memory`` object each turn."""

    def load_context(
        self,
        history: History,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]: ...

    async def aload_context(
        self,
        history: History,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]: ...

    def save_context(
        self,
        history: History,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None: ...

    async def asave_context(
        self,
        history: History,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None: ...


class SessionMemory(Runnable[Sequence[BaseMessage], list[BaseMessage]]):
    """Base class of every strategy: override the hooks that apply (each default does nothing).

    Hooks (see :class:`~.pipeline.MemoryHooks`): :meth:`prepare`, :meth:`choose_window`,
    :meth:`rewrite_window`, :meth:`reserve`, :meth:`fill`, :meth:`after_turn`, :meth:`rebase`,
    :meth:`needs_from`, :meth:`members`; flags ``chooses_window`` and ``keeps_state``. Plans yield the ops of :mod:`.ops`.
    """

    max_tokens: int | None = None
    keep_system: bool = True
    token_counter: MessageTokenCounter
    chooses_window: bool = False
    keeps_state: bool = False

    def __init__(
        self, *, token_counter: TokenCounterLike = None, max_tokens: int | None = None
    ) -> None:
        self.token_counter = as_token_counter(token_counter)
        if max_tokens is not None and max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.max_tokens = max_tokens
        self._local_states: dict[str, SessionState] = {}
        self._local_lock = threading.Lock()

    # -- hooks -----------------------------------------------------------------------------
    def members(self) -> list[SessionMemory]:
        """The strategies this memory applies (itself, or a composition's parts)."""
        return [self]

    def prepare(self, ctx: TurnContext) -> Plan[None]:
        """Load, before the window is chosen: read state, set ``ctx.floor``, add ``ctx.blocks``."""
        return None
        yield  # pragma: no cover - makes this a generator

    def choose_window(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        """Window strategies: the newest messages with ``seq >= min_seq`` within ``budget``."""
        return (yield from window_from(ctx, budget, min_seq))

    def rewrite_window(self, ctx: TurnContext, messages: list[BaseMessage]) -> list[BaseMessage]:
        """Rewrite window candidates (new objects; stored messages are never changed)."""
        return messages

    def reserve(self, ctx: TurnContext, available: int) -> int:
        """Tokens of ``available`` to hold back from the window for :meth:`fill` (default 0)."""
        return 0

    def fill(
        self, ctx: TurnContext, window: list[BaseMessage], budget: int | None
    ) -> Plan[list[BaseMessage]]:
        """Load, after the window: messages to add before it within ``budget`` (recall)."""
        return []
        yield  # pragma: no cover

    def after_turn(self, ctx: TurnContext, turn_messages: list[BaseMessage]) -> Plan[None]:
        """Save, after the turn was stored: update summaries, entities."""
        return None
        yield  # pragma: no cover

    def rebase(self, data: dict[str, Any], shift: int, floor: int) -> None:
        """An agent dropped ``shift`` messages: move stored positions by ``-shift`` (not below ``floor``)."""

    def needs_from(self, data: dict[str, Any], count: int) -> int | None:
        """The first of ``count`` positions this part still needs after the prompt is built
        (``data`` is its state), so an agent may drop older messages; ``None``: no need beyond
        the prompt's own messages."""
        return None

    # -- chat-turn API ---------------------------------------------------------------------
    def load_context(
        self,
        history: History,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        """The history part of this turn's prompt (goes before ``input_messages``)."""
        return run(reported(load_plan(self, history, input_messages, config), config))

    async def aload_context(
        self,
        history: History,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        return await arun(reported(load_plan(self, history, input_messages, config), config))

    def save_context(
        self,
        history: History,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        """Called after the turn's messages were appended; updates summaries and entities."""
        report(run(save_plan(self, history, turn_messages, config, inline=False)), config)

    async def asave_context(
        self,
        history: History,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        stats = await arun(save_plan(self, history, turn_messages, config, inline=False))
        await areport(stats, config)

    # -- background work -------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Wait for background work (summaries) scheduled by sync saves."""
        for part in self.members():
            if part is not self:
                part.flush(timeout)

    async def aflush(self) -> None:
        """Wait for background work scheduled by async saves."""
        for part in self.members():
            if part is not self:
                await part.aflush()

    # -- Runnable: standalone over a message list ------------------------------------------
    def _local_plan(
        self, messages: Sequence[BaseMessage], config: RunnableConfig
    ) -> Plan[tuple[list[BaseMessage], MemoryStats]]:
        """Save then load over ``messages``, with this memory's state for the config's thread."""
        configurable = (config or {}).get("configurable", {})
        key = str(configurable.get("thread_id") or configurable.get("session_id") or "default")
        with self._local_lock:
            history = ListHistory(messages, self._local_states.get(key), session_id=key)
        yield from save_plan(self, history, [], config, inline=True)
        result = yield from load_plan(self, history, [], config)
        with self._local_lock:
            self._local_states[key] = history.state
        return result

    def _run_local(
        self, messages: Sequence[BaseMessage], config: RunnableConfig
    ) -> list[BaseMessage]:
        return run(reported(self._local_plan(messages, config), config))

    async def _arun_local(
        self, messages: Sequence[BaseMessage], config: RunnableConfig
    ) -> list[BaseMessage]:
        return await arun(reported(self._local_plan(messages, config), config))

    def invoke(
        self, input: Sequence[BaseMessage], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        """Apply the strategy to a whole conversation (stateful ones keep state per ``thread_id``)."""
        return self._call_with_config(self._run_local, list(input), config)  # type: ignore[arg-type]

    async def ainvoke(
        self, input: Sequence[BaseMessage], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        return await self._acall_with_config(self._arun_local, list(input), config)  # type: ignore[arg-type]

    # -- composition -----------------------------------------------------------------------
    def __or__(self, other: Any) -> Any:
        """``a | b`` of two strategies is their composition; anything else chains as in LCEL."""
        if _strategies(other):
            return compose(self, *(other if isinstance(other, (list, tuple)) else [other]))
        return super().__or__(other)

    def __ror__(self, other: Any) -> Any:
        if isinstance(other, (list, tuple)) and _strategies(other):
            return compose(*other, self)
        return super().__ror__(other)


def _strategies(value: Any) -> bool:
    """A strategy, or a non-empty list or tuple of them."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(v, SessionMemory) for v in value)
    return isinstance(value, SessionMemory)


def _flatten(parts: Sequence[SessionMemory]) -> list[SessionMemory]:
    out: list[SessionMemory] = []
    for part in parts:
        inner = part.members()
        out.extend([part] if inner == [part] else _flatten(inner))
    return out


class ComposedMemory(SessionMemory):
    """Strategies applied together (system, summary, entities, window); at most one window.

    The budget is the smallest ``max_tokens`` among the parts (or the one given); blocks are
    paid for first and the window gets what is left.
    """

    def __init__(
        self,
        parts: Sequence[SessionMemory],
        *,
        max_tokens: int | None = None,
        token_counter: TokenCounterLike = None,
    ) -> None:
        if not _strategies(list(parts)):
            raise ConfigurationError(
                "compose() takes one or more memory strategies from langchain_sessionmem.memory"
            )
        budgets = [p.max_tokens for p in parts if p.max_tokens is not None]
        if max_tokens is None and budgets:
            max_tokens = min(budgets)
        counter = token_counter
        if counter is None:
            windowed = [p for p in parts if p.max_tokens is not None] or list(parts)
            counter = windowed[0].token_counter
        super().__init__(token_counter=counter, max_tokens=max_tokens)
        self._members = _flatten(parts)
        windows = [p for p in self._members if p.chooses_window]
        if len(windows) > 1:
            raise ConfigurationError(
                f"compose() got {len(windows)} window strategies ({', '.join(map(repr, windows))}); keep one"
            )
        self.keep_system = all(p.keep_system for p in self._members)

    def members(self) -> list[SessionMemory]:
        return list(self._members)

    def __repr__(self) -> str:
        return f"ComposedMemory({self._members!r}, max_tokens={self.max_tokens})"


def compose(
    *parts: Any, max_tokens: int | None = None, token_counter: TokenCounterLike = None
) -> ComposedMemory:
    """Compose strategies (or one list of them) into a single memory."""
    if len(parts) == 1 and isinstance(parts[0], (list, tuple)):
        parts = tuple(parts[0])
    return ComposedMemory(list(parts), max_tokens=max_tokens, token_counter=token_counter)
