"""The append statements of the chat history, one per batch shape, and their parameters (no I/O).

Why several: an append is one statement (one round trip, atomic on its own) whose cheapest form
depends on the batch. Up to :data:`ROWS` messages bind as scalars in ``VALUES`` rows (arrays of
bytes would travel hex-escaped and cost more to send and to plan than the insert itself); larger
batches bind two binary arrays. Ids made by this call's encoder need no lookup; any other batch
skips, in the same statement, the ids its session already holds. A turn's append normally finds
its session live and updates it; creating a session (or finding it expired) takes the upsert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...records import EncodedMessage

ROWS = 8
"""The largest batch bound as ``VALUES`` rows; larger ones go as binary arrays."""


def bind(params: dict[str, Any], batch: Sequence[EncodedMessage]) -> None:
    """Add ``batch``'s ids and bytes to ``params`` as :meth:`Appends.sql` of its size expects."""
    if 0 < len(batch) <= ROWS:  # an empty batch takes the array form: VALUES needs a row
        for i, m in enumerate(batch, 1):
            params[f"i{i}"], params[f"d{i}"] = m.id, m.data
    else:
        params.update(n=len(batch), ids=[m.id for m in batch], datas=[m.data for m in batch])


class Appends:
    """The append statements of one namespace's ``sessions`` and ``messages`` tables."""

    def __init__(self, sessions: str, messages: str):
        self.s, self.m = sessions, messages
        self._built: dict[tuple[int, bool, bool], str] = {}

    def touch(self, count: str) -> str:
        """Create or refresh the session, adding ``count`` to its messages. The conflict path
        takes the row lock, so writers of one session queue here, each reserving its positions
        after the last writer's."""
        return (
            f"INSERT INTO {self.s} AS s (user_id, session_id, created_at, updated_at, "
            f"expires_at, message_count) VALUES (%(user)s, %(sid)s, %(now)s, %(now)s, "
            f"%(expires)s, {count}) ON CONFLICT (user_id, session_id) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at, "
            "message_count = s.message_count + EXCLUDED.message_count"
        )

    def sql(self, n: int, check: bool, create: bool) -> str:
        """The statement appending ``n`` messages (see :meth:`_build`), built once per shape."""
        shape = (n if n <= ROWS else 0, check, create)
        sql = self._built.get(shape)
        if sql is None:
            sql = self._built[shape] = self._build(*shape)
        return sql

    def _build(self, rows: int, check: bool, create: bool) -> str:
        """The session's update (or, with ``create``, upsert) and the inserts as one statement.

        Either takes the session's row lock, so writers of one session queue there, each
        reserving its positions after the last writer's. The update touches live sessions only
        and returns no row otherwise: the caller then runs the upsert, which creates a missing
        session and leaves an expired one alone (its row locked, nothing written, no row back),
        so the caller drops it with ``drop_expired_one`` and upserts again, in one transaction.

        ``check`` skips messages whose id the session already holds (``fresh``) and numbers the
        rest from 1; a concurrent writer storing the same id first makes the insert fail on the
        ``(session_pk, message_id)`` index, and the engine retries. ``OFFSET 0`` keeps each lookup
        a probe of that index: as an anti-join, a generic plan (prepared statements) that guessed
        short sessions reads every message of the session, O(history) per append.

        Returns the number of messages added. Parameters: ``user, sid, now, expires`` and those
        of :func:`bind`.
        """
        m = self.m
        if rows:
            values = ", ".join(
                f"({i}, %(i{i})s::text, %(d{i})s::bytea)" for i in range(1, rows + 1)
            )
            source = f"(VALUES {values}) AS new(ord, message_id, data)"
        else:
            source = (
                "unnest(%(ids)b::text[], %(datas)b::bytea[]) "
                "WITH ORDINALITY AS new(message_id, data, ord)"
            )
        fresh, count = "", str(rows) if rows else "%(n)s"
        if check:
            known = (
                f"SELECT 1 FROM {m} WHERE session_pk = (SELECT id FROM {self.s} WHERE "
                "user_id = %(user)s AND session_id = %(sid)s) AND message_id = new.message_id "
                "OFFSET 0"
            )
            fresh = (
                "fresh AS (SELECT row_number() OVER (ORDER BY new.ord) AS ord, new.message_id, "
                f"new.data FROM {source} WHERE NOT EXISTS ({known})), "
            )
            count, source = "(SELECT count(*) FROM fresh)", "fresh AS new"
        live = "s.expires_at IS NULL OR s.expires_at > %(now)s"
        if create:
            session = f"{self.touch(count)} WHERE {live}"
        else:
            session = (
                f"UPDATE {self.s} AS s SET updated_at = %(now)s, expires_at = %(expires)s, "
                f"message_count = s.message_count + {count} "
                f"WHERE user_id = %(user)s AND session_id = %(sid)s AND ({live})"
            )
        return (
            f"WITH {fresh}session AS ({session} RETURNING id, message_count), "
            f"added AS (INSERT INTO {m} (session_pk, seq, message_id, data) "
            f"SELECT session.id, session.message_count - {count} + new.ord, new.message_id, "
            f"new.data FROM session, {source}) "
            f"SELECT {count} FROM session"
        )
