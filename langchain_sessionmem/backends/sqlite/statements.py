"""All SQL of the SQLite backend: chat-history and checkpoint tables, built once per namespace."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError

PRAGMAS = ("PRAGMA foreign_keys = ON", "PRAGMA secure_delete = ON")
"""Run on every new connection: deleted rows are overwritten with zeros, not left in free pages."""
FILE_PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL")
"""Run on every new connection to a file (``:memory:`` has no WAL)."""
WAL_TRUNCATE = "PRAGMA wal_checkpoint(TRUNCATE)"
"""Copy the WAL into the file and empty it: an erase leaves no old page images behind."""
BEGIN = "BEGIN IMMEDIATE"  # take the write lock up front: writers queue on the busy timeout
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
SAVEPOINT = 'SAVEPOINT "sessionmem"'  # a transaction nested in another one of the same thread
RELEASE = 'RELEASE "sessionmem"'
ROLLBACK_TO = 'ROLLBACK TO "sessionmem"'

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
CREATE TABLE IF NOT EXISTS "{ns}_user_keys" (
    user_id TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL
) WITHOUT ROWID;
"""

CHECKPOINT_SCHEMA = """
CREATE TABLE IF NOT EXISTS "{p}_cp_meta" (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {th} (
    thread_id TEXT PRIMARY KEY, owner TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    expires_at REAL);
CREATE INDEX IF NOT EXISTS "{p}_cp_threads_expiry" ON {th}(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS "{p}_cp_threads_owner" ON {th}(owner);
CREATE TABLE IF NOT EXISTS {ck} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL, parent_id TEXT,
    type TEXT NOT NULL, ckpt BLOB NOT NULL, metadata TEXT NOT NULL, run_id TEXT,
    PRIMARY KEY (thread_id, ns, checkpoint_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "{p}_cp_checkpoints_run" ON {ck}(run_id) WHERE run_id IS NOT NULL;
-- list() of a thread across namespaces, newest first: ORDER BY ... LIMIT walks this index
CREATE INDEX IF NOT EXISTS "{p}_cp_checkpoints_recent" ON {ck}(thread_id, checkpoint_id);
CREATE TABLE IF NOT EXISTS {bl} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,
    type TEXT NOT NULL, blob BLOB, PRIMARY KEY (thread_id, ns, channel, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {wr} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL,
    idx INTEGER NOT NULL, task_path TEXT NOT NULL, channel TEXT NOT NULL, type TEXT NOT NULL, blob BLOB,
    PRIMARY KEY (thread_id, ns, checkpoint_id, task_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {lg} (
    thread_id TEXT NOT NULL, ns TEXT NOT NULL, log_id TEXT NOT NULL, seq INTEGER NOT NULL,
    type TEXT NOT NULL, blob BLOB, PRIMARY KEY (thread_id, ns, log_id, seq)) WITHOUT ROWID;
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
        # Creates or refreshes the session and reserves :n positions; returns the last position.
        # message_count is the last position handed out (the next append starts after it), so a
        # row lost to damage never makes two messages share a seq; count() counts the rows.
        self.touch = (
            f"INSERT INTO {s} (user_id, session_id, created_at, updated_at, expires_at, message_count) "
            "VALUES (:user, :sid, :now, :now, :expires, :n) "
            "ON CONFLICT (user_id, session_id) DO UPDATE SET updated_at = :now, expires_at = :expires, "
            "message_count = message_count + :n RETURNING id, message_count"
        )
        # The same for a live session, in one statement (no expiry check, no insert attempt):
        # no row back means the session is new or expired, and the two statements above run.
        self.touch_live = (
            f"UPDATE {s} SET updated_at = :now, expires_at = :expires, message_count = "
            f"message_count + :n WHERE user_id = :user AND session_id = :sid AND {LIVE} "
            "RETURNING id, message_count"
        )
        # Cheaper still when this engine wrote the session last: a rowid lookup that checks the
        # row still is that session at that length (any other change: no row, the above runs).
        self.touch_known = (
            f"UPDATE {s} SET updated_at = :now, expires_at = :expires, message_count = :last + :n "
            "WHERE id = :pk AND user_id = :user AND session_id = :sid AND message_count = :last "
            f"AND {LIVE}"
        )
        session_of = f"SELECT id FROM {s} WHERE user_id = :user AND session_id = :sid AND {LIVE}"
        self.known_ids = (
            f"SELECT message_id FROM {m} WHERE session_pk = ({session_of}) "
            "AND message_id IN (SELECT value FROM json_each(:ids))"
        )
        self.insert_message = (
            f"INSERT INTO {m} (session_pk, seq, message_id, data) VALUES (?, ?, ?, ?)"
        )
        self.tail = f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) ORDER BY seq DESC LIMIT :k"
        self.range = (
            f"SELECT seq, data FROM {m} WHERE session_pk = ({session_of}) "
            "AND seq >= :start AND seq < :end ORDER BY seq"
        )
        # A read slides the expiry unless it moved less than :slack ago: then the UPDATE matches
        # nothing and writes nothing (no WAL frame, no commit), as on a read right after a write.
        self.refresh = (
            f"UPDATE {s} SET expires_at = :expires WHERE user_id = :user AND session_id = :sid "
            f"AND {LIVE} AND expires_at < :expires - :slack"
        )
        self.count = f"SELECT COUNT(*) FROM {m} WHERE session_pk = ({session_of})"
        self.session_pk = session_of
        # pop: the last :n rows go (their ids leave the dedup index with them), then the session's
        # last position drops to the last remaining seq and its TTL slides, as on a write.
        self.pop = (
            f"DELETE FROM {m} WHERE session_pk = :pk AND seq IN (SELECT seq FROM {m} "
            "WHERE session_pk = :pk ORDER BY seq DESC LIMIT :n) RETURNING seq, data"
        )
        self.after_pop = (
            f"UPDATE {s} SET message_count = COALESCE((SELECT MAX(seq) FROM {m} "
            "WHERE session_pk = :pk), 0), updated_at = :now, expires_at = :expires WHERE id = :pk"
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
        listing = (
            f"SELECT session_id, created_at, updated_at, (SELECT COUNT(*) FROM {m} "
            f"WHERE session_pk = {s}.id), expires_at FROM {s} WHERE user_id = :user AND {LIVE}"
        )
        # pages in (updated_at in microseconds, session_id) order, as the cursors spell them
        micros = "CAST(round(updated_at * 1000000) AS INTEGER)"
        order = f" ORDER BY {micros} DESC, session_id DESC LIMIT :limit"
        self.list_sessions = listing + order
        self.list_sessions_after = (
            f"{listing} AND ({micros} < :at OR ({micros} = :at AND session_id < :sid)){order}"
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
        k = f'"{ns}_user_keys"'
        self.get_user_key = f"SELECT wrapped FROM {k} WHERE user_id = :user"
        self.create_user_key = (
            f"INSERT INTO {k} (user_id, wrapped) VALUES (:user, :wrapped) "
            "ON CONFLICT (user_id) DO NOTHING"
        )
        self.delete_user_key = f"DELETE FROM {k} WHERE user_id = :user"


class CheckpointStatements:
    """The checkpointer SQL of one namespace: tables prefixed so several apps share one file.

    Statements that take a list of values bind it as one JSON array (``json_each(?)``), so no
    statement depends on how many values there are.
    """

    def __init__(self, namespace: str):
        if not namespace.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigurationError(
                f"namespace {namespace!r} must be letters, digits, '_', '-' or '.'"
            )
        p = namespace
        th = self.threads = f'"{p}_cp_threads"'
        ck = self.ckpts = f'"{p}_cp_checkpoints"'
        bl = self.blobs = f'"{p}_cp_blobs"'
        wr = self.writes = f'"{p}_cp_writes"'
        lg = self.logs = f'"{p}_cp_logs"'
        self.data_tables = (ck, bl, wr, lg)
        self.schema = CHECKPOINT_SCHEMA.format(p=p, th=th, ck=ck, bl=bl, wr=wr, lg=lg)
        each = "(SELECT value FROM json_each(?))"

        # -- threads: owner stamp, timestamps, expiry ------------------------------------------
        self.thread_row = f"SELECT owner, expires_at FROM {th} WHERE thread_id = ?"
        self.insert_thread = (
            f"INSERT INTO {th} (thread_id, owner, created_at, updated_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        self.touch_thread = f"UPDATE {th} SET updated_at = ?, expires_at = ? WHERE thread_id = ?"
        self.refresh_threads = f"UPDATE {th} SET expires_at = ? WHERE thread_id IN {each}"
        self.drop_threads = tuple(
            f"DELETE FROM {t} WHERE thread_id IN {each}" for t in (*self.data_tables, th)
        )
        self.expired_threads = (
            f"SELECT thread_id FROM {th} WHERE expires_at IS NOT NULL AND expires_at <= ?"
        )
        live = "(expires_at IS NULL OR expires_at > ?)"
        self.owner_threads = (
            f"SELECT t.thread_id, t.created_at, t.updated_at, t.expires_at, "
            f"(SELECT COUNT(*) FROM {ck} c WHERE c.thread_id = t.thread_id) FROM {th} t "
            f"WHERE t.owner IS ? AND {live.replace('expires_at', 't.expires_at')} "
            "ORDER BY t.updated_at DESC"
        )
        self.all_owner_threads = f"SELECT thread_id, expires_at FROM {th} WHERE owner IS ?"
        self.thread_info = (
            f"SELECT owner, created_at, updated_at, expires_at FROM {th} WHERE thread_id = ?"
        )
        self.thread_size = (
            f"SELECT (SELECT COUNT(*) FROM {ck} WHERE thread_id = ?1), "
            f"(SELECT COALESCE(SUM(length(ckpt) + length(metadata)), 0) FROM {ck} WHERE thread_id = ?1)"
            + "".join(
                f" + (SELECT COALESCE(SUM(length(blob)), 0) FROM {t} WHERE thread_id = ?1)"
                for t in (bl, wr, lg)
            )
        )

        # -- reads: writes, blobs and log items of fetched checkpoints -------------------------
        self.writes_of = (
            f"SELECT checkpoint_id, task_id, idx, task_path, channel, type, blob FROM {wr} "
            f"WHERE thread_id = ? AND ns = ? AND checkpoint_id IN {each}"
        )
        self.thread_blobs = (
            f"SELECT channel, version, type, blob FROM {bl} WHERE thread_id = ? AND ns = ?"
        )
        self.log_items = (
            f"SELECT type, blob FROM {lg} WHERE thread_id = ? AND ns = ? AND log_id = ? "
            "AND seq >= ? AND seq < ? ORDER BY seq"
        )

        # -- the DeltaChannel walk: a page of the parent chain in one recursive statement, then
        # which (channel, version) pairs hold a value, then the writes of the visited checkpoints.
        self.chain = (
            "WITH RECURSIVE chain(cid, parent, typ, ckpt, depth) AS ("
            f"SELECT checkpoint_id, parent_id, type, ckpt, 0 FROM {ck} "
            "WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3 "
            "UNION ALL SELECT c.checkpoint_id, c.parent_id, c.type, c.ckpt, chain.depth + 1 FROM chain "
            f"JOIN {ck} c ON c.thread_id = ?1 AND c.ns = ?2 AND c.checkpoint_id = chain.parent "
            "WHERE chain.depth + 1 < ?4) SELECT cid, parent, typ, ckpt FROM chain ORDER BY depth"
        )
        # CROSS JOIN keeps json_each the outer loop: each pair is one primary-key lookup (left
        # to itself the planner scans every blob of the thread once per pair)
        pairs = (
            f"FROM json_each(?3) j CROSS JOIN {bl} b ON b.thread_id = ?1 AND b.ns = ?2 "
            "AND b.channel = json_extract(j.value, '$[0]') AND b.version = json_extract(j.value, '$[1]') "
            "WHERE b.type != 'empty'"
        )
        self.stored_pairs = "SELECT b.channel, b.version " + pairs
        self.pair_values = "SELECT b.channel, b.version, b.type, b.blob " + pairs
        self.chain_writes = (
            f"SELECT checkpoint_id, task_id, idx, task_path, channel, type, blob FROM {wr} "
            "WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id IN (SELECT value FROM json_each(?3)) "
            "AND channel IN (SELECT value FROM json_each(?4))"
        )

        # -- writes ------------------------------------------------------------------------------
        self.log_length = f"SELECT COALESCE(MAX(seq) + 1, 0) FROM {lg} WHERE thread_id = ? AND ns = ? AND log_id = ?"
        self.insert_log_item = f"INSERT INTO {lg} VALUES (?, ?, ?, ?, ?, ?)"
        self.upsert_blob = f"INSERT OR REPLACE INTO {bl} VALUES (?, ?, ?, ?, ?, ?)"
        self.upsert_checkpoint = f"INSERT OR REPLACE INTO {ck} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        # Special channels (errors, interrupts) replace a task's write; ordinary ones keep the first.
        self.replace_write = f"INSERT OR REPLACE INTO {wr} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self.insert_write = f"INSERT OR IGNORE INTO {wr} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

        # -- runs, copies, prune -----------------------------------------------------------------
        self.checkpoints_of_runs = (
            f"SELECT c.thread_id, c.ns, c.checkpoint_id FROM {ck} c JOIN {th} t "
            f"ON t.thread_id = c.thread_id WHERE c.run_id IN {each} AND t.owner IS ?"
        )
        self.delete_checkpoint = tuple(
            f"DELETE FROM {t} WHERE thread_id = ? AND ns = ? AND checkpoint_id = ?"
            for t in (ck, wr)
        )
        columns = {
            ck: "ns, checkpoint_id, parent_id, type, ckpt, metadata, run_id",
            bl: "ns, channel, version, type, blob",
            wr: "ns, checkpoint_id, task_id, idx, task_path, channel, type, blob",
            lg: "ns, log_id, seq, type, blob",
        }
        self.copy_rows = tuple(
            f"INSERT INTO {t} (thread_id, {cols}) SELECT ?, {cols} FROM {t} WHERE thread_id = ?"
            for t, cols in columns.items()
        )
        # copy_thread under encryption: rows are read, re-sealed at their new place, inserted.
        self.thread_rows = {
            t: f"SELECT {cols} FROM {t} WHERE thread_id = ?" for t, cols in columns.items()
        }
        self.insert_rows = {
            t: f"INSERT INTO {t} (thread_id, {cols}) VALUES (?{', ?' * (cols.count(',') + 1)})"
            for t, cols in columns.items()
        }
        self.latest_per_ns = (
            f"SELECT ns, MAX(checkpoint_id) FROM {ck} WHERE thread_id = ? GROUP BY ns"
        )
        self.checkpoint_record = (
            f"SELECT type, ckpt, metadata FROM {ck} WHERE thread_id = ? AND ns = ? "
            "AND checkpoint_id = ?"
        )
        self.checkpoint_ids = f"SELECT ns, checkpoint_id FROM {ck} WHERE thread_id = ?"
        self.blobs_of_thread = (
            f"SELECT ns, channel, version, type, blob FROM {bl} WHERE thread_id = ?"
        )
        self.delete_blob = (
            f"DELETE FROM {bl} WHERE thread_id = ? AND ns = ? AND channel = ? AND version = ?"
        )
        self.logs_of_thread = f"SELECT DISTINCT ns, log_id FROM {lg} WHERE thread_id = ?"
        self.delete_log = f"DELETE FROM {lg} WHERE thread_id = ? AND ns = ? AND log_id = ?"

        # -- schema versions: thread ids became (owner, thread_id) keys in version 2 ------------
        meta = f'"{p}_cp_meta"'
        self.get_meta = f"SELECT value FROM {meta} WHERE name = ?"
        self.set_meta = f"INSERT OR REPLACE INTO {meta} (name, value) VALUES (?, ?)"
        self.any_thread = f"SELECT 1 FROM {th} LIMIT 1"
        # ``sessionmem_thread_key(owner, thread_id)`` is registered on the connection by the saver.
        self.key_threads = tuple(
            f"UPDATE {t} SET thread_id = (SELECT sessionmem_thread_key(x.owner, x.thread_id) "
            f"FROM {th} x WHERE x.thread_id = {t}.thread_id) "
            f"WHERE thread_id IN (SELECT thread_id FROM {th})"
            for t in self.data_tables
        ) + (f"UPDATE {th} SET thread_id = sessionmem_thread_key(owner, thread_id)",)

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
        owner: str | None,
        pushed: dict[str, Any],
        limit: int | None,
        at: float,
    ) -> tuple[str, list[Any]]:
        """The one query behind get_tuple and list: every filter pushed into SQL."""
        where = [self.visible, "t.owner IS ?"]
        params: list[Any] = [at, owner]
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
        # The JSON path is bound too (keys never touch the SQL); a row whose metadata is damaged
        # matches no filter instead of failing the whole listing.
        for key, value in pushed.items():
            where.append("json_extract(iif(json_valid(c.metadata), c.metadata, '{}'), ?) = ?")
            params += [f'$."{key}"', value]
        sql = (
            f"SELECT {self.select_row} FROM {self.ckpts} c JOIN {self.threads} t ON t.thread_id = c.thread_id "
            f"WHERE {' AND '.join(where)} ORDER BY c.checkpoint_id DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return sql, params
