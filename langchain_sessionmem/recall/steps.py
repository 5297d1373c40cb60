"""One recall as sans-IO steps: candidates, fusion, priors, then fetches until the budget is full.

:func:`recall_steps` is a generator that yields requests (:class:`LexicalRequest`,
:class:`DenseRequest`, :class:`FetchRequest`) and receives each reply, so the history drives it
with blocking or awaited engine calls (``_steps.drive`` / ``adrive``) and tests drive it with
dicts. Keys are doc keys (``session_no << 32 | seq``), so a neighbour needs no read: it is
``key ± 1``, fetched only if it scores well enough to be packed.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Generator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .analysis import analyze, term_digest
from .pack import PackResult, Turn, candidate_limit, day_of, pack, query_time_ranges
from .postings import SEQ_BITS, split_doc_key
from .rank import RecallParams, fuse_and_expand

TimeRange = tuple[_dt.date, _dt.date]


@dataclass(frozen=True)
class LexicalRequest:
    """Lexical candidates of the scope. Reply: ``[(doc, minute), ...]`` best first.

    ``terms``: the query's index terms (digested like the index). ``limit``: how many by BM25;
    also every other match whose minute falls in ``time_ranges``."""

    terms: tuple[str, ...]
    limit: int
    time_ranges: tuple[TimeRange, ...]


@dataclass(frozen=True)
class DenseRequest:
    """The ``limit`` stored vectors nearest the query's embedding (the driver embeds it).
    Reply: ``[(doc, minute), ...]`` best first."""

    query: str
    limit: int


@dataclass(frozen=True)
class FetchRequest:
    """The turns of ``keys``, best first. Reply: ``{doc: Turn}`` for the keys that exist (a
    missing neighbour is simply absent; a key inside a tool-call unit answers with the unit)."""

    keys: tuple[int, ...]


RecallSteps = Generator[Any, Any, "Recalled"]


@dataclass
class Recalled(PackResult):
    """A :class:`PackResult` plus what led to it: every score and every fetched turn, so a
    caller that finds its rendering over budget can repack without another read."""

    all_scores: dict[int, float] = field(default_factory=dict)
    all_turns: dict[int, Turn] = field(default_factory=dict)
    lexical: int = 0
    dense: int = 0
    fetches: int = 0


def neighbour(key: Hashable, offset: int) -> int | None:
    """The doc ``offset`` positions away in the same session (positions start at 1)."""
    session_no, seq = split_doc_key(int(key))  # type: ignore[call-overload]
    seq += offset
    if seq < 1 or seq >= 1 << SEQ_BITS:
        return None
    return (session_no << SEQ_BITS) | seq


def recall_steps(
    query: str,
    budget: int,
    *,
    secret: bytes | None = None,
    fixed_cost: int = 0,
    header_cost: Callable[[Hashable], int] | None = None,
    exclude: frozenset[Hashable] | set[Hashable] = frozenset(),
    dense: bool = False,
    lexical: bool = True,
    params: RecallParams | None = None,
    typical_cost: int = 40,
) -> RecallSteps:
    """The turns of the scope most relevant to ``query`` that fit ``budget`` tokens.

    Candidates: the top ``max(50, budget / 20)`` by BM25 (plus matches in a date the query
    names) and, with ``dense``, as many nearest vectors; fused by RRF, neighbours and priors
    (:func:`~.rank.fuse_and_expand`); then fetched in score order, twice as many each round,
    until less than ``typical_cost / 2`` is left (usually one fetch)."""
    limit = candidate_limit(budget)
    ranges = tuple(query_time_ranges(query))
    terms = tuple(dict.fromkeys(term_digest(t, secret) for t in analyze(query)))
    lexical_hits = (yield LexicalRequest(terms, limit, ranges)) if lexical and terms else []
    dense_hits = (yield DenseRequest(query, limit)) if dense else []
    minutes: dict[int, int] = {}
    for key, minute in [*lexical_hits, *dense_hits]:
        minutes[key] = minute

    def minute_of(key: Hashable) -> int:
        m = minutes.get(key)  # type: ignore[call-overload]
        if m is None:  # a neighbour: the time of the nearest known turn of its session
            for off in (1, -1, 2, -2):
                nb = neighbour(key, off)
                if nb is not None and nb in minutes:
                    return minutes[nb]
            return 0
        return m

    def episode(key: Hashable) -> Hashable:
        return (int(key) >> SEQ_BITS, minute_of(key) // 1440)  # type: ignore[call-overload]

    scores = fuse_and_expand(
        [k for k, _ in lexical_hits],
        [k for k, _ in dense_hits],
        neighbours=neighbour,
        session_of=episode,
        time_of=lambda key: day_of(minute_of(key)),
        time_ranges=ranges,
        params=params or RecallParams(),
    )
    ordered = [k for k, _ in sorted(scores.items(), key=lambda kv: -kv[1]) if k not in exclude]
    result = Recalled(tokens=fixed_cost, lexical=len(lexical_hits), dense=len(dense_hits))
    turns: dict[int, Turn] = {}
    start, batch = 0, max(8, 2 * (budget - fixed_cost) // max(typical_cost, 1))
    while start < len(ordered) and budget - fixed_cost > 0:
        keys = tuple(int(k) for k in ordered[start : start + batch])  # type: ignore[call-overload]
        start += batch
        reply: Mapping[int, Turn] = yield FetchRequest(keys)
        result.fetches += 1
        turns.update(reply)
        packed = pack(
            {k: scores[k] for k in ordered[:start]},
            turns,
            budget,
            fixed_cost=fixed_cost,
            header_cost=header_cost,
            exclude=exclude,
        )
        result.turns, result.scores, result.tokens = packed.turns, packed.scores, packed.tokens
        if budget - packed.tokens < typical_cost // 2:
            break  # full: later keys score lower and could only fill a sliver
        batch *= 2
    result.all_scores = {int(k): v for k, v in scores.items()}  # type: ignore[call-overload]
    result.all_turns = turns
    return result
