"""Budget packing of recalled turns, their date labels, and the dates a query names.

Greedy by score (skip what does not fit, keep filling), then laid out in conversation order
with one ``[7 May 2023]`` header per group of turns of the same day: a date on every line costs
about 6 tokens a turn, which a 1-2k budget cannot spare (measured, docs/recall.md).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

EPOCH = _dt.date(1970, 1, 1)


def day_of(minute: int) -> _dt.date:
    """The UTC calendar day of a minute since the epoch."""
    return EPOCH + _dt.timedelta(days=minute // 1440)


def date_label(minute: int) -> str:
    """``"7 May 2023"``: the label of a group of turns."""
    return _day_label(minute // 1440)


@lru_cache(maxsize=4096)
def _day_label(days: int) -> str:
    day = EPOCH + _dt.timedelta(days=days)
    return f"{day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def candidate_limit(budget: int) -> int:
    """Candidates per list: ``max(50, budget / 20)`` (measured: no loss against every match)."""
    return max(50, budget // 20)


@dataclass(frozen=True)
class Turn:
    """What packing needs of a stored message, or of a tool-call unit (one turn, never split)."""

    key: Hashable
    """The turn's own key: a unit's key is its first message's, so hits inside it merge."""
    order: Any
    """Sortable conversation order, e.g. ``(session created, seq)``."""
    session: Hashable
    cost: int
    """Tokens of the rendered lines, without the group header."""
    group: Hashable = None
    """The label group (the date) whose header the turn shares."""
    payload: Any = None
    """What the caller renders (messages); packing never looks at it."""


@dataclass
class PackResult:
    """The packed turns in conversation order, their scores, and the tokens spent."""

    turns: list[Turn] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    tokens: int = 0

    @property
    def keys(self) -> list[Hashable]:
        return [t.key for t in self.turns]


def pack(
    scores: Mapping[Hashable, float],
    turns: Mapping[Hashable, Turn],
    budget: int,
    *,
    fixed_cost: int = 0,
    header_cost: Callable[[Hashable], int] | None = None,
    exclude: frozenset[Hashable] | set[Hashable] = frozenset(),
    skip: frozenset[Hashable] | set[Hashable] = frozenset(),
) -> PackResult:
    """Best score first; a turn that does not fit is skipped and filling goes on.

    ``fixed_cost``: tokens already spent (the block's frame). ``header_cost(group)``: a group
    label line, paid by the first turn of the group (``None``: labels are inside ``cost``).
    ``exclude``: keys the window holds (a turn is left out when its key or its unit's key is
    there); ``skip``: turn keys the caller refuses (too big after rendering). The budget is never
    exceeded as long as costs add up (the token counter's contract)."""
    used = fixed_cost
    chosen: dict[Hashable, tuple[Turn, float]] = {}
    groups: set[Hashable] = set()
    for key, score in sorted(
        ((k, s) for k, s in scores.items() if k in turns and k not in exclude),
        key=lambda kv: -kv[1],
    ):
        turn = turns[key]
        if turn.key in chosen or turn.key in exclude or turn.key in skip:
            continue
        extra = turn.cost
        if header_cost is not None and turn.group not in groups:
            extra += header_cost(turn.group)
        if used + extra > budget:
            continue
        used += extra
        chosen[turn.key] = (turn, score)
        groups.add(turn.group)
    ordered = sorted(chosen.values(), key=lambda ts: ts[0].order)
    return PackResult([t for t, _ in ordered], [s for _, s in ordered], used)


def group_by_label(turns: Iterable[Turn]) -> list[tuple[Hashable, list[Turn]]]:
    """Consecutive turns of one group, in order: what rendering writes under one header."""
    out: list[tuple[Hashable, list[Turn]]] = []
    for turn in turns:
        if out and out[-1][0] == turn.group:
            out[-1][1].append(turn)
        else:
            out.append((turn.group, [turn]))
    return out


_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (
    re.compile(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MON})\.?,?\s+(\d{{4}})\b", re.IGNORECASE
    ),  # 13 October 2023
    re.compile(
        rf"\b({_MON})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE
    ),  # October 13, 2023
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),  # 2023-10-13
    re.compile(rf"\b({_MON})\.?,?\s+(?:of\s+)?(\d{{4}})\b", re.IGNORECASE),  # October 2023
)


def query_time_ranges(
    text: str, *, after_days: int = 14, before_days: int = 1
) -> list[tuple[_dt.date, _dt.date]]:
    """Date ranges a query names ("in July 2023", "on 13 October, 2023", "2023-10-13").

    A day gives [day - before_days, day + after_days] and a month [1st, last + after_days]:
    people tell of an event on or after the day it happened."""
    out: list[tuple[_dt.date, _dt.date]] = []
    spans: list[tuple[int, int]] = []
    after, before = _dt.timedelta(days=after_days), _dt.timedelta(days=before_days)
    for n, pattern in enumerate(_DATE_PATTERNS):
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            try:
                if n == 0:
                    day = _dt.date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
                elif n == 1:
                    day = _dt.date(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))
                elif n == 2:
                    day = _dt.date(int(m[1]), int(m[2]), int(m[3]))
                else:
                    year, month = int(m[2]), _MONTHS[m[1].lower()]
                    first = _dt.date(year, month, 1)
                    nxt = _dt.date(year + month // 12, month % 12 + 1, 1)
                    span = (first, nxt - _dt.timedelta(days=1) + after)
                if n < 3:
                    span = (day - before, day + after)
            except (ValueError, OverflowError):
                continue
            out.append(span)
            spans.append(m.span())
    return out
