"""All SQL of the PostgreSQL backend's chat-history tables, built once per namespace (no I/O)."""

from __future__ import annotations

from .appends import Appends
from .migrations import check_namespace

LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"


class Statements:
    """The SQL of one namespace, built once; no I/O here."""

    def __init__(self, ns: str):
        check_namespace(ns)
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        self.drop_expired_one = f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND expires_at <= %(now)s"
        self.appends = Appends(s, m)  # the append statements, one per batch shape
        self.touch = self.appends.touch("%(n)s")
        session_of = (
            f"SELECT id FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        )
        tail = "SELECT seq, data FROM {m} WHERE session_pk = {pk} ORDER BY seq DESC LIMIT %(k)s"
        range_ = (
            "SELECT seq, data FROM {m} WHERE session_pk = {pk} "
            "AND seq >= %(start)s AND seq < %(end)s ORDER BY seq"
        )
        self.tail = tail.format(m=m, pk=f"({session_of})")
        self.range = range_.format(m=m, pk=f"({session_of})")
        self.refresh = f"UPDATE {s} SET expires_at = %(expires)s WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.count = f"SELECT message_count FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        self.get_state = f"SELECT state_version, state FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        # refresh_on_read: each read with the expiry slid by the same statement (one round trip)
        touched = f"WITH touched AS ({self.refresh} RETURNING id) "
        self.refreshing = {
            self.tail: touched + tail.format(m=m, pk="(SELECT id FROM touched)"),
            self.range: touched + range_.format(m=m, pk="(SELECT id FROM touched)"),
            self.count: f"{self.refresh} RETURNING message_count",
            self.get_state: f"{self.refresh} RETURNING state_version, state",
        }
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
