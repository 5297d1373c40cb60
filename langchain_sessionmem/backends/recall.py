"""The recall primitives an engine offers (optional): index on append, read postings, fetch, vectors.

The lexical index is written in the same atomic write as the messages (the engine knows the
seqs it hands out): each :class:`~langchain_sessionmem.records.EncodedMessage` may carry an
:class:`~langchain_sessionmem.recall.IndexDocument`, and the engine appends its packed records
(:mod:`langchain_sessionmem.recall.postings`). Invariant per session: postings exist exactly for
``seq <= marks.indexed``. An append indexes only a session that is caught up; otherwise it leaves
the gap to :meth:`RecallEngine.recall_index` (the backfill), which takes the next messages in
order. Vectors follow the same rule with ``marks.embedded``. Removal is the engine's: a deleted,
expired, popped or erased message never answers a recall read. A read covers one scope: one
session, or every live session of one user — never two users.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..recall import IndexDocument, VectorRows, split_doc_key, without_docs
from ..records import SessionKey

CHUNK_BITS = 6
"""SQL engines keep a term's postings of a session in rows of 2**6 = 64 messages: an append
rewrites at most one small row per term, whatever the length of the session."""


@dataclass(frozen=True)
class RecallScope:
    """What one recall reads: a session (``session_id``) or every live session of ``user_id``."""

    user_id: str | None
    session_id: str | None = None

    def __post_init__(self) -> None:
        if self.user_id is None and self.session_id is None:
            raise ConfigurationError(
                "recall over every session needs a user: anonymous sessions share one "
                "namespace, so recall an anonymous session with scope='session'"
            )

    def holds(self, key: SessionKey) -> bool:
        """True when ``key`` is a session of this scope."""
        return key.user_id == self.user_id and self.session_id in (None, key.session_id)


@dataclass
class LexicalRows:
    """The reply to a postings read: scope counters, one blob per requested term, live sessions.

    ``sessions``: ``session_no -> session_id`` of the live sessions in the scope (records of any
    other session number are skipped). ``stale``: live sessions whose older messages are not
    indexed yet (the caller schedules their backfill). Engines that skip dead records instead
    of deleting them at once (Redis) also offer ``recall_compact(user_id)``."""

    n_docs: int = 0
    total_len: int = 0
    blobs: list[bytes | None] = field(default_factory=list)
    sessions: dict[int, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    behind: int = 0
    """Messages of the ``stale`` sessions not indexed yet (a reader catches up a few itself)."""
    compact: bool = False
    """Records of sessions that died are still stored: worth a ``recall_compact``."""


def sql_lexical_rows(
    sessions: Sequence[Sequence[Any]], found: Sequence[Sequence[Any]], terms: Sequence[str]
) -> LexicalRows:
    """The SQL engines' reply from their two reads: ``sessions`` rows ``(pk, session_id,
    message_count, indexed, embedded, n_docs, total_len, dirty)`` of the scope and ``found``
    rows ``(term, pk, postings)``. Postings of sessions not in the scope are skipped; a dirty
    session's records past its ``indexed`` mark (popped, not purged yet) are dropped."""
    dirty = {pk: ix for pk, _, _, ix, _, _, _, d in sessions if d}
    live = {row[0] for row in sessions}
    parts: dict[str, list[bytes]] = {}
    for term, pk, blob in found:
        if pk not in live:
            continue  # another session of the user (scope "session"), or one that expired
        blob = bytes(blob)
        if pk in dirty:
            blob = without_docs(blob, lambda doc, ix=dirty[pk]: split_doc_key(doc)[1] > ix)
        parts.setdefault(term, []).append(blob)
    return LexicalRows(
        n_docs=sum(r[5] for r in sessions),
        total_len=sum(r[6] for r in sessions),
        blobs=[b"".join(parts[t]) if t in parts else None for t in terms],
        sessions={pk: sid for pk, sid, *_ in sessions},
        stale=[sid for _, sid, count, ix, *_ in sessions if ix < count],
        behind=sum(max(0, count - ix) for _, _, count, ix, *_ in sessions),
    )


