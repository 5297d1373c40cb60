"""`SessionMemory`: the base of every strategy, and the one pipeline that runs them.

A strategy decides *what* of a session goes into the prompt. Each one is:

- a chat-turn hook for :func:`langchain_sessionmem.with_session_memory`: ``load_context`` before
  the model runs, ``save_context`` after the turn was stored (both with async twins);
- a ``Runnable`` mapping ``list[BaseMessage] -> list[BaseMessage]`` for standalone LCEL use,
  like ``trim_messages``.

Strategies compose (``a | b`` or a list) into one prompt laid out as: system message, summary,
entities, then the recent window, within one token budget. To make that possible a strategy
contributes through small hooks (``_prepare``, ``_select``, ``_transform``, ``_save``) that the
pipeline below calls in a fixed order; all I/O goes through :mod:`._plan` so the sync and async
paths share every line of logic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from ..codec import StoredMessage
from ..errors import BudgetExceededError
from ..records import SessionState
from ..tokens import MessageTokenCounter, TokenCounterLike, as_token_counter
from . import _plan
from ._plan import GetState, Plan, Range
from .local import ListHistory

logger = logging.getLogger("langchain_sessionmem.memory")

MEMORY_EVENT = "sessionmem_memory"
"""Name of the custom callback event each load and save dispatches (data: :class:`MemoryStats`)."""

BLOCK_MARKER = "sessionmem_block"
"""``additional_kwargs`` key marking messages memory injected (summary, entities)."""


@runtime_checkable
class SessionMemoryProtocol(Protocol):
    """What ``with_session_memory`` calls on its ``memory`` object each turn."""

    def load_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]: ...

    async def aload_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]: ...

    def save_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None: ...

    async def asave_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None: ...


@dataclass
class MemoryStats:
    """What memory did in one load or save: sizes, evictions, model calls and time."""

    strategy: str
    phase: str
    session_id: str | None = None
    user_id: str | None = None
    window_messages: int = 0
    window_tokens: int = 0
    prompt_tokens: int = 0
    summary_tokens: int = 0
    entity_count: int = 0
    evicted: int = 0
    summarizer_calls: int = 0
    extractor_calls: int = 0
    background: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def report(stats: MemoryStats, config: RunnableConfig | None) -> None:
    """Send ``stats`` to logging and to the callbacks as the custom event :data:`MEMORY_EVENT`.

    Inside a run the event is attached to it; outside one (the adapter calls memory around the
    inner runnable) a small ``sessionmem_memory`` run is opened to carry it, so tracers show
    memory work as its own step. Reporting never breaks a turn.
    """
    data = stats.as_dict()
    logger.debug("memory %s %s: %s", stats.strategy, stats.phase, data)
    if not config or not config.get("callbacks"):
        return
    try:
        from langchain_core.runnables.config import get_callback_manager_for_config

        manager = get_callback_manager_for_config(config)
        if manager.parent_run_id is not None:
            manager.on_custom_event(MEMORY_EVENT, data, run_id=manager.parent_run_id)
            return
        run = manager.on_chain_start(
            None, {"phase": stats.phase}, name=f"sessionmem_memory_{stats.phase}"
        )
        run.get_child().on_custom_event(MEMORY_EVENT, data, run_id=run.run_id)
        run.on_chain_end(data)
    except Exception:  # noqa: BLE001
        logger.debug("could not dispatch the memory event", exc_info=True)


async def areport(stats: MemoryStats, config: RunnableConfig | None) -> None:
    data = stats.as_dict()
    logger.debug("memory %s %s: %s", stats.strategy, stats.phase, data)
    if not config or not config.get("callbacks"):
        return
    try:
        from langchain_core.runnables.config import get_async_callback_manager_for_config

        manager = get_async_callback_manager_for_config(config)
        if manager.parent_run_id is not None:
            await manager.on_custom_event(MEMORY_EVENT, data, run_id=manager.parent_run_id)
            return
        run = await manager.on_chain_start(
            None, {"phase": stats.phase}, name=f"sessionmem_memory_{stats.phase}"
        )
        await run.get_child().on_custom_event(MEMORY_EVENT, data, run_id=run.run_id)
        await run.on_chain_end(data)
    except Exception:  # noqa: BLE001
        logger.debug("could not dispatch the memory event", exc_info=True)


def is_block(message: BaseMessage) -> bool:
    """True for messages memory injected (so they are never stored or summarized again)."""
    return bool(message.additional_kwargs.get(BLOCK_MARKER))


def text_of(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(m.text for m in messages)


@dataclass
class TurnContext:
    """Everything one load or save sees; strategies read and fill it through their hooks."""

    memory: SessionMemory
    history: Any
    input_messages: list[BaseMessage]
    config: RunnableConfig | None
    counter: MessageTokenCounter
    state: dict[str, Any]
    stats: MemoryStats
    floor: int = 0
    """Window candidates have ``seq > floor`` (the summary watermark)."""
    blocks: dict[str, list[BaseMessage]] = field(default_factory=dict)
    """Injected blocks by kind; laid out in :data:`BLOCK_ORDER` order."""
    inline: bool = True
    """``False`` lets a save defer slow work (summaries) to the background."""

    def transform(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        """Apply every part's window transform (tool-result compaction) in order."""
        for part in self.memory._parts():
            messages = part._transform(self, messages)
        return messages


