"""All SQL of the PostgreSQL backend's chat-history tables, built once per namespace (no I/O)."""

from __future__ import annotations

from .migrations import check_namespace

LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"
ROWS = 8
"""Batches up to this size bind each message as two scalars (``VALUES`` rows): cheaper to send
and to plan than arrays, whose bytes would travel hex-escaped. Larger ones go as binary arrays."""


class Statements:
    """The SQL of one namespace, built once; no I/O here."""

    def __init__(self, ns: str):
        check_namespace(ns)
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        self.drop_expired_one = f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND expires_at <= %(now)s"
        self._s, self._m = s, m
        self.touch = self._touch("%(n)s")
        self._appends: dict[tuple[int, bool], str] = {}
        session_of = (
            f"SELECT id FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        )
        self.tail = f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) ORDER BY seq DESC LIMIT %(k)s"
        self.range = (
            f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) "
            "AND seq >= %(start)s AND seq < %(end)s ORDER BY seq"
        )
        self.refresh = f"UPDATE {s} SET expires_at = %(expires)s WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.count = f"SELECT message_count FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.get_state = f"SELECT state_version, state FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.cas_state = (
            f"UPDATE {s} SET state = %(data)s, state_version = state_version + 1 "
            "WHERE user_id = %(user)s AND session_id = %(sid)s AND state_version = %(expected)s RETURNING 1"
        )
        # Deletes report only live sessions, like Redis where expired ones are already gone.
        self.delete_session = (
            f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s RETURNING {LIVE}"
        )
        listing = (
            f"SELECT session_id, created_at, updated_at, message_count, expires_at FROM {s} "
            f"WHERE user_id = %(user)s AND {LIVE}"
        )
        # Keyset pages: (updated_at, session_id) of the last row is the cursor of the next page.
        self.list_sessions = f"{listing} ORDER BY updated_at DESC, session_id DESC LIMIT %(limit)s"
        self.list_sessions_after = (
            f"{listing} AND (updated_at, session_id) < (%(after_at)s, %(after_sid)s) "
            "ORDER BY updated_at DESC, session_id DESC LIMIT %(limit)s"
        )
        # Pop: the session's count drops first (taking its row lock, so appends queue behind it),
        # then the messages past the new count go, returned oldest first; the TTL slides.
        self.pop = (
            f"WITH session AS (UPDATE {s} SET message_count = GREATEST(message_count - %(n)s, 0), "
            "updated_at = %(now)s, expires_at = %(expires)s "
            f"WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE} "
            "RETURNING id, message_count), "
            f"gone AS (DELETE FROM {m} USING session WHERE session_pk = session.id "
            "AND seq > session.message_count RETURNING seq, data) "
            "SELECT seq, data FROM gone ORDER BY seq"
        )
        self.delete_user = f"DELETE FROM {s} WHERE user_id = %(user)s RETURNING {LIVE}"
        self.purge_expired = (
            f"WITH gone AS (DELETE FROM {s} WHERE expires_at <= %(now)s RETURNING 1) "
            "SELECT count(*) FROM gone"
        )
        u = f'"{ns}_user_state"'
        self.get_user_state = f"SELECT version, data FROM {u} WHERE user_id = %(user)s"
        self.create_user_state = (
            f"INSERT INTO {u} (user_id, version, data) VALUES (%(user)s, 1, %(data)s) "
            "ON CONFLICT (user_id) DO NOTHING RETURNING 1"
        )
        self.cas_user_state = (
            f"UPDATE {u} SET version = version + 1, data = %(data)s "
            "WHERE user_id = %(user)s AND version = %(expected)s RETURNING 1"
        )
        self.delete_user_state = f"DELETE FROM {u} WHERE user_id = %(user)s"
        k = f'"{ns}_user_keys"'
        self.get_user_key = f"SELECT wrapped FROM {k} WHERE user_id = %(user)s"
        # A racing creator's key wins: the loser's insert does nothing and returns no row, and the
        # plan reads the winner's key with its next statement (a fresh snapshot).
        self.create_user_key = (
            f"INSERT INTO {k} (user_id, wrapped) VALUES (%(user)s, %(wrapped)s) "
            "ON CONFLICT (user_id) DO NOTHING RETURNING wrapped"
        )
        self.delete_user_key = f"DELETE FROM {k} WHERE user_id = %(user)s"

    def _touch(self, count: str) -> str:
        """Create or refresh the session, adding ``count`` to its messages. The conflict path
        takes the row lock, so writers of one session queue here, each reserving its positions
        after the last writer's."""
        return (
            f"INSERT INTO {self._s} AS s (user_id, session_id, created_at, updated_at, "
            f"expires_at, message_count) VALUES (%(user)s, %(sid)s, %(now)s, %(now)s, "
            f"%(expires)s, {count}) ON CONFLICT (user_id, session_id) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at, "
            "message_count = s.message_count + EXCLUDED.message_count"
        )

    def append(self, n: int, check: bool) -> str:
        """Append ``n`` messages in one statement (see :meth:`_append`), built once per shape."""
        rows = n if n <= ROWS else 0
        sql = self._appends.get((rows, check))
        if sql is None:
            sql = self._appends[(rows, check)] = self._append(rows, check)
        return sql

    def _append(self, rows: int, check: bool) -> str:
        """The session upsert and the inserts as one statement (one round trip, atomic alone).

        The upsert takes the session's row lock, so writers of one session queue there, each
        reserving its positions after the last writer's. ``check`` skips messages whose id the
        session already holds (``fresh``, looked up on the ``(session_pk, message_id)`` index)
        and numbers the rest from 1; a concurrent writer storing the same id first makes the
        insert fail on that unique index, and the engine retries. ``OFFSET 0`` keeps each lookup
        a probe of that index: as an anti-join, a generic plan (prepared statements) that guessed
        short sessions reads every message of the session, O(history) per append. An expired session is left
        alone (its row locked, nothing written) and no row comes back: the caller then drops it
        with ``drop_expired_one`` and runs this again, both in one transaction. Returns the
        number of messages added. Parameters: ``user, sid, now, expires`` and ``i1, d1, ...``
        (``rows`` scalars) or ``ids, datas`` (binary arrays) with ``n``.
        """
        m = self._m
        if rows:
            values = ", ".join(
                f"({i}, %(i{i})s::text, %(d{i})s::bytea)" for i in range(1, rows + 1)
            )
            source = f"(VALUES {values}) AS new(ord, message_id, data)"
        else:
            source = "unnest(%(ids)b::text[], %(datas)b::bytea[]) WITH ORDINALITY AS new(message_id, data, ord)"
        if check:
            known = (
                f"SELECT 1 FROM {m} WHERE session_pk = (SELECT id FROM {self._s} WHERE "
                "user_id = %(user)s AND session_id = %(sid)s) AND message_id = new.message_id "
                "OFFSET 0"  # a probe of the unique index per message, never an anti-join: see above
            )
            fresh = (
                "fresh AS (SELECT row_number() OVER (ORDER BY new.ord) AS ord, new.message_id, "
                f"new.data FROM {source} WHERE NOT EXISTS ({known})), "
            )
            count, source = "(SELECT count(*) FROM fresh)", "fresh AS new"
        else:
            fresh, count = "", str(rows) if rows else "%(n)s"
        return (
            f"WITH {fresh}session AS ({self._touch(count)} "
            "WHERE s.expires_at IS NULL OR s.expires_at > %(now)s RETURNING id, message_count), "
            f"added AS (INSERT INTO {m} (session_pk, seq, message_id, data) "
            f"SELECT session.id, session.message_count - {count} + new.ord, new.message_id, new.data "
            f"FROM session, {source}) "
            f"SELECT {count} FROM session"
        )
