"""Packed postings: the one lexical index layout every engine stores, and BM25 over it.

Per (term, scope) an engine keeps the concatenation of 16-byte records ``<QHHI`` = (doc, tf,
document length in terms, minute), appended when a message is stored (a Redis ``APPEND``, a
SQL ``blob || excluded.blob``). ``doc = session_no << 32 | seq``: ``session_no`` is a small
number the engine gives each session of a user, ``seq`` the message's position. Scoring reads
the records of the query's terms only, so the same code ranks on every engine.
"""

from __future__ import annotations

import datetime as _dt
import functools
import heapq
import math
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._lazy import lazy_numpy
from .analysis import index_terms, term_frequencies

# numpy only speeds up scoring (the pure loop gives the same scores); it loads on first use,
# so a store that never recalls never imports it.
_np = lazy_numpy()


@functools.cache
def _record() -> Any:
    return _np.dtype([("doc", "<u8"), ("tf", "<u2"), ("dl", "<u2"), ("minute", "<u4")])


POSTING = struct.Struct("<QHHI")
"""One record: doc (session_no << 32 | seq), tf, document length in terms, minute."""
SEQ_BITS = 32
_SEQ_MASK = (1 << SEQ_BITS) - 1
_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
K1 = 1.2
B = 0.75


def doc_key(session_no: int, seq: int) -> int:
    """A message's index key: the session's small per-user number and the message's seq."""
    return (session_no << SEQ_BITS) | seq


def split_doc_key(doc: int) -> tuple[int, int]:
    """``(session_no, seq)`` of a doc key."""
    return doc >> SEQ_BITS, doc & _SEQ_MASK


