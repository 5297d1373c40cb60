"""The SQL of the SQLite recall index: packed postings per (user, term, session), times, vectors.

Every row hangs off the session or the message it indexes with ``ON DELETE CASCADE``, so a
deleted, expired (purged), popped or erased message takes its index rows with it; triggers keep
the per-session counters and watermarks right and change the user's vector epoch when vectors
go, so cached readers reload. Reads join the live sessions of the scope, so an expired session
not yet purged is never recalled. Lists are bound as JSON arrays (``json_each``).
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS {rs} (
    session_pk INTEGER PRIMARY KEY REFERENCES {s} (id) ON DELETE CASCADE,
    indexed INTEGER NOT NULL DEFAULT 0,
    embedded INTEGER NOT NULL DEFAULT 0,
    n_docs INTEGER NOT NULL DEFAULT 0,
    total_len INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {rp} (
    user_id TEXT NOT NULL,
    term TEXT NOT NULL,
    session_pk INTEGER NOT NULL REFERENCES {s} (id) ON DELETE CASCADE,
    chunk INTEGER NOT NULL,
    postings BLOB NOT NULL,
    PRIMARY KEY (user_id, term, session_pk, chunk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "{ns}_recall_postings_session" ON {rp} (session_pk);
CREATE TABLE IF NOT EXISTS {rd} (
    session_pk INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (session_pk, seq),
    FOREIGN KEY (session_pk, seq) REFERENCES {m} (session_pk, seq) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {rv} (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_pk INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    vec BLOB NOT NULL,
    FOREIGN KEY (session_pk, seq) REFERENCES {m} (session_pk, seq) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "{ns}_recall_vectors_user" ON {rv} (user_id, id);
CREATE INDEX IF NOT EXISTS "{ns}_recall_vectors_message" ON {rv} (session_pk, seq);
CREATE TABLE IF NOT EXISTS {ru} (
    user_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS "{ns}_recall_doc_gone" AFTER DELETE ON {rd} BEGIN
    UPDATE {rs} SET n_docs = n_docs - 1, total_len = total_len - OLD.length,
        indexed = MIN(indexed, OLD.seq - 1), embedded = MIN(embedded, OLD.seq - 1), dirty = 1
    WHERE session_pk = OLD.session_pk;
END;
CREATE TRIGGER IF NOT EXISTS "{ns}_recall_vector_gone" AFTER DELETE ON {rv} BEGIN
    UPDATE {ru} SET epoch = epoch + 1 WHERE user_id = OLD.user_id;
END;
CREATE TRIGGER IF NOT EXISTS "{ns}_recall_user_gone" AFTER DELETE ON {s}
WHEN NOT EXISTS (SELECT 1 FROM {s} WHERE user_id = OLD.user_id) BEGIN
    DELETE FROM {ru} WHERE user_id = OLD.user_id;
END;
"""

LIVE = "(s.expires_at IS NULL OR s.expires_at > :now)"


class RecallStatements:
    """The recall SQL of one namespace, built once."""

    def __init__(self, ns: str) -> None:
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        rs, rp, rd = f'"{ns}_recall_sessions"', f'"{ns}_recall_postings"', f'"{ns}_recall_docs"'
        rv, ru = f'"{ns}_recall_vectors"', f'"{ns}_recall_users"'
        self.schema = SCHEMA.format(ns=ns, s=s, m=m, rs=rs, rp=rp, rd=rd, rv=rv, ru=ru)
        scope = f"s.user_id = :user AND {LIVE} AND (:sid IS NULL OR s.session_id = :sid)"
        # the scope's live sessions with their counters and watermarks
        self.sessions = (
            f"SELECT s.id, s.session_id, s.message_count, COALESCE(r.indexed, 0), "
            f"COALESCE(r.embedded, 0), COALESCE(r.n_docs, 0), COALESCE(r.total_len, 0), "
            f"COALESCE(r.dirty, 0) FROM {s} s LEFT JOIN {rs} r ON r.session_pk = s.id WHERE {scope}"
        )
        self.postings = (
            f"SELECT p.term, p.session_pk, p.postings FROM {rp} p JOIN {s} s ON s.id = p.session_pk "
            f"WHERE p.user_id = :user AND p.term IN (SELECT value FROM json_each(:terms)) AND {scope}"
        )
        # CROSS JOIN keeps the keys the outer loop: one primary-key lookup per key
        self.fetch = (
            f"SELECT s.session_id, m.seq, m.data, d.minute FROM json_each(:keys) j "
            f"CROSS JOIN {s} s ON s.user_id = :user AND s.session_id = json_extract(j.value, '$[0]') "
            f"CROSS JOIN {m} m ON m.session_pk = s.id AND m.seq = json_extract(j.value, '$[1]') "
            f"LEFT JOIN {rd} d ON d.session_pk = m.session_pk AND d.seq = m.seq "
            f"WHERE {LIVE} AND (:sid IS NULL OR s.session_id = :sid)"
        )
        self.session_row = (
            f"SELECT s.id, s.message_count, COALESCE(r.indexed, 0), COALESCE(r.embedded, 0), "
            f"COALESCE(r.dirty, 0) FROM {s} s LEFT JOIN {rs} r ON r.session_pk = s.id "
            f"WHERE s.user_id = :user AND s.session_id = :sid AND {LIVE}"
        )
        self.ensure_session = f"INSERT OR IGNORE INTO {rs} (session_pk) VALUES (:pk)"
        self.add_postings = (
            f"INSERT INTO {rp} (user_id, term, session_pk, chunk, postings) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id, term, session_pk, chunk) DO UPDATE "
            "SET postings = CAST(postings || excluded.postings AS BLOB)"  # || alone makes TEXT
        )
        self.add_doc = (
            f"INSERT OR REPLACE INTO {rd} (session_pk, seq, minute, length) VALUES (?, ?, ?, ?)"
        )
        self.advance = (
            f"UPDATE {rs} SET indexed = :indexed, n_docs = n_docs + :n, "
            "total_len = total_len + :len WHERE session_pk = :pk"
        )
        self.session_postings = f"SELECT term, chunk, postings FROM {rp} WHERE session_pk = :pk"
        self.set_postings = (
            f"UPDATE {rp} SET postings = :blob "
            "WHERE session_pk = :pk AND term = :term AND chunk = :chunk"
        )
        self.drop_postings = (
            f"DELETE FROM {rp} WHERE session_pk = :pk AND term = :term AND chunk = :chunk"
        )
        self.clean = f"UPDATE {rs} SET dirty = 0 WHERE session_pk = :pk"
        self.minutes = (
            f"SELECT seq, minute FROM {rd} WHERE session_pk = :pk AND seq BETWEEN :lo AND :hi"
        )
        self.ensure_user = (
            f"INSERT OR IGNORE INTO {ru} (user_id, epoch) VALUES (:user, abs(random()) >> 1)"
        )
        self.epoch = f"SELECT epoch FROM {ru} WHERE user_id = :user"
        self.add_vector = (
            f"INSERT INTO {rv} (user_id, session_pk, seq, minute, vec) VALUES (?, ?, ?, ?, ?)"
        )
        self.set_embedded = f"UPDATE {rs} SET embedded = :embedded WHERE session_pk = :pk"
        self.vectors = (
            f"SELECT v.id, v.session_pk, v.seq, v.minute, v.vec FROM {rv} v "
            f"JOIN {s} s ON s.id = v.session_pk WHERE v.user_id = :user AND v.id > :after "
            f"AND {scope} ORDER BY v.id"
        )
        self.last_vector = f"SELECT COALESCE(MAX(id), 0) FROM {rv} WHERE user_id = :user"
