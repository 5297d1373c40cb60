"""All SQL of the SQLite backend: chat-history and checkpoint tables, built once per namespace."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS "{ns}_sessions" (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL,
    message_count INTEGER NOT NULL DEFAULT 0,
    state_version INTEGER NOT NULL DEFAULT 0,
    state BLOB,
    UNIQUE (user_id, session_id)
);
CREATE INDEX IF NOT EXISTS "{ns}_sessions_expiry" ON "{ns}_sessions" (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS "{ns}_messages" (
    session_pk INTEGER NOT NULL REFERENCES "{ns}_sessions" (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (session_pk, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_messages_id" ON "{ns}_messages" (session_pk, message_id);
CREATE TABLE IF NOT EXISTS "{ns}_user_state" (
    user_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""

LIVE = "(expires_at IS NULL OR expires_at > :now)"


class SessionStatements:
    """The chat-history SQL of one namespace, built once."""

    def __init__(self, ns: str):
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        self.schema = SCHEMA.format(ns=ns)
        self.drop_expired_one = (
            f"DELETE FROM {s} WHERE user_id = :user AND session_id = :sid "
            "AND expires_at IS NOT NULL AND expires_at <= :now"
        )
        # Creates or refreshes the session and reserves :n positions; returns the new count.
        self.touch = (
            f"INSERT INTO {s} (user_id, session_id, created_at, updated_at, expires_at, message_count) "
            "VALUES (:user, :sid, :now, :now, :expires, :n) "
            "ON CONFLICT (user_id, session_id) DO UPDATE SET updated_at = :now, expires_at = :expires, "
            "message_count = message_count + :n RETURNING id, message_count"
        )
        session_of = f"SELECT id FROM {s} WHERE user_id = :user AND session_id = :sid AND {LIVE}"
        self.known_ids = f"SELECT message_id FROM {m} WHERE session_pk = ({session_of}) AND message_id IN ({{marks}})"
        self.insert_message = (
            f"INSERT INTO {m} (session_pk, seq, message_id, data) VALUES (?, ?, ?, ?)"
        )
        self.tail = f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) ORDER BY seq DESC LIMIT :k"
        self.range = (
            f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) "
            "AND seq >= :start AND seq < :end ORDER BY seq"
        )
        self.refresh = f"UPDATE {s} SET expires_at = :expires WHERE user_id = :user AND session_id = :sid AND {LIVE}"
        self.count = (
            f"SELECT message_count FROM {s} WHERE user_id = :user AND session_id = :sid AND {LIVE}"
        )
        self.get_state = f"SELECT state_version, state FROM {s} WHERE user_id = :user AND session_id = :sid AND {LIVE}"
        self.cas_state = (
            f"UPDATE {s} SET state = :data, state_version = state_version + 1 "
            "WHERE id = :pk AND state_version = :expected"
        )
        # Deletes report only live sessions, like Redis where expired ones are already gone.
        self.delete_session = (
            f"DELETE FROM {s} WHERE user_id = :user AND session_id = :sid RETURNING {LIVE}"
        )
        self.list_sessions = (
            f"SELECT session_id, created_at, updated_at, message_count, expires_at FROM {s} "
            f"WHERE user_id = :user AND {LIVE} ORDER BY updated_at DESC"
        )
        self.delete_user = f"DELETE FROM {s} WHERE user_id = :user RETURNING {LIVE}"
        self.purge_expired = f"DELETE FROM {s} WHERE expires_at IS NOT NULL AND expires_at <= :now"
        u = f'"{ns}_user_state"'
        self.get_user_state = f"SELECT version, data FROM {u} WHERE user_id = :user"
        self.create_user_state = (
            f"INSERT INTO {u} (user_id, version, data) VALUES (:user, 1, :data) "
            "ON CONFLICT (user_id) DO NOTHING"
        )
        self.cas_user_state = (
            f"UPDATE {u} SET version = version + 1, data = :data "
            "WHERE user_id = :user AND version = :expected"
        )
        self.delete_user_state = f"DELETE FROM {u} WHERE user_id = :user"


class CheckpointStatements:
    """The checkpointer SQL of one namespace: tables prefixed so several apps share one file."""

    def __init__(self, namespace: str):
        if not namespace.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigurationError(
                f"namespace {namespace!r} must be letters, digits, '_', '-' or '.'"
            )
        p = namespace
        self.threads = f'"{p}_cp_threads"'
        self.ckpts = f'"{p}_cp_checkpoints"'
        self.blobs = f'"{p}_cp_blobs"'
        self.writes = f'"{p}_cp_writes"'
        self.logs = f'"{p}_cp_logs"'
        self.data_tables = (self.ckpts, self.blobs, self.writes, self.logs)
        self.schema = f"""
