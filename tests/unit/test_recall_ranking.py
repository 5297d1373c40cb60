"""The recall core's fusion, packing, sans-IO steps and vectors (recall/rank, pack, steps, vectors)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from langchain_sessionmem.recall import (
    FetchRequest,
    LexicalRequest,
    RecallParams,
    Turn,
    VectorCache,
    VectorRows,
    bm25_packed,
    decode_vector,
    doc_key,
    encode_vector,
    fuse_and_expand,
    index_document,
    lexical_candidates,
    normalized,
    pack,
    query_time_ranges,
    recall_steps,
)
from langchain_sessionmem.recall.vectors import binary_signature, dense_topk, hamming_topk


def _turns(n_sessions=3, per=10, cost=lambda s, q: 10 + (s * 7 + q * 3) % 13):
    return {
        (s, q): Turn((s, q), (s, q), s, cost(s, q), f"day{s}")
        for s in range(n_sessions)
        for q in range(per)
    }


def _nb(turns):
    def nb(key, off):
        k = (key[0], key[1] + off)
        return k if k in turns else None

    return nb


@pytest.mark.parametrize("budget", [0, 15, 40, 97, 250, 10_000])
def test_pack_never_exceeds_budget_and_keeps_order(budget):
    turns = _turns()
    rnd = random.Random(budget)
    scores = {k: rnd.random() for k in turns}
    res = pack(scores, turns, budget, fixed_cost=5, header_cost=lambda g: 4)
    spent = 5 + sum(t.cost for t in res.turns) + 4 * len({t.group for t in res.turns})
    assert spent == res.tokens
    assert res.tokens <= max(budget, 5)
    assert res.keys == sorted(res.keys)


def test_pack_excludes_the_window_and_prefers_higher_scores():
    turns = _turns()
    scores = {k: 1.0 / (1 + i) for i, k in enumerate(turns)}
    res = pack(scores, turns, 60, exclude={(0, 0)})
    assert (0, 0) not in res.keys and (0, 1) in res.keys


def test_pack_takes_a_unit_once_whichever_of_its_messages_matched():
    unit = Turn("u", 1, "s", 30, "d")
    turns = {"a": unit, "b": unit, "c": Turn("c", 2, "s", 30, "d")}
    res = pack({"a": 3.0, "b": 2.0, "c": 1.0}, turns, 100)
    assert res.keys == ["u", "c"] and res.tokens == 60
    assert pack({"a": 3.0, "c": 1.0}, turns, 100, exclude={"u"}).keys == ["c"]


def test_neighbours_get_the_decayed_seed_score_within_their_session_only():
    turns = _turns()
    p = RecallParams(rrf_k=5, next_decay=0.6, prev_decay=0.4)
    sc = fuse_and_expand([(1, 0), (2, 5)], neighbours=_nb(turns), params=p)
    assert sc[(1, 1)] == pytest.approx(0.6 / 6)
    assert (0, 9) not in sc  # the turn before (1, 0) is in another session
    assert sc[(2, 4)] == pytest.approx(0.4 / 7)


def test_session_and_date_priors():
    turns = _turns()
    p = RecallParams(rrf_k=5, session_weight=0.1, time_weight=0.3, seeds=0)
    day = {0: dt.date(2023, 5, 1), 1: dt.date(2023, 7, 15), 2: dt.date(2023, 9, 1)}
    sc = fuse_and_expand(
        [(0, 1), (0, 2), (1, 3), (2, 3)],
        neighbours=_nb(turns),
        session_of=lambda k: k[0],
        time_of=lambda k: day[k[0]],
        time_ranges=query_time_ranges("what happened in July 2023?"),
        params=p,
    )
    assert sc[(1, 3)] > sc[(0, 2)]  # the named month wins over a better lexical rank


def test_query_time_ranges():
    assert query_time_ranges("on October 13, 2023?") == [
        (dt.date(2023, 10, 12), dt.date(2023, 10, 27))
    ]
    assert query_time_ranges("in July 2023")[0][0] == dt.date(2023, 7, 1)
    assert query_time_ranges("2023-02-30 and 31 December 9999") == []  # no such days
    assert query_time_ranges("may I ask") == []


def _drive(steps, answer):
    reply = None
    while True:
        try:
            request = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = answer(request)


def test_recall_steps_fetch_in_score_order_and_pack_within_the_budget():
    words = [
        "ponies",
        "hopping",
        "falling",
        "sky",
        "cats",
        "painting",
        "camping",
        "running",
        "adoption",
        "agencies",
    ]
    texts = {
        doc_key(s, q): f"{words[(s + q) % 10]} {words[(s * q) % 10]}"
        for s in range(3)
        for q in range(1, 11)
    }
    blobs: dict[str, bytearray] = {}
    total = 0
    for key, text in texts.items():
        document = index_document(text)
        total += document.length
        for term, record in document.records(key, 0).items():
            blobs.setdefault(term, bytearray()).extend(record)
    fetched: list[int] = []

    def answer(request):
        if isinstance(request, LexicalRequest):
            got = [bytes(blobs.get(t, b"")) for t in request.terms]
            scores = bm25_packed(request.terms, got, len(texts), total, minutes=(m := {}))
            return lexical_candidates(scores, m, request.limit, request.time_ranges)
        assert isinstance(request, FetchRequest)
        fetched.extend(request.keys)
        return {k: Turn(k, k, k >> 32, 11, "d") for k in request.keys if k in texts}

    result = _drive(
        recall_steps("ponies hopping", 120, fixed_cost=9, header_cost=lambda g: 3), answer
    )
    assert 9 < result.tokens <= 120 and result.turns
    assert set(result.keys) <= set(fetched) and result.fetches >= 1
    assert result.keys == sorted(result.keys)
    assert all(
        "ponies" in texts[k]
        or "hopping" in texts[k]
        or any(abs(k - h) == 1 for h in texts if "ponies" in texts[h] or "hopping" in texts[h])
        for k in result.keys
    )
    excluded = _drive(recall_steps("ponies hopping", 120, exclude=set(result.keys)), answer)
    assert not set(excluded.keys) & set(result.keys)


def test_no_query_terms_means_no_lexical_read():
    requests = []
    result = _drive(recall_steps("the of and", 500), lambda r: requests.append(r) or {})
    assert requests == [] and result.turns == []


def test_vector_encoding_search_and_the_incremental_cache():
    rnd = random.Random(0)
    vecs = [normalized([rnd.gauss(0, 1) for _ in range(384)]) for _ in range(60)]
    blob = encode_vector(vecs[0])
    assert len(blob) == 388
    assert max(abs(a - b) for a, b in zip(decode_vector(blob), vecs[0], strict=True)) < 0.01
    sigs = [binary_signature(v) for v in vecs]
    assert hamming_topk(sigs[7], sigs, 1) == [7]
    assert dense_topk(vecs[3], vecs, 1) == [3]
    cache = VectorCache()
    cache.update(
        "s", VectorRows(1, 30, [(i, i, encode_vector(v)) for i, v in enumerate(vecs[:30])])
    )
    assert cache.position("s") == (1, 30)
    cache.update(
        "s", VectorRows(1, 60, [(i, i, encode_vector(v)) for i, v in enumerate(vecs[30:], 30)])
    )
    assert cache.search("s", vecs[45], 2)[0] == (45, 45)
    cache.update("s", VectorRows(2, 5, [(7, 7, encode_vector(vecs[7]))]))  # epoch changed: reload
    assert cache.search("s", vecs[45], 3) == [(7, 7)]
