"""Sliding windows: the last ``k`` messages, or the newest messages that fit a token budget.

Both cut only between *units*: an ``AIMessage`` that calls tools forms one unit with the
``ToolMessage`` answers that follow it. So a window never starts on an orphan ``ToolMessage``
and never keeps a tool call without its results (the ``trim_messages`` failure modes). The
system message at position 1 is always kept; the budget always holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from ..tokens import TokenCounterLike
from ._plan import Plan, Range, Tail
from .base import SessionMemory, TurnContext


@dataclass
class Unit:
    """Messages ``[start, end)`` that must be kept or dropped together."""

    start: int
    end: int
    keep: bool = True
    """False for an orphan ToolMessage, or a tool call whose results are missing mid-history."""


def group_units(messages: Sequence[BaseMessage]) -> list[Unit]:
    """Split a conversation into atomic units, oldest first."""
    units: list[Unit] = []
    i = 0
    n = len(messages)
    while i < n:
        message = messages[i]
        if isinstance(message, AIMessage) and message.tool_calls:
            pending = {call.get("id") for call in message.tool_calls}
            j = i + 1
            while j < n:
                answer = messages[j]
                if not (isinstance(answer, ToolMessage) and answer.tool_call_id in pending):
                    break
                pending.discard(answer.tool_call_id)
                j += 1
            # An unanswered call is fine only at the very end (the tools are still running).
            units.append(Unit(i, j, keep=not pending or j == n))
            i = j
        else:
            units.append(Unit(i, i + 1, keep=not isinstance(message, ToolMessage)))
            i += 1
    return units


def select_window(
    messages: Sequence[BaseMessage],
    costs: Sequence[int],
    *,
    budget: int | None = None,
    max_messages: int | None = None,
) -> list[BaseMessage]:
    """The longest run of whole units ending at the newest message within both limits.

    Orphans inside the run are left out; the run stops at the first unit that does not fit,
    so the window is always a contiguous stretch of the conversation.
    """
    kept: list[Unit] = []
    used_tokens = 0
    used_messages = 0
    for unit in reversed(group_units(messages)):
        if not unit.keep:
            continue
        size = unit.end - unit.start
        tokens = sum(costs[unit.start : unit.end])
        if budget is not None and used_tokens + tokens > budget:
            break
        if max_messages is not None and used_messages + size > max_messages:
            break
        kept.append(unit)
        used_tokens += tokens
        used_messages += size
    return [m for unit in reversed(kept) for m in messages[unit.start : unit.end]]


class WindowMemory(SessionMemory):
    """The last ``k`` messages (plus the system message), cut only between whole units.

    Reads exactly ``k`` messages per turn. Within a composition it also respects the shared
    token budget.
    """

    _is_window = True

    def __init__(
        self, k: int = 20, *, token_counter: TokenCounterLike = None, keep_system: bool = True
    ) -> None:
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        super().__init__(token_counter=token_counter)
        self.k = k
        self.keep_system = keep_system

    def _select(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        entries = yield Tail(ctx.history, self.k)
        messages = ctx.transform([e.message for e in entries if e.seq >= min_seq])
        return select_window(
            messages, ctx.counter.counts(messages), budget=budget, max_messages=self.k
        )

    def __repr__(self) -> str:
        return f"WindowMemory(k={self.k})"


class TokenWindowMemory(SessionMemory):
    """The newest messages that fit ``max_tokens`` (system message and turn input included).

    Reads the session backwards in growing pages (``page_size``, doubling), so a turn reads
    about as many messages as fit, never the whole session.
    """

    _is_window = True

    def __init__(
        self,
        max_tokens: int = 2000,
        *,
        token_counter: TokenCounterLike = None,
        keep_system: bool = True,
        page_size: int = 32,
    ) -> None:
        super().__init__(token_counter=token_counter, max_tokens=max_tokens)
        self.keep_system = keep_system
        self.page_size = max(1, page_size)

    def _select(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        page = self.page_size
        entries = yield Tail(ctx.history, page)
        exhausted = len(entries) < page
        while True:
            entries = [e for e in entries if e.seq >= min_seq]
            if exhausted or not entries or entries[0].seq <= min_seq:
                break
            messages = ctx.transform([e.message for e in entries])
            enough = budget is not None and sum(ctx.counter.counts(messages)) > budget
            # A page may start inside a tool unit: read on until its AIMessage is in.
            if enough and not isinstance(entries[0].message, ToolMessage):
                break
            page *= 2
            first = entries[0].seq
            older = yield Range(ctx.history, max(min_seq, first - page), first)
            exhausted = not older
            entries = older + entries
        messages = ctx.transform([e.message for e in entries])
        return select_window(messages, ctx.counter.counts(messages), budget=budget)

    def __repr__(self) -> str:
        return f"TokenWindowMemory(max_tokens={self.max_tokens})"
