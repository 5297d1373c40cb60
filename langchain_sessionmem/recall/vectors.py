"""Dense vectors for recall: a compact int8 encoding, top-k search, and a per-scope cache that
reads only the vectors stored since the last turn.

An engine stores each vector as 388 bytes (float32 scale + 384 int8; float32 would be 1,536)
next to its message, in an append-only log per user with an epoch that changes when rows are
removed. :class:`VectorCache` keeps, per scope, the decoded matrix and the log position it has
read up to, so a turn at 10,000 stored messages reads and decodes the two or so new vectors, not
10,000. numpy is used when importable (exact search over a float32 matrix); without it a
sign-bit Hamming prefilter narrows the exact rerank.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from operator import mul
from typing import Any

from ._lazy import lazy_numpy

_np = lazy_numpy()  # the fast path, imported on first use; everything works without it

PREFILTER = 500
"""Pure-Python path: Hamming candidates reranked exactly (overlap 0.97 with the exact top 100)."""


def encode_vector(vec: Sequence[float]) -> bytes:
    """int8 encoding of a vector: a 4-byte float32 scale, then one signed byte per dimension."""
    m = max((abs(float(x)) for x in vec), default=0.0) or 1.0
    scale = m / 127.0
    q = array("b", (max(-127, min(127, round(float(x) / scale))) for x in vec))
    return array("f", [scale]).tobytes() + q.tobytes()


def decode_vector(blob: bytes) -> list[float]:
    """The floats of an :func:`encode_vector` blob."""
    scale = array("f", bytes(blob[:4]))[0]
    return [scale * v for v in array("b", bytes(blob[4:]))]


def normalized(vec: Sequence[float]) -> list[float]:
    """``vec`` scaled to unit length (so a dot product is the cosine)."""
    norm = sum(float(x) * float(x) for x in vec) ** 0.5 or 1.0
    return [float(x) / norm for x in vec]


def binary_signature(vec: Sequence[float]) -> int:
    """Sign bits of a vector as one int (48 bytes for 384 dimensions): a Hamming prefilter."""
    out = 0
    for i, x in enumerate(vec):
        if x > 0:
            out |= 1 << i
    return out


def hamming_topk(query_sig: int, sigs: Sequence[int], k: int) -> list[int]:
    """Indices of the ``k`` signatures nearest ``query_sig``."""
    return heapq.nsmallest(k, range(len(sigs)), key=lambda i: bin(query_sig ^ sigs[i]).count("1"))


def dense_topk(query: Sequence[float], matrix: Any, k: int) -> list[int]:
    """Indices of the ``k`` rows of ``matrix`` with the largest dot product with ``query``.

    ``matrix``: a numpy array (fast path) or a list of float sequences (pure Python)."""
    if k <= 0 or len(matrix) == 0:
        return []
    if _np is not None and hasattr(matrix, "shape"):
        sims = matrix @ _np.asarray(query, dtype=matrix.dtype)
        k = min(k, len(sims))
        idx = _np.argpartition(-sims, k - 1)[:k]
        return [int(i) for i in idx[_np.argsort(-sims[idx], kind="stable")]]
    q = list(query)
    sims = [sum(map(mul, row, q)) for row in matrix]
    return heapq.nlargest(k, range(len(sims)), key=sims.__getitem__)


@dataclass
class VectorRows:
    """An engine's reply to an incremental vector read of one scope.

    ``rows``: ``(doc, minute, blob)`` appended after ``since`` (the log position the reader
    had), ``cursor``: the position to ask from next time. A changed ``epoch`` means rows were
    removed: ``rows`` is then the whole scope and the reader starts over."""

    epoch: Any
    cursor: Any
    rows: list[tuple[int, int, bytes]] = field(default_factory=list)
    sessions: dict[int, str] = field(default_factory=dict)
    """The scope's live sessions (``session_no -> session_id``): hits of others are dropped."""


