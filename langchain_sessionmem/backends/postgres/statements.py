"""All SQL of the PostgreSQL backend's chat-history tables, built once per namespace (no I/O)."""

from __future__ import annotations

import hashlib

from ...errors import ConfigurationError

MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently, so two tables could collide
_LONGEST_SUFFIX = "_sessions_expiry"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS "{ns}_sessions" (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    message_count BIGINT NOT NULL DEFAULT 0,
    state_version BIGINT NOT NULL DEFAULT 0,
    state BYTEA,
    UNIQUE (user_id, session_id)
)""",
    """CREATE INDEX IF NOT EXISTS "{ns}_sessions_expiry" ON "{ns}_sessions" (expires_at)
    WHERE expires_at IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS "{ns}_messages" (
    session_pk BIGINT NOT NULL REFERENCES "{ns}_sessions" (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (session_pk, seq)
)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_messages_id" ON "{ns}_messages" (session_pk, message_id)""",
    """CREATE TABLE IF NOT EXISTS "{ns}_user_state" (
    user_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    data BYTEA NOT NULL
)""",
)

LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"


class Statements:
    """The SQL of one namespace, built once; no I/O here."""

    def __init__(self, ns: str):
        if len(f"{ns}{_LONGEST_SUFFIX}".encode()) > MAX_IDENTIFIER:
            longest = MAX_IDENTIFIER - len(_LONGEST_SUFFIX)
            raise ConfigurationError(
                f"namespace {ns!r} is too long for PostgreSQL table names: use at most {longest} characters"
            )
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        self.schema = [statement.format(ns=ns) for statement in SCHEMA]
        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in pg_type: serialize them.
        digest = hashlib.blake2b(f"sessionmem schema {ns}".encode(), digest_size=8).digest()
        self.schema_lock = (
            f"SELECT pg_advisory_xact_lock({int.from_bytes(digest, 'big', signed=True)})"
        )
        self.drop_expired_one = f"DELETE FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND expires_at <= %(now)s"
        # Creates or refreshes the session; the conflict path takes the row lock, so writers of one
        # session queue here, each reserving its %(n)s positions after the last writer's.
        self.touch = (
            f"INSERT INTO {s} AS s (user_id, session_id, created_at, updated_at, expires_at, message_count) "
            "VALUES (%(user)s, %(sid)s, %(now)s, %(now)s, %(expires)s, %(n)s) "
            "ON CONFLICT (user_id, session_id) DO UPDATE SET updated_at = EXCLUDED.updated_at, "
            "expires_at = EXCLUDED.expires_at, message_count = s.message_count + EXCLUDED.message_count"
        )
        # The touch and the inserts as one statement (one round trip, atomic on its own). An expired
        # session is left alone (its row locked, nothing written) and the count is 0: the caller then
        # drops it with drop_expired_one and runs this again, both in one transaction.
        self.append = (
            f"WITH session AS ({self.touch} WHERE s.expires_at IS NULL OR s.expires_at > %(now)s "
            "RETURNING id, message_count), "
            f"added AS (INSERT INTO {m} (session_pk, seq, message_id, data) "
            "SELECT session.id, session.message_count - %(n)s + new.ord, new.message_id, new.data "
            "FROM session, unnest(%(ids)s::text[], %(datas)s::bytea[]) WITH ORDINALITY AS new(message_id, data, ord)) "
            "SELECT count(*) FROM session"
        )
        session_of = (
            f"SELECT id FROM {s} WHERE user_id = %(user)s AND session_id = %(sid)s AND {LIVE}"
        )
        self.known_ids = f"SELECT message_id FROM {m} WHERE session_pk = ({session_of}) AND message_id = ANY(%(ids)s)"
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
        self.list_sessions = (
            f"SELECT session_id, created_at, updated_at, message_count, expires_at FROM {s} "
            f"WHERE user_id = %(user)s AND {LIVE} ORDER BY updated_at DESC"
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
