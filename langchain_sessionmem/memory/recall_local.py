"""Recall over a plain message list (``RecallMemory().invoke(messages)``, an agent's state).

No store, so no kept index: the list is indexed for the call with the same analysis and BM25 as
a store's (lexical only, no time labels) and the same ranking and packing run on it. Fine for
the few hundred messages a list holds; a store's index is what scales.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from .._steps import drive
from ..recall import (
    FetchRequest,
    LexicalRequest,
    RecallParams,
    RecallResult,
    Turn,
    bm25_packed,
    doc_key,
    index_document,
    lexical_candidates,
    recall_steps,
    split_doc_key,
)
from ..recall.result import finished
from .units import group_units


def local_recall(
    history: Any,
    query: str,
    budget: int,
    *,
    cost: Callable[[list[BaseMessage]], int],
    header_cost: Callable[[Any], int] | None = None,
    fixed_cost: int = 0,
    exclude: Collection[tuple[str, str]] = (),
    params: RecallParams | None = None,
    **_: Any,
) -> RecallResult:
    """The turns of ``history``'s messages most relevant to ``query`` within ``budget``."""
    sid = history.session_id
    entries = history.range_entries(1)
    messages = [e.message for e in entries]
    seqs = [e.seq for e in entries]
    unit_of: dict[int, list[int]] = {}
    for unit in group_units(messages):
        if unit.keep:
            for i in range(unit.start, unit.end):
                unit_of[seqs[i]] = [seqs[j] for j in range(unit.start, unit.end)]
    by_seq = dict(zip(seqs, messages, strict=True))
    blobs: dict[str, bytearray] = {}
    total = 0
    for seq, message in by_seq.items():
        text = f"{message.name} {message.text}" if message.name else message.text
        document = index_document(text)
        total += document.length
        for term, record in document.records(doc_key(1, seq), 0).items():
            blobs.setdefault(term, bytearray()).extend(record)

    def answer(request: Any) -> Any:
        if isinstance(request, LexicalRequest):
            minutes: dict[int, int] = {}
            got = [bytes(blobs[t]) if t in blobs else None for t in request.terms]
            scores = bm25_packed(request.terms, got, len(by_seq), total, minutes=minutes)
            return lexical_candidates(scores, minutes, request.limit)
        if isinstance(request, FetchRequest):
            return dict(_turns(request.keys, unit_of, by_seq, sid, cost, set(exclude)))
        return []

    steps = recall_steps(
        query, budget, fixed_cost=fixed_cost, header_cost=header_cost, params=params
    )
    return finished(drive(steps, answer), {"fixed_cost": fixed_cost, "header_cost": header_cost})


def _turns(
    keys: Collection[int],
    unit_of: dict[int, list[int]],
    by_seq: dict[int, BaseMessage],
    sid: str,
    cost: Callable[[list[BaseMessage]], int],
    exclude: set[tuple[str, str]],
) -> Any:
    for key in keys:
        unit = unit_of.get(split_doc_key(key)[1])
        if unit is None:
            continue
        messages = [by_seq[s] for s in unit]
        if any((sid, str(m.id)) in exclude for m in messages) or all(
            isinstance(m, SystemMessage) for m in messages
        ):
            continue
        payload = (sid, tuple(unit), messages, None)
        yield key, Turn(doc_key(1, unit[0]), unit[0], sid, cost(messages), None, payload)