BLOCK_ORDER = ("summary", "entities")


class SessionMemory(Runnable[Sequence[BaseMessage], list[BaseMessage]]):
    """Base class of every strategy; see the module docstring for the pipeline."""

    max_tokens: int | None = None
    keep_system: bool = True
    token_counter: MessageTokenCounter
    _is_window: bool = False
    _reads_state: bool = False
    """True for strategies that keep session state (summaries, entities); the others skip that read."""

    def __init__(
        self, *, token_counter: TokenCounterLike = None, max_tokens: int | None = None
    ) -> None:
        self.token_counter = as_token_counter(token_counter)
        if max_tokens is not None and max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.max_tokens = max_tokens
        self._local_states: dict[str, SessionState] = {}
        self._local_lock = threading.Lock()

    # -- hooks for the pipeline (override what applies) -----------------------------------
    def _parts(self) -> list[SessionMemory]:
        return [self]

    def _prepare(self, ctx: TurnContext) -> Plan[None]:
        """Read state, set ``ctx.floor`` and add blocks."""
        return None
        yield  # pragma: no cover - makes this a generator

    def _select(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        """Window strategies: the newest messages with ``seq >= min_seq`` that fit ``budget``."""
        entries = yield Range(ctx.history, min_seq)
        messages = ctx.transform([e.message for e in entries])
        from .window import select_window

        return select_window(messages, ctx.counter.counts(messages), budget=budget)

    def _transform(self, ctx: TurnContext, messages: list[BaseMessage]) -> list[BaseMessage]:
        return messages

    def _save(self, ctx: TurnContext, turn_messages: list[BaseMessage]) -> Plan[None]:
        return None
        yield  # pragma: no cover

    def _rebase(self, data: dict[str, Any], shift: int, floor: int) -> None:
        """Agents rewrite their message list: move this part's stored positions by ``-shift``."""

    # -- chat-turn API ---------------------------------------------------------------------
    def load_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        """The history part of this turn's prompt (goes before ``input_messages``)."""
        messages, stats = _plan.run(self._load_plan(history, input_messages, config))
        report(stats, config)
        return messages

    async def aload_context(
        self,
        history: Any,
        input_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> list[BaseMessage]:
        messages, stats = await _plan.arun(self._load_plan(history, input_messages, config))
        await areport(stats, config)
        return messages

    def save_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        """Called after the turn's messages were appended; updates summaries and entities."""
        stats = _plan.run(self._save_plan(history, turn_messages, config, inline=False))
        report(stats, config)

    async def asave_context(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None = None,
    ) -> None:
        stats = await _plan.arun(self._save_plan(history, turn_messages, config, inline=False))
        await areport(stats, config)

    # -- the pipeline ----------------------------------------------------------------------
    def _new_stats(self, history: Any, phase: str) -> MemoryStats:
        return MemoryStats(
            strategy=type(self).__name__,
            phase=phase,
            session_id=getattr(history, "session_id", None),
            user_id=getattr(history, "user_id", None),
        )

    def _load_plan(
        self, history: Any, input_messages: Sequence[BaseMessage], config: RunnableConfig | None
    ) -> Plan[tuple[list[BaseMessage], MemoryStats]]:
        started = time.perf_counter()
        stats = self._new_stats(history, "load")
        parts = self._parts()
        data = (yield GetState(history)).data if any(part._reads_state for part in parts) else {}
        ctx = TurnContext(
            self, history, list(input_messages), config, self.token_counter, data, stats
        )
        for part in parts:
            yield from part._prepare(ctx)

        system: list[BaseMessage] = []
        if self.keep_system:
            first = yield Range(history, 1, 2)
            if first and isinstance(first[0].message, SystemMessage):
                system = [first[0].message]
        min_seq = max(ctx.floor, 1 if system else 0) + 1

        counter = ctx.counter
        budget = self.max_tokens
        blocks = [m for kind in BLOCK_ORDER for m in ctx.blocks.get(kind, [])]
        window_budget: int | None = None
        if budget is not None:
            fixed = counter(system) + sum(counter.counts(ctx.input_messages))  # list overhead once
            if fixed > budget:
                if system and counter(system) > budget:
                    raise BudgetExceededError(
                        f"the system message alone takes {counter(system)} tokens, more than the "
                        f"memory budget max_tokens={budget}: raise max_tokens or shorten the system message"
                    )
                logger.warning(
                    "session %r: this turn's input takes the whole memory budget (%d > %d tokens); "
                    "no history is added",
                    stats.session_id,
                    fixed,
                    budget,
                )
            # Blocks that do not fit are dropped, least essential (entities) first.
            for kind in reversed(BLOCK_ORDER):
                if fixed + sum(counter.counts(blocks)) <= budget:
                    break
                dropped = ctx.blocks.pop(kind, [])
                if dropped:
                    logger.warning(
                        "session %r: dropped the %s block to stay within %d tokens",
                        stats.session_id,
                        kind,
                        budget,
                    )
                blocks = [m for k in BLOCK_ORDER for m in ctx.blocks.get(k, [])]
            window_budget = max(0, budget - fixed - sum(counter.counts(blocks)))

        window_part = next((p for p in parts if p._is_window), self)
        window = yield from window_part._select(ctx, window_budget, min_seq)
        result = [*system, *blocks, *window]

        stats.window_messages = len(window)
        stats.window_tokens = sum(counter.counts(window))
        stats.prompt_tokens = counter([*result, *ctx.input_messages])
        stats.seconds = time.perf_counter() - started
        return result, stats

    def _save_plan(
        self,
        history: Any,
        turn_messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        *,
        inline: bool,
    ) -> Plan[MemoryStats]:
        started = time.perf_counter()
        stats = self._new_stats(history, "save")
        ctx = TurnContext(self, history, [], config, self.token_counter, {}, stats, inline=inline)
        for part in self._parts():
            yield from part._save(ctx, list(turn_messages))
        stats.seconds = time.perf_counter() - started
        return stats

    # -- background work -------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Wait for background work (summaries) scheduled by sync saves."""
        for part in self._parts():
            if part is not self:
                part.flush(timeout)

    async def aflush(self) -> None:
        """Wait for background work scheduled by async saves."""
        for part in self._parts():
            if part is not self:
                await part.aflush()

    # -- Runnable: standalone over a message list ------------------------------------------
    def _local_key(self, config: RunnableConfig | None) -> str:
        configurable = (config or {}).get("configurable", {})
        return str(configurable.get("thread_id") or configurable.get("session_id") or "default")

    def _run_local(
        self, messages: Sequence[BaseMessage], config: RunnableConfig
    ) -> list[BaseMessage]:
        key = self._local_key(config)
        with self._local_lock:
            history = ListHistory(messages, self._local_states.get(key), session_id=key)
        _plan.run(self._save_plan(history, [], config, inline=True))
        result, stats = _plan.run(self._load_plan(history, [], config))
        with self._local_lock:
            self._local_states[key] = history.state
        report(stats, config)
        return result

    async def _arun_local(
        self, messages: Sequence[BaseMessage], config: RunnableConfig
    ) -> list[BaseMessage]:
        key = self._local_key(config)
        with self._local_lock:
            history = ListHistory(messages, self._local_states.get(key), session_id=key)
        await _plan.arun(self._save_plan(history, [], config, inline=True))
        result, stats = await _plan.arun(self._load_plan(history, [], config))
        with self._local_lock:
            self._local_states[key] = history.state
        await areport(stats, config)
        return result

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
        if isinstance(other, SessionMemory) or (
            isinstance(other, (list, tuple))
            and other
            and all(isinstance(o, SessionMemory) for o in other)
        ):
            from .compose import compose

            return compose(self, *(other if isinstance(other, (list, tuple)) else [other]))
        return super().__or__(other)

    def __ror__(self, other: Any) -> Any:
        if (
            isinstance(other, (list, tuple))
            and other
            and all(isinstance(o, SessionMemory) for o in other)
        ):
            from .compose import compose

            return compose(*other, self)
        return super().__ror__(other)


def entries_messages(entries: Sequence[StoredMessage]) -> list[BaseMessage]:
    return [e.message for e in entries]
