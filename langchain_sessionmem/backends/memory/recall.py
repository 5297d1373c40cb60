"""The memory engine's recall index: packed postings per session, vectors in one log per user.

Postings live on the session object, so they go wherever the session goes (deleted, expired,
erased). Vectors live in an append-only log per user read from a cursor; a removal rewrites the
log and bumps the user's epoch, so cached readers start over (docs/recall.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...recall import POSTING, IndexDocument, VectorRows, doc_key, minute_of, split_doc_key
from ...records import EncodedMessage, SessionKey
from ..args import check_int, check_key
from ..recall import Fetched, LexicalRows, OffloadedRecall, RecallMarks, RecallScope


@dataclass
class SessionIndex:
    """One session's share of the recall index."""

    no: int
    postings: dict[str, bytearray] = field(default_factory=dict)
    minutes: list[int] = field(default_factory=list)  # by seq - 1; 0 = unknown
    n_docs: int = 0
    total_len: int = 0
    indexed: int = 0
    embedded: int = 0


@dataclass
class UserVectors:
    """The vectors of one user's sessions, in the order they were stored."""

    epoch: int = 0
    log: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # no, seq, minute, blob


class MemoryRecall(OffloadedRecall):
    """Recall primitives over :class:`~.engine.MemoryEngine`'s sessions (mixed into it)."""

    def _recall_init(self) -> None:
        self._next_no: dict[str | None, int] = {}
        self._vectors: dict[str | None, UserVectors] = {}

    def _index_of(self, key: SessionKey, session: Any) -> SessionIndex:
        if session.index is None:
            no = self._next_no.get(key.user_id, 0) + 1
            self._next_no[key.user_id] = no
            session.index = SessionIndex(no)
        return session.index  # type: ignore[no-any-return]

    def _write_docs(
        self, key: SessionKey, session: Any, docs: Sequence[tuple[int, IndexDocument]], now: float
    ) -> None:
        index = self._index_of(key, session)
        stamp = minute_of(now)
        for seq, doc in docs:
            minute = stamp if doc.minute is None else doc.minute
            for term, record in doc.records(doc_key(index.no, seq), minute).items():
                index.postings.setdefault(term, bytearray()).extend(record)
            index.n_docs += 1
            index.total_len += doc.length
            index.minutes.extend([0] * (seq - len(index.minutes)))
            index.minutes[seq - 1] = minute
            index.indexed = seq

    def _index_appended(
        self, key: SessionKey, session: Any, first: int, fresh: Sequence[EncodedMessage], now: float
    ) -> None:
        """Append path: index the new messages if the session is caught up (else backfill)."""
        if not fresh or any(m.index is None for m in fresh):
            return
        index = session.index
        if (0 if index is None else index.indexed) != first - 1:
            return
        self._write_docs(key, session, [(first + i, m.index) for i, m in enumerate(fresh)], now)

    def _unindex_after(self, key: SessionKey, session: Any, last: int) -> None:
        """Pop: forget postings, times and vectors of every seq after ``last``."""
        index = session.index
        if index is None:
            return
        gone_lengths: dict[int, int] = {}
        for term in list(index.postings):
            blob, kept = bytes(index.postings[term]), bytearray()
            for doc, tf, dl, minute in POSTING.iter_unpack(blob):
                if split_doc_key(doc)[1] > last:
                    gone_lengths[doc] = dl
                else:
                    kept += POSTING.pack(doc, tf, dl, minute)
            if kept:
                index.postings[term] = kept
            else:
                del index.postings[term]
        gone = max(0, index.indexed - last)
        index.n_docs -= gone
        index.total_len -= sum(gone_lengths.values())  # an empty document has no records
        index.indexed = min(index.indexed, last)
        del index.minutes[last:]
        if index.embedded > last:
            index.embedded = last
            self._drop_vectors(key.user_id, index.no, after=last)

    def _recall_forget(self, key: SessionKey, session: Any) -> None:
        """A session is gone (deleted, expired, erased): drop its vectors from the user log."""
        index = session.index
        if index is not None and index.embedded:
            self._drop_vectors(key.user_id, index.no, after=0)

    def _drop_vectors(self, user: str | None, no: int, after: int) -> None:
        vectors = self._vectors.get(user)
        if vectors is not None:
            vectors.log = [r for r in vectors.log if r[0] != no or r[1] <= after]
            vectors.epoch += 1

    def _scope(self, scope: RecallScope) -> list[tuple[SessionKey, Any]]:
        """The scope's live sessions (expired ones are dropped on the way)."""
        now = self.clock()  # type: ignore[attr-defined]
        if scope.session_id is not None:
            key = SessionKey(scope.session_id, scope.user_id)
            session = self._live(key, now)  # type: ignore[attr-defined]
            return [] if session is None else [(key, session)]
        keys = [k for k in list(self._sessions) if k.user_id == scope.user_id]  # type: ignore[attr-defined]
        return [(k, s) for k in keys if (s := self._live(k, now)) is not None]  # type: ignore[attr-defined]

    # -- the primitives --------------------------------------------------------------------
    def recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        with self._lock:  # type: ignore[attr-defined]
            live = self._scope(scope)
            indexes = [(k, s, s.index) for k, s in live]
            blobs = [
                b"".join(bytes(i.postings[t]) for _, _, i in indexes if i and t in i.postings)
                or None
                for t in terms
            ]
            return LexicalRows(
                n_docs=sum(i.n_docs for _, _, i in indexes if i),
                total_len=sum(i.total_len for _, _, i in indexes if i),
                blobs=blobs,
                sessions={i.no: k.session_id for k, _, i in indexes if i},
                stale=[
                    k.session_id
                    for k, s, i in indexes
                    if (0 if i is None else i.indexed) < len(s.messages)
                ],
                behind=sum(
                    max(0, len(s.messages) - (0 if i is None else i.indexed)) for _, s, i in indexes
                ),
            )

    def recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        out: Fetched = {}
        with self._lock:  # type: ignore[attr-defined]
            now = self.clock()  # type: ignore[attr-defined]
            for sid, seq in keys:
                key = SessionKey(sid, scope.user_id)
                if not scope.holds(key):
                    continue
                session = self._live(key, now)  # type: ignore[attr-defined]
                if session is None or not 1 <= seq <= len(session.messages):
                    continue
                index = session.index
                minute = index.minutes[seq - 1] if index and seq <= len(index.minutes) else 0
                out[(sid, seq)] = (session.messages[seq - 1], minute or None)
        return out

    def recall_marks(self, key: SessionKey) -> RecallMarks:
        check_key(key)
        with self._lock:  # type: ignore[attr-defined]
            session = self._live(key, self.clock())  # type: ignore[attr-defined]
            if session is None:
                return RecallMarks(0, 0, 0)
            index = session.index
            if index is None:
                return RecallMarks(len(session.messages), 0, 0)
            return RecallMarks(len(session.messages), index.indexed, index.embedded)

    def recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        check_key(key)
        after = check_int(after, "after", low=0)
        with self._lock:  # type: ignore[attr-defined]
            now = self.clock()  # type: ignore[attr-defined]
            session = self._live(key, now)  # type: ignore[attr-defined]
            indexed = 0 if session is None or session.index is None else session.index.indexed
            if session is None or indexed != after or not _in_order(docs, after, session):
                return False
            self._write_docs(key, session, docs, now)
            return True

    def recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        check_key(key)
        after = check_int(after, "after", low=0)
        with self._lock:  # type: ignore[attr-defined]
            session = self._live(key, self.clock())  # type: ignore[attr-defined]
            if session is None or not _in_order(rows, after, session):
                return False
            index = self._index_of(key, session)
            if index.embedded != after:
                return False
            log = self._vectors.setdefault(key.user_id, UserVectors()).log
            for seq, blob in rows:
                minute = index.minutes[seq - 1] if seq <= len(index.minutes) else 0
                log.append((index.no, seq, minute, bytes(blob)))
                index.embedded = seq
            return True

    def recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        with self._lock:  # type: ignore[attr-defined]
            live = {s.index.no: k.session_id for k, s in self._scope(scope) if s.index}
            vectors = self._vectors.get(scope.user_id) or UserVectors()
            start = cursor if epoch == vectors.epoch and isinstance(cursor, int) else 0
            rows = [
                (doc_key(no, seq), minute, blob)
                for no, seq, minute, blob in vectors.log[start:]
                if no in live
            ]
            return VectorRows(vectors.epoch, len(vectors.log), rows, live)


def _in_order(rows: Sequence[tuple[int, Any]], after: int, session: Any) -> bool:
    """Rows numbered ``after + 1, after + 2, ...`` within the session's messages."""
    return all(seq == after + i + 1 for i, (seq, _) in enumerate(rows)) and (
        not rows or rows[-1][0] <= len(session.messages)
    )
