"""Fusion of candidate lists into final scores: reciprocal rank, neighbours, session and date priors.

Measured on LoCoMo (docs/recall.md): RRF with a steep k (5) because a 1-2k budget holds only
20-50 turns; the turn after a hit (and, less, the one before) shares its score, since answers sit
next to the turn that matched; sessions with many hits and dates the query names get a bonus.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass


def rrf(
    rankings: Sequence[Sequence[Hashable]],
    *,
    k: float = 60.0,
    weights: Sequence[float] | None = None,
) -> dict[Hashable, float]:
    """Reciprocal-rank fusion: the sum over lists of ``weight / (k + rank)``."""
    out: dict[Hashable, float] = {}
    for li, ranked in enumerate(rankings):
        w = 1.0 if weights is None else weights[li]
        for i, key in enumerate(ranked):
            out[key] = out.get(key, 0.0) + w / (k + i + 1)
    return out


@dataclass(frozen=True)
class RecallParams:
    """Every knob of the ranking; the defaults are the measured choice (docs/recall.md)."""

    rrf_k: float = 5.0
    """Steep: a 1-2k budget holds 20-50 turns, the top ranks must count."""
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    seeds: int = 40
    """Fused candidates that lend their score to their neighbours."""
    radius: int = 1
    """Neighbours on each side of a seed (same session only)."""
    next_decay: float = 0.6
    """A neighbour's score is ``decay * seed score``: the turn after a seed."""
    prev_decay: float = 0.4
    """The turn before a seed."""
    session_weight: float = 0.1
    """Adds ``weight * (sum of the episode's seed scores)`` to the episode's turns."""
    time_weight: float = 0.3
    """Adds ``weight * top score`` to turns inside a date the query names."""


def fuse_and_expand(
    lexical: Sequence[Hashable],
    dense: Sequence[Hashable] = (),
    *,
    neighbours: Callable[[Hashable, int], Hashable | None],
    session_of: Callable[[Hashable], Hashable] | None = None,
    time_of: Callable[[Hashable], _dt.date] | None = None,
    time_ranges: Sequence[tuple[_dt.date, _dt.date]] = (),
    params: RecallParams = RecallParams(),
) -> dict[Hashable, float]:
    """The final score of every turn worth packing.

    ``lexical`` / ``dense``: candidate keys, best first (either may be empty).
    ``neighbours(key, offset)``: the key ``offset`` turns away in the same session, or None. A
    neighbour gets ``decay * seed score`` and keeps the larger of that and its own score."""
    p = params
    lists, weights = [], []
    if lexical:
        lists.append(lexical)
        weights.append(p.lexical_weight)
    if dense:
        lists.append(dense)
        weights.append(p.dense_weight)
    fused = rrf(lists, k=p.rrf_k, weights=weights)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])
    scores = dict(fused)
    for key, s in ranked[: p.seeds]:
        for off in range(1, p.radius + 1):
            for sign, decay in ((1, p.next_decay), (-1, p.prev_decay)):
                nb = neighbours(key, sign * off)
                if nb is None:
                    continue
                v = s * decay**off
                if v > scores.get(nb, 0.0):
                    scores[nb] = v
    if p.session_weight and session_of is not None and ranked:
        best: dict[Hashable, float] = {}
        for key, s in ranked[: p.seeds]:
            episode = session_of(key)
            best[episode] = best.get(episode, 0.0) + s
        for key in scores:
            scores[key] += p.session_weight * best.get(session_of(key), 0.0)
    if p.time_weight and time_of is not None and time_ranges and ranked:
        top = ranked[0][1]
        for key in scores:
            day = time_of(key)
            if any(lo <= day <= hi for lo, hi in time_ranges):
                scores[key] += p.time_weight * top
    return scores
