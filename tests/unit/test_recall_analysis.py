"""The recall core's text analysis and packed postings (recall/analysis.py, recall/postings.py)."""

from __future__ import annotations

import math
import random
import sqlite3

from langchain_sessionmem.recall import (
    POSTING,
    analyze,
    bm25_packed,
    doc_key,
    index_document,
    lexical_candidates,
    query_time_ranges,
    split_doc_key,
    term_digest,
    without_docs,
)

_WORD_TEXT = (
    "caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated "
    "troubled sized hopping tanned falling hissing fizzed failing filing happy sky relational "
    "conditional rational valenci hesitanci digitizer conformabli radicalli differentli vileli "
    "analogousli vietnamization predication operator feudalism decisiveness hopefulness "
    "callousness formaliti sensitiviti sensibiliti triplicate formative formalize electriciti "
    "electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable "
    "defensible irritant replacement adjustment dependent adoption homologou communism activate "
    "angulariti homologous effective bowdlerize probate rate cease controll roll generalizations "
    "oscillators psychology technology trekked painting paintings painted adopting adoption "
    "agencies counseling counselor camping campers 1900s café naïve running runner"
)
WORDS = _WORD_TEXT.split()


def fts5_terms(text: str) -> list[str]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(t, tokenize='porter unicode61')")
    con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    con.execute("INSERT INTO f(rowid, t) VALUES (1, ?)", (text,))
    return [r[0] for r in con.execute("SELECT term FROM v ORDER BY offset")]


def test_analyzer_matches_sqlite_fts5_porter():
    text = " ".join(WORDS)
    want = [t for t in fts5_terms(text) if len(t) >= 2]
    assert analyze(text, stopwords=frozenset()) == want


def test_analyze_drops_stop_words_and_diacritics():
    assert analyze("When did Caroline go to the café?") == ["carolin", "go", "cafe"]
    assert analyze("") == [] and analyze("a I ? !") == []


def test_term_digests_hide_words_and_keep_matches():
    secret = b"k" * 32
    doc = index_document("painting paintings", secret=secret)
    (term,) = doc.terms
    assert "paint" not in term and len(term) == 16 and doc.terms[term] == 2
    assert term == term_digest("paint", secret) != term_digest("paint", b"other")


def _naive_bm25(query_terms, docs, k1=1.2, b=0.75):
    """The textbook formula over {doc: [terms]}: the reference the packed scorer must equal."""
    n = len(docs)
    avg = sum(len(t) for t in docs.values()) / n
    out = {}
    for term in dict.fromkeys(query_terms):
        holding = [d for d, terms in docs.items() if term in terms]
        if not holding:
            continue
        idf = math.log(1 + (n - len(holding) + 0.5) / (len(holding) + 0.5))
        for d in holding:
            tf = docs[d].count(term)
            norm = tf + k1 * (1 - b + b * len(docs[d]) / avg)
            out[d] = out.get(d, 0.0) + idf * tf * (k1 + 1) / norm
    return out


def _index(texts):
    blobs: dict[str, bytearray] = {}
    total = 0
    docs = {}
    for i, text in enumerate(texts):
        key = doc_key(i // 30, i % 30 + 1)
        document = index_document(text)
        docs[key] = analyze(text)
        total += document.length
        for term, record in document.records(key, minute=i).items():
            blobs.setdefault(term, bytearray()).extend(record)
    return blobs, total, docs


def test_bm25_over_packed_postings_equals_the_textbook_formula():
    rnd = random.Random(3)
    texts = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))) for _ in range(300)]
    blobs, total, docs = _index(texts)
    terms = list(dict.fromkeys(analyze("painting adoption agencies for campers")))
    got = bm25_packed(terms, [bytes(blobs.get(t, b"")) for t in terms], len(texts), total)
    want = _naive_bm25(terms, docs)
    assert got.keys() == want.keys() and got
    assert all(abs(got[k] - want[k]) < 1e-9 for k in got)
    live = bm25_packed(
        terms,
        [bytes(blobs.get(t, b"")) for t in terms],
        len(texts),
        total,
        live={1, 2, 3, 4, 5, 6, 7, 8, 9},
    )
    assert live and all(split_doc_key(k)[0] != 0 for k in live)


def test_records_are_16_bytes_and_compaction_drops_only_the_chosen_docs():
    blobs, _, _ = _index(["paint paint", "paint", "paint sky"])
    blob = bytes(blobs["paint"])
    assert len(blob) == 3 * POSTING.size == 48
    kept = without_docs(blob, lambda doc: split_doc_key(doc)[1] == 2)
    assert [POSTING.unpack_from(kept, i)[0] for i in (0, 16)] == [doc_key(0, 1), doc_key(0, 3)]


def test_lexical_candidates_add_the_matches_inside_named_dates():
    scores = {1: 3.0, 2: 2.0, 3: 1.0, 4: 0.5}
    day = 19_500 * 1440  # minutes since the epoch at 2023-05-23
    minutes = {1: 0, 2: 0, 3: 0, 4: day}
    ranges = query_time_ranges("what happened on 23 May 2023?")
    assert lexical_candidates(scores, minutes, 2) == [(1, 0), (2, 0)]
    assert lexical_candidates(scores, minutes, 2, ranges) == [(1, 0), (2, 0), (4, day)]


def test_the_numpy_scorer_equals_the_pure_loop(monkeypatch):
    from langchain_sessionmem.recall import postings

    rnd = random.Random(5)
    texts = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))) for _ in range(3000)]
    blobs, total, _ = _index(texts)
    terms = list(dict.fromkeys(analyze("painting adoption agencies running")))
    got = [bytes(blobs.get(t, b"")) for t in terms]
    assert sum(map(len, got)) >= 4096  # large enough for the numpy path
    fast_minutes: dict[int, int] = {}
    fast = bm25_packed(terms, got, len(texts), total, live={1, 5, 9}, minutes=fast_minutes)
    monkeypatch.setattr(postings, "_np", None)
    slow_minutes: dict[int, int] = {}
    slow = bm25_packed(terms, got, len(texts), total, live={1, 5, 9}, minutes=slow_minutes)
    assert fast.keys() == slow.keys() and fast
    assert all(abs(fast[k] - slow[k]) < 1e-9 for k in fast)
    assert fast_minutes == slow_minutes


def test_the_numpy_top_equals_the_pure_candidates(monkeypatch):
    from langchain_sessionmem.recall import lexical_top, postings

    rnd = random.Random(11)
    texts = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))) for _ in range(3000)]
    blobs, total, _ = _index(texts)
    terms = list(dict.fromkeys(analyze("painting adoption agencies running")))
    got = [bytes(blobs.get(t, b"")) for t in terms]
    day = query_time_ranges("in January 1970")  # minutes are 0..2999: all fall in it
    scores = bm25_packed(terms, got, len(texts), total)
    fast = lexical_top(terms, got, len(texts), total, 50, day, live={0, 1, 2, 50, 99})
    monkeypatch.setattr(postings, "_np", None)
    slow = lexical_top(terms, got, len(texts), total, 50, day, live={0, 1, 2, 50, 99})
    assert len(fast) == len(slow) > 50  # the top 50, then every match inside the month
    assert sorted(fast) == sorted(slow)
    top = [scores[d] for d, _ in fast[:50]]
    assert top == sorted(top, reverse=True)
    assert abs(sum(top) - sum(scores[d] for d, _ in slow[:50])) < 1e-9
