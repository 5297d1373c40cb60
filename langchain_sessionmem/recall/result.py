"""What a recall returns to its caller: the packed turns with their source, score and cost.

A plain value shared by the store's recall (``SessionHistory.recall``) and the in-process one
over a message list, so the memory strategy renders both alike. ``repack`` fits the same
candidates to a smaller budget without another read (a rendering that came out over budget).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from .pack import Turn, pack
from .steps import Recalled


@dataclass(frozen=True)
class RecalledTurn:
    """A recalled message, or a whole tool-call unit, with where it came from and its score."""

    session_id: str
    seqs: tuple[int, ...]
    messages: list[Any]
    minute: int | None
    score: float
    tokens: int


@dataclass
class RecallResult:
    """What one recall packed, in conversation order."""

    turns: list[RecalledTurn] = field(default_factory=list)
    tokens: int = 0
    lexical: int = 0
    dense: int = 0
    fetches: int = 0
    recalled: Recalled | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def repack(self, budget: int, skip: Collection[Any] = ()) -> RecallResult:
        """The same candidates packed into ``budget``, leaving out the turn keys in ``skip``."""
        if self.recalled is None:
            return self
        r = self.recalled
        packed = pack(r.all_scores, r.all_turns, budget, skip=set(skip), **self.options)
        return as_result(packed.turns, packed.scores, packed.tokens, r, self.options)


def as_result(
    turns: Sequence[Turn],
    scores: Sequence[float],
    tokens: int,
    recalled: Recalled,
    options: dict[str, Any],
) -> RecallResult:
    """A :class:`RecallResult` of packed turns whose payload is ``(sid, seqs, messages, minute)``."""
    out = [
        RecalledTurn(t.payload[0], t.payload[1], t.payload[2], t.payload[3], s, t.cost)
        for t, s in zip(turns, scores, strict=True)
    ]
    return RecallResult(
        out, tokens, recalled.lexical, recalled.dense, recalled.fetches, recalled, options
    )


def finished(recalled: Recalled, options: dict[str, Any]) -> RecallResult:
    """The result of a finished :func:`~.steps.recall_steps` run."""
    return as_result(recalled.turns, recalled.scores, recalled.tokens, recalled, options)
