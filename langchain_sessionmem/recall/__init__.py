"""The recall core: pure ranking of stored messages against the current input (no I/O, no LangChain).

Engines use :mod:`.postings` on their append path (the packed index records) and to answer
lexical reads; the history drives :func:`.steps.recall_steps` with engine calls; the memory
strategy renders what it returns. Nothing here imports ``langchain_core``, ``langgraph`` or a
driver, so every layer may use it (stdlib only; numpy speeds up the dense path when present).
"""

from __future__ import annotations

from .analysis import STOPWORDS, analyze, index_terms, porter_stem, term_digest, term_frequencies
from .pack import PackResult, Turn, candidate_limit, date_label, day_of, pack, query_time_ranges
from .postings import (
    POSTING,
    IndexDocument,
    bm25_idf,
    bm25_packed,
    doc_key,
    index_document,
    lexical_candidates,
    lexical_top,
    minute_of,
    split_doc_key,
    without_docs,
)
from .rank import RecallParams, fuse_and_expand, rrf
from .result import RecalledTurn, RecallResult
from .steps import DenseRequest, FetchRequest, LexicalRequest, Recalled, neighbour, recall_steps
from .vectors import VectorCache, VectorRows, decode_vector, encode_vector, normalized

__all__ = [
    "POSTING",
    "STOPWORDS",
    "DenseRequest",
    "FetchRequest",
    "IndexDocument",
    "LexicalRequest",
    "PackResult",
    "RecallParams",
    "RecallResult",
    "Recalled",
    "RecalledTurn",
    "Turn",
    "VectorCache",
    "VectorRows",
    "analyze",
    "bm25_idf",
    "bm25_packed",
    "candidate_limit",
    "date_label",
    "day_of",
    "decode_vector",
    "doc_key",
    "encode_vector",
    "fuse_and_expand",
    "index_document",
    "index_terms",
    "lexical_candidates",
    "lexical_top",
    "minute_of",
    "neighbour",
    "normalized",
    "pack",
    "porter_stem",
    "query_time_ranges",
    "recall_steps",
    "rrf",
    "split_doc_key",
    "term_digest",
    "term_frequencies",
    "without_docs",
]