@dataclass(frozen=True)
class RecallMarks:
    """A session's recall watermarks: its last seq, and how far postings and vectors reach."""

    count: int
    indexed: int
    embedded: int


Fetched = dict[tuple[str, int], tuple[bytes, int | None]]
"""``(session_id, seq) -> (stored bytes, minute or None)`` for the keys that exist."""


@runtime_checkable
class RecallEngine(Protocol):
    """The recall primitives; each has an async twin named ``a<name>``."""

    def recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        """The packed postings of ``terms`` over ``scope``, with its counters, in one read."""

    def recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        """Stored messages by ``(session_id, seq)``, only from live sessions of ``scope``."""

    def recall_marks(self, key: SessionKey) -> RecallMarks:
        """The session's watermarks (zeros for a missing session)."""

    def recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        """Backfill: write the postings of ``docs`` (``(seq, doc)``, in order from ``after + 1``)
        if the session is still indexed up to ``after``; ``False`` if another writer moved it."""

    def recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        """Store ``(seq, vector blob)`` rows in order from ``after + 1`` if the session's
        vectors still reach ``after``; ``False`` otherwise."""

    def recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        """The vectors of ``scope`` stored after ``cursor`` (all of them when ``epoch`` is not
        the current one), with the scope's live sessions in ``VectorRows.sessions``."""

    async def arecall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows: ...
    async def arecall_fetch(
        self, scope: RecallScope, keys: Sequence[tuple[str, int]]
    ) -> Fetched: ...
    async def arecall_marks(self, key: SessionKey) -> RecallMarks: ...
    async def arecall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool: ...
    async def arecall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool: ...
    async def arecall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows: ...


def engine_clock(engine: Any) -> Callable[[], float]:
    """The clock an engine stamps messages with (the time an indexed message was stored)."""
    inner = getattr(engine, "_engine", engine)
    clock = getattr(inner, "clock", None) or getattr(getattr(inner, "plans", None), "clock", None)
    return clock if callable(clock) else time.time


def runs_sync(engine: Any) -> bool:
    """True unless the engine was built from an asyncio client or pool alone (no sync I/O, so
    no background worker: such a store keeps indexing on the append path)."""
    conns = getattr(getattr(engine, "_engine", engine), "connections", None)
    if conns is None or not any(hasattr(conns, a) for a in ("_aclient", "_apool")):
        return True  # local I/O (memory, SQLite) or an engine of its own
    if getattr(conns, "url", None) or getattr(conns, "conninfo", None):
        return True  # built from a URL: makes its sync client on first use
    return getattr(conns, "_client", None) is not None or getattr(conns, "_pool", None) is not None


def supports_recall(engine: Any) -> bool:
    """True when ``engine`` (or the engine an instrumented wrapper holds) has the primitives."""
    inner = getattr(engine, "_engine", engine)
    return isinstance(inner, RecallEngine)


class OffloadedRecall:
    """Async twins of the recall primitives for engines whose I/O is local (memory, SQLite)."""

    async def arecall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        return await self._offload(self.recall_postings, scope, terms)  # type: ignore[attr-defined]

    async def arecall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        return await self._offload(self.recall_fetch, scope, keys)  # type: ignore[attr-defined]

    async def arecall_marks(self, key: SessionKey) -> RecallMarks:
        return await self._offload(self.recall_marks, key)  # type: ignore[attr-defined]

    async def arecall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        return await self._offload(self.recall_index, key, after, docs)  # type: ignore[attr-defined]

    async def arecall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        return await self._offload(self.recall_put_vectors, key, after, rows)  # type: ignore[attr-defined]

    async def arecall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        return await self._offload(self.recall_vectors, scope, epoch, cursor)  # type: ignore[attr-defined]
