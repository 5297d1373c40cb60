"""Sliding windows: the last ``k`` messages, or the newest messages that fit a token budget.

Both cut only between tool-call units (:mod:`.units`), so a window never starts on an orphan
``ToolMessage`` and never keeps a tool call without its results. The system message at
position 1 is always kept; the budget always holds.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, ToolMessage

from ..tokens import TokenCounterLike
from .base import SessionMemory
from .ops import Plan, Range, Tail
from .pipeline import TurnContext
from .units import select_window


class WindowMemory(SessionMemory):
    """The last ``k`` messages (plus the system message), cut only between whole units.

    Reads exactly ``k`` messages per turn. Within a composition it also respects the shared
    token budget.
    """

    chooses_window = True

    def __init__(
        self, k: int = 20, *, token_counter: TokenCounterLike = None, keep_system: bool = True
    ) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        super().__init__(token_counter=token_counter)
        self.k = k
        self.keep_system = keep_system

    def choose_window(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        entries = yield Tail(ctx.history, self.k)
        messages = ctx.rewrite([e.message for e in entries if e.seq >= min_seq])
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

    chooses_window = True

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

    def choose_window(
        self, ctx: TurnContext, budget: int | None, min_seq: int
    ) -> Plan[list[BaseMessage]]:
        page = self.page_size
        entries = yield Tail(ctx.history, page)
        exhausted = len(entries) < page
        while True:
            entries = [e for e in entries if e.seq >= min_seq]
            if exhausted or not entries or entries[0].seq <= min_seq:
                break
            messages = ctx.rewrite([e.message for e in entries])
            enough = budget is not None and sum(ctx.counter.counts(messages)) > budget
            # A page may start inside a tool unit: read on until its AIMessage is in.
            if enough and not isinstance(entries[0].message, ToolMessage):
                break
            page *= 2
            first = entries[0].seq
            older = yield Range(ctx.history, max(min_seq, first - page), first)
            exhausted = not older
            entries = older + entries
        messages = ctx.rewrite([e.message for e in entries])
        return select_window(messages, ctx.counter.counts(messages), budget=budget)

    def __repr__(self) -> str:
        return f"TokenWindowMemory(max_tokens={self.max_tokens})"