def minute_of(epoch_seconds: float) -> int:
    """Minutes since the Unix epoch, clamped to what a record holds."""
    return max(0, min(_U32, int(epoch_seconds // 60)))


@dataclass(frozen=True)
class IndexDocument:
    """What indexing one message writes: its terms with their counts and its length.

    ``minute`` is the message's time in minutes since the epoch; ``None`` lets the engine stamp
    the time it stores the message (its clock)."""

    terms: Mapping[str, int]
    length: int
    minute: int | None = None

    def records(self, doc: int, minute: int) -> dict[str, bytes]:
        """Term -> the 16-byte record to append to that term's postings."""
        length = min(self.length, _U16)
        return {
            term: POSTING.pack(doc, min(tf, _U16), length, minute)
            for term, tf in self.terms.items()
        }


def index_document(
    text: str, *, secret: bytes | None = None, minute: int | None = None
) -> IndexDocument:
    """The :class:`IndexDocument` of ``text`` (terms digested under ``secret`` if given)."""
    terms = index_terms(text, secret)
    return IndexDocument(term_frequencies(terms), len(terms), minute)


def bm25_idf(df: int, n_docs: int) -> float:
    """Lucene's non-negative BM25 idf: ln(1 + (N - df + 0.5) / (df + 0.5))."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def bm25_packed(
    query_terms: Sequence[str],
    blobs: Sequence[bytes | None],
    n_docs: int,
    total_len: int,
    *,
    live: Collection[int] | None = None,
    minutes: dict[int, int] | None = None,
    k1: float = K1,
    b: float = B,
) -> dict[int, float]:
    """BM25 of every message in the postings read for ``query_terms``.

    ``blobs[i]`` holds the records of ``query_terms[i]`` (``None`` if the term is unknown).
    ``live``: the session numbers to score (records of a session deleted or expired but not yet
    compacted are skipped); ``None`` scores all. ``minutes``, if given, receives doc -> minute
    for every scored message. numpy, when present, does the arithmetic."""
    if n_docs <= 0:
        return {}
    avg = total_len / n_docs if total_len > 0 else 1.0
    c1, c2 = k1 * (1.0 - b), k1 * b / avg  # tf / (tf + k1 * (1 - b + b * dl / avg))
    qtf = term_frequencies(query_terms)
    weighted = []
    for term, blob in zip(query_terms, blobs, strict=True):
        qn = qtf.pop(term, 0)  # a repeated query term is weighted once, by its count
        if blob and qn:
            df = len(blob) // POSTING.size
            weighted.append(
                (blob[: df * POSTING.size], bm25_idf(min(df, n_docs), n_docs) * qn * (k1 + 1.0))
            )
    if _np is not None and sum(len(blob) for blob, _ in weighted) >= 4096:
        return _bm25_numpy(weighted, c1, c2, live, minutes)
    scores: dict[int, float] = {}
    get = scores.get
    for blob, w in weighted:
        for doc, tf, dl, minute in POSTING.iter_unpack(blob):
            if live is not None and doc >> SEQ_BITS not in live:
                continue
            scores[doc] = get(doc, 0.0) + w * tf / (tf + c1 + c2 * dl)
            if minutes is not None:
                minutes[doc] = minute
    return scores


def _bm25_numpy(
    weighted: list[tuple[bytes, float]],
    c1: float,
    c2: float,
    live: Collection[int] | None,
    minutes: dict[int, int] | None,
) -> dict[int, float]:
    docs, totals, minutes_of = _scored(weighted, c1, c2, live)
    keys = docs.tolist()
    if minutes is not None:
        minutes.update(zip(keys, minutes_of.tolist(), strict=True))
    return dict(zip(keys, totals.tolist(), strict=True))


def without_docs(blob: bytes, drop: Callable[[int], bool]) -> bytes:
    """``blob`` without the records whose doc ``drop`` selects (compaction, pop)."""
    size = POSTING.size
    kept = [
        blob[i : i + size]
        for i in range(0, len(blob) - size + 1, size)
        if not drop(POSTING.unpack_from(blob, i)[0])
    ]
    return b"".join(kept)


def _minute_of_day(day: _dt.date) -> int:
    return (day - _dt.date(1970, 1, 1)).days * 1440


def lexical_candidates(
    scores: Mapping[int, float],
    minutes: Mapping[int, int],
    limit: int,
    time_ranges: Sequence[tuple[_dt.date, _dt.date]] = (),
) -> list[tuple[int, int]]:
    """The reply to a lexical request from scores of every match: the ``limit`` best, then
    every other match inside ``time_ranges``, as ``(doc, minute)`` best first."""
    top = heapq.nlargest(limit, scores, key=scores.__getitem__)
    out = [(k, minutes.get(k, 0)) for k in top]
    if time_ranges and len(scores) > limit:
        taken = set(top)
        bounds = [(_minute_of_day(lo), _minute_of_day(hi) + 1439) for lo, hi in time_ranges]
        extra = [
            k
            for k, m in minutes.items()
            if k not in taken and k in scores and any(lo <= m <= hi for lo, hi in bounds)
        ]
        extra.sort(key=scores.__getitem__, reverse=True)
        out.extend((k, minutes[k]) for k in extra)
    return out


def lexical_top(
    query_terms: Sequence[str],
    blobs: Sequence[bytes | None],
    n_docs: int,
    total_len: int,
    limit: int,
    time_ranges: Sequence[tuple[_dt.date, _dt.date]] = (),
    *,
    live: Collection[int] | None = None,
) -> list[tuple[int, int]]:
    """:func:`bm25_packed` then :func:`lexical_candidates` in one pass: with numpy the top is
    taken on arrays, so a turn never builds a dict of every match (the same reply)."""
    if _np is None or sum(len(b) for b in blobs if b) < 4096 or n_docs <= 0:
        minutes: dict[int, int] = {}
        scores = bm25_packed(query_terms, blobs, n_docs, total_len, live=live, minutes=minutes)
        return lexical_candidates(scores, minutes, limit, time_ranges)
    avg = total_len / n_docs if total_len > 0 else 1.0
    c1, c2 = K1 * (1.0 - B), K1 * B / avg
    qtf = term_frequencies(query_terms)
    weighted = []
    for term, blob in zip(query_terms, blobs, strict=True):
        qn = qtf.pop(term, 0)
        if blob and qn:
            df = len(blob) // POSTING.size
            w = bm25_idf(min(df, n_docs), n_docs) * qn * (K1 + 1.0)
            weighted.append((blob[: df * POSTING.size], w))
    docs, totals, minutes_of = _scored(weighted, c1, c2, live)
    if not len(docs):
        return []
    order = _np.lexsort((-docs.astype(_np.float64), -totals))  # best first, ties: newer first
    head = order[:limit]
    out = list(zip(docs[head].tolist(), minutes_of[head].tolist(), strict=True))
    if time_ranges and len(order) > limit:
        rest = order[limit:]
        inside = _np.zeros(len(rest), dtype=bool)
        for lo, hi in time_ranges:
            low, high = _minute_of_day(lo), _minute_of_day(hi) + 1439
            inside |= (minutes_of[rest] >= low) & (minutes_of[rest] <= high)
        extra = rest[inside]
        out.extend(zip(docs[extra].tolist(), minutes_of[extra].tolist(), strict=True))
    return out


def _scored(
    weighted: list[tuple[bytes, float]], c1: float, c2: float, live: Collection[int] | None
) -> tuple[Any, Any, Any]:
    """Unique docs, their BM25 totals and minutes, as arrays."""
    records = _np.frombuffer(b"".join(blob for blob, _ in weighted), dtype=_record())
    weights = _np.repeat(
        _np.array([w for _, w in weighted]), [len(blob) // POSTING.size for blob, _ in weighted]
    )
    if live is not None:
        keep = _np.isin(records["doc"] >> SEQ_BITS, _np.fromiter(live, dtype=_np.uint64))
        records, weights = records[keep], weights[keep]
    tf = records["tf"].astype(_np.float64)
    part = weights * tf / (tf + c1 + c2 * records["dl"])
    docs, first, where = _np.unique(records["doc"], return_index=True, return_inverse=True)
    totals = _np.bincount(where, weights=part, minlength=len(docs))
    return docs, totals, records["minute"][first].astype(_np.int64)
