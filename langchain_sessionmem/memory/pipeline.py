"""The one order every strategy runs in: system message, blocks, window, within one token budget.

A strategy contributes through a small hook set (:class:`MemoryHooks`, implemented with
defaults by :class:`~.base.SessionMemory`); :func:`load_plan` and :func:`save_plan` call the
hooks of every part of a memory in a fixed order, with all I/O as :mod:`.ops`, so compositions
lay out one prompt (system, summary, entities, window) and sync and async share every line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from ..errors import BudgetExceededError
from ..tokens import MessageTokenCounter
from .ops import GetState, History, Plan, Range
from .reporting import MemoryStats
from .units import select_window

logger = logging.getLogger("langchain_sessionmem.memory")

BLOCK_MARKER = "sessionmem_block"
"""``additional_kwargs`` key marking messages memory injected (summary, entities)."""
BLOCK_ORDER = ("summary", "entities")
"""Block kinds in prompt order; when the budget is short they are dropped from the end."""


def is_block(message: BaseMessage) -> bool:
    """True for messages memory injected (so they are never stored or summarized again)."""
    return bool(message.additional_kwargs.get(BLOCK_MARKER))


def text_of(messages: Sequence[BaseMessage]) -> str:
    """The text of ``messages``, one per line."""
    return "\n".join(m.text for m in messages)


class MemoryHooks(Protocol):
    """The extension points of a strategy; :class:`~.base.SessionMemory` has a default for each.

    Load: every part's :meth:`prepare` (read state, raise ``ctx.floor``, add ``ctx.blocks``),
    then the one window part's :meth:`choose_window` (within the budget less what parts
    :meth:`reserve`), whose messages pass every part's :meth:`rewrite_window`, then every part's
    :meth:`fill` with the tokens left (recall). Save: every part's :meth:`after_turn`. Agents drop the messages no
    part :meth:`needs_from` any more and then call :meth:`rebase`. Plans yield ops from
    :mod:`.ops` and never do I/O.
    """

    max_tokens: int | None
    keep_system: bool
    token_counter: MessageTokenCounter
    chooses_window: bool
    """True for the strategy that picks the window (at most one per composition)."""
    keeps_state: bool
    """True for strategies that keep session state; a memory with none skips that read."""

    def members(self) -> Sequence[MemoryHooks]: ...
    def prepare(self, ctx: TurnContext) -> Plan[None]: ...
    def choose_window(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]: ...
    def rewrite_window(
        self, ctx: TurnContext, messages: list[BaseMessage]
    ) -> list[BaseMessage]: ...
    def reserve(self, ctx: TurnContext, available: int) -> int: ...
    def fill(
        self, ctx: TurnContext, window: list[BaseMessage], budget: int | None
    ) -> Plan[list[BaseMessage]]: ...
    def after_turn(self, ctx: TurnContext, turn_messages: list[BaseMessage]) -> Plan[None]: ...
    def rebase(self, data: dict[str, Any], shift: int, floor: int) -> None: ...
    def needs_from(self, data: dict[str, Any], count: int) -> int | None: ...


@dataclass
class TurnContext:
    """Everything one load or save sees; strategies read and fill it through their hooks."""

    memory: MemoryHooks
    history: History
    input_messages: list[BaseMessage]
    config: RunnableConfig | None
    counter: MessageTokenCounter
    state: dict[str, Any]
    """The session state read at the start of a load (``{}`` if no part keeps state)."""
    stats: MemoryStats
    floor: int = 0
    """Window candidates have ``seq > floor`` (the summary watermark)."""
    blocks: dict[str, list[BaseMessage]] = field(default_factory=dict)
    """Injected blocks by kind; laid out in :data:`BLOCK_ORDER` order."""
    inline: bool = True
    """``False`` lets a save defer slow work (summaries) to the background."""

    def rewrite(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        """Apply every part's :meth:`MemoryHooks.rewrite_window` (tool-result compaction) in order."""
        for part in self.memory.members():
            messages = part.rewrite_window(self, messages)
        return messages


def new_stats(memory: MemoryHooks, history: History, phase: str) -> MemoryStats:
    return MemoryStats(
        strategy=type(memory).__name__,
        phase=phase,
        session_id=history.session_id,
        user_id=history.user_id,
    )


def window_from(ctx: TurnContext, budget: int | None, min_seq: int) -> Plan[list[BaseMessage]]:
    """The default window: every message from ``min_seq`` on, newest units within ``budget``."""
    entries = yield Range(ctx.history, min_seq)
    messages = ctx.rewrite([e.message for e in entries])
    return select_window(messages, ctx.counter.counts(messages), budget=budget)


def load_plan(
    memory: MemoryHooks,
    history: History,
    input_messages: Sequence[BaseMessage],
    config: RunnableConfig | None,
) -> Plan[tuple[list[BaseMessage], MemoryStats]]:
    """This turn's history part of the prompt (system, blocks, window) and what it took."""
    started = time.perf_counter()
    stats = new_stats(memory, history, "load")
    parts = memory.members()
    data = (yield GetState(history)).data if any(p.keeps_state for p in parts) else {}
    counter = memory.token_counter
    ctx = TurnContext(memory, history, list(input_messages), config, counter, data, stats)
    for part in parts:
        yield from part.prepare(ctx)

    system: list[BaseMessage] = []
    if memory.keep_system:
        first = yield Range(history, 1, 2)
        if first and isinstance(first[0].message, SystemMessage):
            system = [first[0].message]
    min_seq = max(ctx.floor, 1 if system else 0) + 1

    budget = memory.max_tokens
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
            if ctx.blocks.pop(kind, []):
                logger.warning(
                    "session %r: dropped the %s block to stay within %d tokens",
                    stats.session_id,
                    kind,
                    budget,
                )
            blocks = [m for k in BLOCK_ORDER for m in ctx.blocks.get(k, [])]
        window_budget = max(0, budget - fixed - sum(counter.counts(blocks)))
        held = sum(part.reserve(ctx, window_budget) for part in parts)
        window_budget = max(0, window_budget - held)

    window_part = next((p for p in parts if p.chooses_window), memory)
    window = yield from window_part.choose_window(ctx, window_budget, min_seq)
    filled: list[BaseMessage] = []
    for part in parts:  # what the window left, for parts that add after it (recall)
        left = None
        if budget is not None:
            spent = sum(counter.counts([*blocks, *filled, *window]))
            left = max(0, budget - fixed - spent)
        filled += yield from part.fill(ctx, window, left)
    result = [*system, *blocks, *filled, *window]

    stats.window_messages = len(window)
    stats.window_tokens = sum(counter.counts(window))
    stats.prompt_tokens = counter([*result, *ctx.input_messages])
    stats.seconds = time.perf_counter() - started
    return result, stats


def save_plan(
    memory: MemoryHooks,
    history: History,
    turn_messages: Sequence[BaseMessage],
    config: RunnableConfig | None,
    *,
    inline: bool,
) -> Plan[MemoryStats]:
    """Every part's :meth:`MemoryHooks.after_turn`, in order; returns what they did."""
    started = time.perf_counter()
    stats = new_stats(memory, history, "save")
    ctx = TurnContext(memory, history, [], config, memory.token_counter, {}, stats, inline=inline)
    for part in memory.members():
        yield from part.after_turn(ctx, list(turn_messages))
    stats.seconds = time.perf_counter() - started
    return stats