CREATE TABLE IF NOT EXISTS {self.threads} (
    thread_id TEXT PRIMARY KEY, owner TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    expires_at REAL);
CREATE INDEX IF NOT EXISTS "{p}_cp_threads_expiry" ON {self.threads}(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS "{p}_cp_threads_owner" ON {self.threads}(owner);
CREATE TABLE IF NOT EXISTS {self.ckpts} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL, parent_id TEXT,
    type TEXT NOT NULL, ckpt BLOB NOT NULL, metadata TEXT NOT NULL, run_id TEXT,
    PRIMARY KEY (thread_id, ns, checkpoint_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "{p}_cp_checkpoints_run" ON {self.ckpts}(run_id) WHERE run_id IS NOT NULL;
-- list() of a thread across namespaces, newest first: ORDER BY ... LIMIT walks this index
CREATE INDEX IF NOT EXISTS "{p}_cp_checkpoints_recent" ON {self.ckpts}(thread_id, checkpoint_id);
CREATE TABLE IF NOT EXISTS {self.blobs} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,
    type TEXT NOT NULL, blob BLOB, PRIMARY KEY (thread_id, ns, channel, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {self.writes} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL,
    idx INTEGER NOT NULL, task_path TEXT NOT NULL, channel TEXT NOT NULL, type TEXT NOT NULL, blob BLOB,
    PRIMARY KEY (thread_id, ns, checkpoint_id, task_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {self.logs} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, log_id TEXT NOT NULL, seq INTEGER NOT NULL,
    type TEXT NOT NULL, blob BLOB, PRIMARY KEY (thread_id, ns, log_id, seq)) WITHOUT ROWID;
"""
        # The DeltaChannel walk: a page of the parent chain in one recursive statement, then which
        # (channel, version) pairs hold a value, then the writes of the visited checkpoints.
        self.chain = (
            f"WITH RECURSIVE chain(cid, parent, typ, ckpt, depth) AS ("
            f"SELECT checkpoint_id, parent_id, type, ckpt, 0 FROM {self.ckpts} "
            "WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3 "
            f"UNION ALL SELECT c.checkpoint_id, c.parent_id, c.type, c.ckpt, chain.depth + 1 FROM chain "
            f"JOIN {self.ckpts} c ON c.thread_id = ?1 AND c.ns = ?2 AND c.checkpoint_id = chain.parent "
            "WHERE chain.depth + 1 < ?4) SELECT cid, parent, typ, ckpt FROM chain ORDER BY depth"
        )
        pairs = (
            "FROM json_each(?3) j JOIN {t} b ON b.thread_id = ?1 AND b.ns = ?2 "
            "AND b.channel = json_extract(j.value, '$[0]') AND b.version = json_extract(j.value, '$[1]') "
            "WHERE b.type != 'empty'"
        )
        self.stored_pairs = "SELECT b.channel, b.version " + pairs.format(t=self.blobs)
        self.pair_values = "SELECT b.channel, b.version, b.type, b.blob " + pairs.format(
            t=self.blobs
        )
        self.chain_writes = (
            f"SELECT checkpoint_id, task_id, idx, task_path, channel, type, blob FROM {self.writes} "
            "WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id IN (SELECT value FROM json_each(?3)) "
            "AND channel IN (SELECT value FROM json_each(?4))"
        )
        self.visible = "(t.expires_at IS NULL OR t.expires_at > ?)"
        self.select_row = (
            "c.thread_id, c.ns, c.checkpoint_id, c.parent_id, c.type, c.ckpt, c.metadata"
        )

    def listing(
        self,
        *,
        thread_id: str | None,
        ns: str | None,
        checkpoint_id: str | None,
        before: str | None,
        owner: tuple[bool, str | None],
        pushed: dict[str, Any],
        limit: int | None,
        at: float,
    ) -> tuple[str, list[Any]]:
        """The one query behind get_tuple and list: every filter pushed into SQL."""
        where = [self.visible]
        params: list[Any] = [at]
        if owner[0]:
            where.append("t.owner IS ?")
            params.append(owner[1])
        for column, value in (
            ("c.thread_id", thread_id),
            ("c.ns", ns),
            ("c.checkpoint_id", checkpoint_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            where.append("c.checkpoint_id < ?")
            params.append(before)
        for key, value in pushed.items():
            where.append(f"json_extract(c.metadata, '$.\"{key}\"') = ?")
            params.append(value)
        sql = (
            f"SELECT {self.select_row} FROM {self.ckpts} c JOIN {self.threads} t ON t.thread_id = c.thread_id "
            f"WHERE {' AND '.join(where)} ORDER BY c.checkpoint_id DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        return sql, params
