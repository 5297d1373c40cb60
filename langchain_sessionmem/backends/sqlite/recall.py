"""The SQLite engine's recall index (mixed into :class:`~.engine.SqliteEngine`).

Postings are written in the append's own transaction (:meth:`SqliteRecall._recall_appended`),
so a message and its index commit together. The tables (:mod:`.recall_statements`) are created
the first time a store with a recall index writes or reads one, so window-only databases never
get them. A ``session_no`` is the session row's integer key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ...recall import IndexDocument, VectorRows, doc_key, minute_of, split_doc_key, without_docs
from ...records import EncodedMessage, SessionKey
from ..args import check_int, check_key
from ..base import stored_user
from ..recall import (
    CHUNK_BITS,
    Fetched,
    LexicalRows,
    OffloadedRecall,
    RecallMarks,
    RecallScope,
    sql_lexical_rows,
)
from .recall_statements import RecallStatements


class SqliteRecall(OffloadedRecall):
    """Recall primitives over the engine's connections (``self.connections``, ``self.sql``)."""

    _recall_sql: RecallStatements | None = None

    def _rsql(self, conn: sqlite3.Connection | None = None) -> RecallStatements:
        """The recall statements; the tables are made on first use (idempotent)."""
        if self._recall_sql is None:
            sql = RecallStatements(self.namespace)  # type: ignore[attr-defined]
            if conn is not None and conn.in_transaction:
                _script(conn, sql.schema)  # executescript would commit the open transaction
            elif conn is not None:
                conn.executescript(sql.schema)
            else:
                with self.connections.connection() as fresh:  # type: ignore[attr-defined]
                    fresh.executescript(sql.schema)
            self._recall_sql = sql
        return self._recall_sql

    # -- writing -----------------------------------------------------------------------------
    def _recall_appended(
        self,
        conn: sqlite3.Connection,
        key: SessionKey,
        pk: int,
        first: int,
        fresh: Sequence[EncodedMessage],
        now: float,
    ) -> None:
        """Inside the append's transaction: index the new messages if the session is caught up."""
        if not fresh or any(m.index is None for m in fresh):
            return
        sql = self._rsql(conn)
        conn.execute(sql.ensure_session, {"pk": pk})
        row = conn.execute(
            sql.session_row, {"user": stored_user(key.user_id), "sid": key.session_id, "now": now}
        ).fetchone()
        indexed, dirty = row[2], row[4]
        if dirty:
            self._purge(conn, sql, pk, indexed)
        if indexed != first - 1:
            return  # older messages wait for the backfill, which takes them in order
        self._write(conn, sql, key, pk, [(first + i, m.index) for i, m in enumerate(fresh)], now)  # type: ignore[misc]

    def _write(
        self,
        conn: sqlite3.Connection,
        sql: RecallStatements,
        key: SessionKey,
        pk: int,
        docs: Sequence[tuple[int, IndexDocument]],
        now: float,
    ) -> None:
        stamp = minute_of(now)
        blobs: dict[tuple[str, int], bytearray] = {}
        rows, total = [], 0
        for seq, doc in docs:
            minute = stamp if doc.minute is None else doc.minute
            for term, record in doc.records(doc_key(pk, seq), minute).items():
                blobs.setdefault((term, seq >> CHUNK_BITS), bytearray()).extend(record)
            rows.append((pk, seq, minute, doc.length))
            total += doc.length
        user = stored_user(key.user_id)
        conn.executemany(
            sql.add_postings, [(user, t, pk, c, bytes(b)) for (t, c), b in blobs.items()]
        )
        conn.executemany(sql.add_doc, rows)
        params = {"pk": pk, "indexed": docs[-1][0], "n": len(docs), "len": total}
        conn.execute(sql.advance, params)

    @staticmethod
    def _purge(conn: sqlite3.Connection, sql: RecallStatements, pk: int, indexed: int) -> None:
        """Drop records past ``indexed`` (left by a pop) before that seq is indexed afresh."""
        for term, chunk, blob in conn.execute(sql.session_postings, {"pk": pk}).fetchall():
            kept = without_docs(bytes(blob), lambda doc: split_doc_key(doc)[1] > indexed)
            if len(kept) == len(blob):
                continue
            where = {"pk": pk, "term": term, "chunk": chunk}
            if kept:
                conn.execute(sql.set_postings, {**where, "blob": kept})
            else:
                conn.execute(sql.drop_postings, where)
        conn.execute(sql.clean, {"pk": pk})

    def _session(self, conn: sqlite3.Connection, key: SessionKey) -> Any:
        params = {"user": stored_user(key.user_id), "sid": key.session_id, "now": self.clock()}  # type: ignore[attr-defined]
        return conn.execute(self._rsql(conn).session_row, params).fetchone()

    def recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        check_key(key)
        after = check_int(after, "after", low=0)
        sql = self._rsql()
        with self.connections.transaction() as conn:  # type: ignore[attr-defined]
            row = self._session(conn, key)
            if row is None or row[2] != after or not _in_order(docs, after, row[1]):
                return False
            conn.execute(sql.ensure_session, {"pk": row[0]})
            if row[4]:
                self._purge(conn, sql, row[0], after)
            if docs:
                self._write(conn, sql, key, row[0], docs, self.clock())  # type: ignore[attr-defined]
            return True

    def recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        check_key(key)
        after = check_int(after, "after", low=0)
        sql = self._rsql()
        user = stored_user(key.user_id)
        with self.connections.transaction() as conn:  # type: ignore[attr-defined]
            row = self._session(conn, key)
            if row is None or row[3] != after or not _in_order(rows, after, row[1]) or not rows:
                return False
            pk = row[0]
            conn.execute(sql.ensure_session, {"pk": pk})
            conn.execute(sql.ensure_user, {"user": user})
            lo, hi = rows[0][0], rows[-1][0]
            minutes = dict(conn.execute(sql.minutes, {"pk": pk, "lo": lo, "hi": hi}).fetchall())
            conn.executemany(
                sql.add_vector, [(user, pk, seq, minutes.get(seq, 0), bytes(b)) for seq, b in rows]
            )
            conn.execute(sql.set_embedded, {"pk": pk, "embedded": hi})
            return True

    # -- reading -----------------------------------------------------------------------------
    def _scope_params(self, scope: RecallScope) -> dict[str, Any]:
        return {"user": stored_user(scope.user_id), "sid": scope.session_id, "now": self.clock()}  # type: ignore[attr-defined]

    def recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        sql = self._rsql()
        params = self._scope_params(scope)
        with self.connections.connection() as conn:  # type: ignore[attr-defined]
            sessions = conn.execute(sql.sessions, params).fetchall()
            found = (
                conn.execute(sql.postings, {**params, "terms": json.dumps(list(terms))}).fetchall()
                if terms
                else []
            )
        return sql_lexical_rows(sessions, found, terms)

    def recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        if not keys:
            return {}
        sql = self._rsql()
        params = {**self._scope_params(scope), "keys": json.dumps([list(k) for k in keys])}
        with self.connections.connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(sql.fetch, params).fetchall()
        return {(sid, seq): (bytes(data), minute or None) for sid, seq, data, minute in rows}

    def recall_marks(self, key: SessionKey) -> RecallMarks:
        check_key(key)
        with self.connections.connection() as conn:  # type: ignore[attr-defined]
            row = self._session(conn, key)
        return RecallMarks(0, 0, 0) if row is None else RecallMarks(row[1], row[2], row[3])

    def recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        sql = self._rsql()
        params = self._scope_params(scope)
        with self.connections.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("BEGIN")  # one snapshot: the epoch and the rows agree
            try:
                found = conn.execute(sql.epoch, params).fetchone()
                current = None if found is None else found[0]
                after = (
                    cursor
                    if current is not None and epoch == current and isinstance(cursor, int)
                    else 0
                )
                rows = conn.execute(sql.vectors, {**params, "after": after}).fetchall()
                last = conn.execute(sql.last_vector, params).fetchone()[0]
                sessions = conn.execute(sql.sessions, params).fetchall()
            finally:
                conn.execute("COMMIT")
        return VectorRows(
            current,
            max(last, after),
            [(doc_key(pk, seq), minute, bytes(vec)) for _, pk, seq, minute, vec in rows],
            {pk: sid for pk, sid, *_ in sessions},
        )


def _in_order(rows: Sequence[tuple[int, Any]], after: int, last: int) -> bool:
    return all(seq == after + i + 1 for i, (seq, _) in enumerate(rows)) and (
        not rows or rows[-1][0] <= last
    )


def _script(conn: sqlite3.Connection, script: str) -> None:
    """Run the schema inside an open transaction (``executescript`` would commit it)."""
    for statement in _statements(script):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [s for s in out if s]