@dataclass
class _Scope:
    epoch: Any = None
    cursor: Any = None
    docs: list[int] = field(default_factory=list)
    minutes: list[int] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)  # pure-Python path only
    sigs: list[int] = field(default_factory=list)
    matrix: Any = None  # numpy path: float32, grown in chunks; rows [0, len(docs)) are filled

    def add(self, doc: int, minute: int, blob: bytes) -> None:
        if _np is None:
            vec = decode_vector(blob)
            self.rows.append(vec)
            self.sigs.append(binary_signature(vec))
        else:
            raw = _np.frombuffer(bytes(blob), dtype=_np.int8, offset=4)
            scale = _np.frombuffer(bytes(blob[:4]), dtype=_np.float32)[0]
            n = len(self.docs)
            if self.matrix is None or self.matrix.shape[1] != raw.shape[0]:
                if n:  # a vector of another model's width: start the scope over
                    self.docs.clear()
                    self.minutes.clear()
                    n = 0
                self.matrix = _np.zeros((1024, raw.shape[0]), dtype=_np.float32)
            elif n >= self.matrix.shape[0]:
                grown = _np.zeros((self.matrix.shape[0] * 2, raw.shape[0]), dtype=_np.float32)
                grown[:n] = self.matrix[:n]
                self.matrix = grown
            self.matrix[n] = raw.astype(_np.float32) * scale
        self.docs.append(doc)
        self.minutes.append(minute)

    @property
    def nbytes(self) -> int:
        if self.matrix is not None:
            return int(self.matrix.nbytes) + 16 * len(self.docs)
        return len(self.docs) * (len(self.rows[0]) * 32 + 64 if self.rows else 64)


class VectorCache:
    """Decoded vectors per scope, least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._scopes: OrderedDict[Hashable, _Scope] = OrderedDict()
        self._lock = threading.Lock()

    def position(self, scope: Hashable) -> tuple[Any, Any]:
        """``(epoch, cursor)`` to read from for ``scope`` (``(None, None)``: read everything)."""
        with self._lock:
            held = self._scopes.get(scope)
            return (None, None) if held is None else (held.epoch, held.cursor)

    def update(self, scope: Hashable, reply: VectorRows, opened: Any = None) -> None:
        """Add the rows of ``reply`` (``opened(doc, blob)`` decrypts sealed blobs)."""
        with self._lock:
            held = self._scopes.get(scope)
            if held is None or held.epoch != reply.epoch:
                held = self._scopes[scope] = _Scope(epoch=reply.epoch)
            for doc, minute, blob in reply.rows:
                held.add(doc, minute, opened(doc, blob) if opened is not None else blob)
            held.cursor = reply.cursor
            self._scopes.move_to_end(scope)
            self._evict()

    def drop(self, scope: Hashable) -> None:
        with self._lock:
            self._scopes.pop(scope, None)

    def search(self, scope: Hashable, query: Sequence[float], k: int) -> list[tuple[int, int]]:
        """The ``k`` nearest ``(doc, minute)`` of ``scope``, best first."""
        with self._lock:
            held = self._scopes.get(scope)
            if held is None or not held.docs:
                return []
            if held.matrix is not None:
                if len(query) != held.matrix.shape[1]:
                    return []
                idx = dense_topk(query, held.matrix[: len(held.docs)], k)
            elif len(held.rows) > PREFILTER:
                cand = hamming_topk(binary_signature(query), held.sigs, PREFILTER)
                best = dense_topk(query, [held.rows[i] for i in cand], k)
                idx = [cand[i] for i in best]
            else:
                idx = dense_topk(query, held.rows, k)
            return [(held.docs[i], held.minutes[i]) for i in idx]

    def _evict(self) -> None:
        total = sum(s.nbytes for s in self._scopes.values())
        while total > self.max_bytes and len(self._scopes) > 1:
            _, gone = self._scopes.popitem(last=False)
            total -= gone.nbytes
