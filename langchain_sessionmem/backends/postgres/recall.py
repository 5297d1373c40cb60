"""The PostgreSQL engine's recall index (mixed into :class:`~.engine.PostgresEngine`).

An append of indexed messages runs as one transaction: the history's own append statement,
then the postings, times and watermark (:meth:`PostgresRecall._recall_appended`), so a message
and its index commit together. The recall tables are a migration component of their own
(:data:`.recall_statements.RECALL`), applied on a recall store's first use; window-only
databases never get them. A ``session_no`` is the session row's identity key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..._steps import Steps, adrive, drive
from ...recall import IndexDocument, VectorRows, doc_key, minute_of, split_doc_key, without_docs
from ...records import EncodedMessage, SessionKey
from ..args import check_int, check_key
from ..base import stored_user
from ..recall import CHUNK_BITS, Fetched, LexicalRows, RecallMarks, RecallScope, sql_lexical_rows
from .migrations import MigrationPlans
from .queries import Plan, Query, Run
from .recall_statements import RECALL, RecallStatements


class PostgresRecall:
    """Recall primitives as plans on the engine's connections."""

    _recall_sql: RecallStatements | None = None
    _recall_ready = False

    @property
    def _rsql(self) -> RecallStatements:
        if self._recall_sql is None:
            self._recall_sql = RecallStatements(self.namespace)  # type: ignore[attr-defined]
            self._recall_schema = MigrationPlans(self.namespace, "recall", RECALL)  # type: ignore[attr-defined]
        return self._recall_sql

    def _ready(self) -> Steps[Run, None]:
        """The history tables, then the recall tables, once per engine."""
        if not self._recall_ready:
            assert self._rsql is not None  # builds the migration plans too
            yield Run(self.migrations.plan(), True)  # type: ignore[attr-defined]
            yield Run(self._recall_schema.plan(), True)
            self._recall_ready = True

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.plans.clock(), tz=timezone.utc)  # type: ignore[attr-defined]

    def _scope(self, scope: RecallScope) -> dict[str, Any]:
        return {"user": stored_user(scope.user_id), "sid": scope.session_id, "now": self._now()}

    # -- writing -----------------------------------------------------------------------------
    def _recall_appended(
        self, append: Plan[int | None], key: SessionKey, messages: Sequence[EncodedMessage]
    ) -> Plan[int | None]:
        """The append plan, then (same transaction) the new messages' postings when the session
        is indexed up to where they start; otherwise the backfill takes them in order."""
        added = yield from append
        if not added or added != len(messages):
            return added
        sql = self._rsql
        params = {"user": stored_user(key.user_id), "sid": key.session_id, "now": self._now()}
        rows = yield Query(sql.session_row, params, "all")
        pk, last = rows[0][0], rows[0][1]
        first = last - added + 1
        yield Query(sql.ensure_session, {"pk": pk})
        indexed, _, dirty = (yield Query(sql.lock_session, {"pk": pk}, "all"))[0]
        if dirty:
            yield from self._purge(pk, indexed)
        if indexed == first - 1:
            yield from self._write(key, pk, [(first + i, m.index) for i, m in enumerate(messages)])  # type: ignore[misc]
        return added

    def _write(
        self, key: SessionKey, pk: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> Plan[None]:
        sql = self._rsql
        stamp = minute_of(self.plans.clock())  # type: ignore[attr-defined]
        blobs: dict[tuple[str, int], bytearray] = {}
        seqs, minutes, lengths = [], [], []
        for seq, doc in docs:
            minute = stamp if doc.minute is None else doc.minute
            for term, record in doc.records(doc_key(pk, seq), minute).items():
                blobs.setdefault((term, seq >> CHUNK_BITS), bytearray()).extend(record)
            seqs.append(seq)
            minutes.append(minute)
            lengths.append(doc.length)
        user = stored_user(key.user_id)
        if blobs:
            keys = list(blobs)
            params = {
                "user": user,
                "pk": pk,
                "terms": [t for t, _ in keys],
                "chunks": [c for _, c in keys],
                "blobs": [bytes(blobs[k]) for k in keys],
            }
            yield Query(sql.add_postings, params)
        yield Query(sql.add_docs, {"pk": pk, "seqs": seqs, "minutes": minutes, "lengths": lengths})
        yield Query(
            sql.advance, {"pk": pk, "indexed": seqs[-1], "n": len(docs), "len": sum(lengths)}
        )

    def _purge(self, pk: int, indexed: int) -> Plan[None]:
        """Drop records past ``indexed`` (left by a pop) before that seq is indexed afresh."""
        sql = self._rsql
        rows = yield Query(sql.session_postings, {"pk": pk}, "all", binary=True)
        for term, chunk, blob in rows:
            blob = bytes(blob)
            kept = without_docs(blob, lambda doc: split_doc_key(doc)[1] > indexed)
            if len(kept) == len(blob):
                continue
            where = {"pk": pk, "term": term, "chunk": chunk}
            if kept:
                yield Query(sql.set_postings, {**where, "blob": kept})
            else:
                yield Query(sql.drop_postings, where)
        yield Query(sql.clean, {"pk": pk})

    def _locked(self, key: SessionKey) -> Plan[Any]:
        """The live session's (pk, count, indexed, embedded, dirty), its recall row locked."""
        sql = self._rsql
        params = {"user": stored_user(key.user_id), "sid": key.session_id, "now": self._now()}
        rows = yield Query(sql.session_row, params, "all")
        if not rows:
            return None
        yield Query(sql.ensure_session, {"pk": rows[0][0]})
        indexed, embedded, dirty = (yield Query(sql.lock_session, {"pk": rows[0][0]}, "all"))[0]
        return rows[0][0], rows[0][1], indexed, embedded, dirty

    def _index_plan(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> Plan[bool]:
        row = yield from self._locked(key)
        if row is None or row[2] != after or not _in_order(docs, after, row[1]):
            return False
        if row[4]:
            yield from self._purge(row[0], after)
        if docs:
            yield from self._write(key, row[0], docs)
        return True

    def _vectors_plan(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> Plan[bool]:
        sql = self._rsql
        row = yield from self._locked(key)
        if row is None or row[3] != after or not rows or not _in_order(rows, after, row[1]):
            return False
        pk, user = row[0], stored_user(key.user_id)
        yield Query(sql.ensure_user, {"user": user})
        lo, hi = rows[0][0], rows[-1][0]
        minutes = dict((yield Query(sql.minutes, {"pk": pk, "lo": lo, "hi": hi}, "all")))
        seqs = [seq for seq, _ in rows]
        params = {
            "user": user,
            "pk": pk,
            "seqs": seqs,
            "minutes": [minutes.get(s, 0) for s in seqs],
            "vecs": [bytes(b) for _, b in rows],
        }
        yield Query(sql.add_vectors, params)
        yield Query(sql.set_embedded, {"pk": pk, "embedded": hi})
        return True

    # -- reading -----------------------------------------------------------------------------
    def _postings_plan(self, scope: RecallScope, terms: Sequence[str]) -> Plan[LexicalRows]:
        sql, params = self._rsql, self._scope(scope)
        sessions = yield Query(sql.sessions, params, "all")
        found = (
            (yield Query(sql.postings, {**params, "terms": list(terms)}, "all", binary=True))
            if terms
            else []
        )
        return sql_lexical_rows(sessions, found, terms)

    def _fetch_plan(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Plan[Fetched]:
        if not keys:
            return {}
        params = {**self._scope(scope), "sids": [k[0] for k in keys], "seqs": [k[1] for k in keys]}
        rows = yield Query(self._rsql.fetch, params, "all", binary=True)
        return {(sid, seq): (bytes(data), minute or None) for sid, seq, data, minute in rows}

    def _marks_plan(self, key: SessionKey) -> Plan[RecallMarks]:
        params = {"user": stored_user(key.user_id), "sid": key.session_id, "now": self._now()}
        rows = yield Query(self._rsql.session_row, params, "all")
        return RecallMarks(0, 0, 0) if not rows else RecallMarks(rows[0][1], rows[0][2], rows[0][3])

    def _vector_rows_plan(self, scope: RecallScope, epoch: Any, cursor: Any) -> Plan[VectorRows]:
        sql, params = self._rsql, self._scope(scope)
        current, last = (yield Query(sql.vector_head, params, "all"))[0]
        after = (
            cursor if current is not None and epoch == current and isinstance(cursor, int) else 0
        )
        rows = yield Query(
            sql.vectors, {**params, "after": after, "last": last}, "all", binary=True
        )
        sessions = yield Query(sql.sessions, params, "all")
        return VectorRows(
            current,
            max(last, after),
            [(doc_key(pk, seq), minute, bytes(vec)) for _, pk, seq, minute, vec in rows],
            {pk: sid for pk, sid, *_ in sessions},
        )

    # -- entry points: each plan after the schema, sync and async --------------------------
    def _recall(self, plan: Plan[Any], write: bool = False) -> Steps[Run, Any]:
        yield from self._ready()
        return (yield Run(plan, write))

    def _go(self, plan: Plan[Any], write: bool = False) -> Any:
        return drive(self._recall(plan, write), self._send)  # type: ignore[attr-defined]

    async def _ago(self, plan: Plan[Any], write: bool = False) -> Any:
        return await adrive(self._recall(plan, write), self._asend)  # type: ignore[attr-defined]

    def recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        return self._go(self._postings_plan(scope, terms))  # type: ignore[no-any-return]

    async def arecall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        return await self._ago(self._postings_plan(scope, terms))  # type: ignore[no-any-return]

    def recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        return self._go(self._fetch_plan(scope, keys))  # type: ignore[no-any-return]

    async def arecall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        return await self._ago(self._fetch_plan(scope, keys))  # type: ignore[no-any-return]

    def recall_marks(self, key: SessionKey) -> RecallMarks:
        check_key(key)
        return self._go(self._marks_plan(key))  # type: ignore[no-any-return]

    async def arecall_marks(self, key: SessionKey) -> RecallMarks:
        check_key(key)
        return await self._ago(self._marks_plan(key))  # type: ignore[no-any-return]

    def recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        check_key(key)
        return self._go(self._index_plan(key, check_int(after, "after", low=0), docs), True)  # type: ignore[no-any-return]

    async def arecall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        check_key(key)
        return await self._ago(self._index_plan(key, check_int(after, "after", low=0), docs), True)  # type: ignore[no-any-return]

    def recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        check_key(key)
        return self._go(self._vectors_plan(key, check_int(after, "after", low=0), rows), True)  # type: ignore[no-any-return]

    async def arecall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        check_key(key)
        return await self._ago(
            self._vectors_plan(key, check_int(after, "after", low=0), rows), True
        )  # type: ignore[no-any-return]

    def recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        return self._go(self._vector_rows_plan(scope, epoch, cursor))  # type: ignore[no-any-return]

    async def arecall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        return await self._ago(self._vector_rows_plan(scope, epoch, cursor))  # type: ignore[no-any-return]


def _in_order(rows: Sequence[tuple[int, Any]], after: int, last: int) -> bool:
    return all(seq == after + i + 1 for i, (seq, _) in enumerate(rows)) and (
        not rows or rows[-1][0] <= last
    )
