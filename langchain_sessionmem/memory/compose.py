"""Composition: several strategies, one prompt (system, summary, entities, window), one budget.

``compose(SummaryMemory(...), EntityMemory(...), TokenWindowMemory(1500))``, the list form, or
``a | b`` all build a :class:`ComposedMemory`. Its budget is the smallest ``max_tokens`` among
the parts (or the one given); blocks are paid for first and the window gets what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ..tokens import TokenCounterLike
from .base import SessionMemory


def _flatten(parts: Sequence[SessionMemory]) -> list[SessionMemory]:
    out: list[SessionMemory] = []
    for part in parts:
        inner = part._parts()
        out.extend([part] if inner == [part] else _flatten(inner))
    return out


class ComposedMemory(SessionMemory):
    """Strategies applied together; at most one of them may choose the window."""

    def __init__(
        self,
        parts: Sequence[SessionMemory],
        *,
        max_tokens: int | None = None,
        token_counter: TokenCounterLike = None,
    ) -> None:
        if not parts or not all(isinstance(p, SessionMemory) for p in parts):
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
        windows = [p for p in self._members if p._is_window]
        if len(windows) > 1:
            raise ConfigurationError(
                f"compose() got {len(windows)} window strategies ({', '.join(map(repr, windows))}); keep one"
            )
        self.keep_system = all(p.keep_system for p in self._members)

    def _parts(self) -> list[SessionMemory]:
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
