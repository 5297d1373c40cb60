"""The SQL of the PostgreSQL recall index: its tables (a migration component of their own) and
statements, the layout of the SQLite one with ``bytea``.

Postings are packed records per (user, term, session), appended with ``postings || excluded``;
times and vectors reference their message, so a session's deletion (its messages go by the
history's trigger), a pop or an erase takes them along (``ON DELETE CASCADE``); statement
triggers keep each session's counters and watermarks and the user's vector epoch.
"""

from __future__ import annotations

from .migrations import Migration

RECALL: list[Migration] = [
    Migration(
        1,
        "recall index: packed postings, message times and vectors",
        (
            """CREATE TABLE IF NOT EXISTS "{ns}_recall_sessions" (
    session_pk BIGINT PRIMARY KEY REFERENCES "{ns}_sessions" (id) ON DELETE CASCADE,
    indexed BIGINT NOT NULL DEFAULT 0,
    embedded BIGINT NOT NULL DEFAULT 0,
    n_docs BIGINT NOT NULL DEFAULT 0,
    total_len BIGINT NOT NULL DEFAULT 0,
    dirty BOOLEAN NOT NULL DEFAULT false
)""",
            """CREATE TABLE IF NOT EXISTS "{ns}_recall_postings" (
    user_id TEXT NOT NULL,
    term TEXT NOT NULL,
    session_pk BIGINT NOT NULL REFERENCES "{ns}_sessions" (id) ON DELETE CASCADE,
    chunk INTEGER NOT NULL,
    postings BYTEA NOT NULL,
    PRIMARY KEY (user_id, term, session_pk, chunk)
)""",
            """CREATE INDEX IF NOT EXISTS "{ns}_recall_postings_session"
    ON "{ns}_recall_postings" (session_pk)""",
            """CREATE TABLE IF NOT EXISTS "{ns}_recall_docs" (
    session_pk BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (session_pk, seq),
    FOREIGN KEY (session_pk, seq) REFERENCES "{ns}_messages" (session_pk, seq) ON DELETE CASCADE
)""",
            """CREATE TABLE IF NOT EXISTS "{ns}_recall_vectors" (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_pk BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    vec BYTEA NOT NULL,
    FOREIGN KEY (session_pk, seq) REFERENCES "{ns}_messages" (session_pk, seq) ON DELETE CASCADE
)""",
            """CREATE INDEX IF NOT EXISTS "{ns}_recall_vectors_user"
    ON "{ns}_recall_vectors" (user_id, id)""",
            """CREATE INDEX IF NOT EXISTS "{ns}_recall_vectors_message"
    ON "{ns}_recall_vectors" (session_pk, seq)""",
            """CREATE TABLE IF NOT EXISTS "{ns}_recall_users" (
    user_id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL
)""",
            """CREATE OR REPLACE FUNCTION "{ns}_recall_docs_gone"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "{ns}_recall_sessions" r SET n_docs = r.n_docs - g.n, total_len = r.total_len - g.len,
        indexed = LEAST(r.indexed, g.lo - 1), embedded = LEAST(r.embedded, g.lo - 1), dirty = true
    FROM (SELECT session_pk, count(*) AS n, sum(length) AS len, min(seq) AS lo FROM gone
          GROUP BY session_pk) g
    WHERE r.session_pk = g.session_pk;
    RETURN NULL;
END $$""",
            """CREATE OR REPLACE TRIGGER "{ns}_recall_docs_gone" AFTER DELETE ON "{ns}_recall_docs"
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_recall_docs_gone"()""",
            """CREATE OR REPLACE FUNCTION "{ns}_recall_vectors_gone"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "{ns}_recall_users" SET epoch = epoch + 1
    WHERE user_id IN (SELECT DISTINCT user_id FROM gone);
    RETURN NULL;
END $$""",
            """CREATE OR REPLACE TRIGGER "{ns}_recall_vectors_gone" AFTER DELETE ON "{ns}_recall_vectors"
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_recall_vectors_gone"()""",
            """CREATE OR REPLACE FUNCTION "{ns}_recall_users_gone"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "{ns}_recall_users" u WHERE u.user_id IN (SELECT user_id FROM gone)
    AND NOT EXISTS (SELECT 1 FROM "{ns}_sessions" s WHERE s.user_id = u.user_id);
    RETURN NULL;
END $$""",
            """CREATE OR REPLACE TRIGGER "{ns}_recall_users_gone" AFTER DELETE ON "{ns}_sessions"
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_recall_users_gone"()""",
        ),
    ),
]
"""The recall tables, a migration component of their own (made on a recall store's first use)."""

LIVE = "(s.expires_at IS NULL OR s.expires_at > %(now)s)"


class RecallStatements:
    """The recall SQL of one namespace, built once."""

    def __init__(self, ns: str) -> None:
        s, m = f'"{ns}_sessions"', f'"{ns}_messages"'
        rs, rp, rd = f'"{ns}_recall_sessions"', f'"{ns}_recall_postings"', f'"{ns}_recall_docs"'
        rv, ru = f'"{ns}_recall_vectors"', f'"{ns}_recall_users"'
        scope = (
            f"s.user_id = %(user)s AND {LIVE} AND (%(sid)s::text IS NULL OR s.session_id = %(sid)s)"
        )
        self.sessions = (
            "SELECT s.id, s.session_id, s.message_count, COALESCE(r.indexed, 0), "
            "COALESCE(r.embedded, 0), COALESCE(r.n_docs, 0), COALESCE(r.total_len, 0), "
            f"COALESCE(r.dirty, false) FROM {s} s LEFT JOIN {rs} r ON r.session_pk = s.id WHERE {scope}"
        )
        # one table, its primary key: a plan no generic (prepared) plan can get wrong; records
        # of sessions that are not live in the scope are skipped by the caller
        self.postings = (
            f"SELECT term, session_pk, postings FROM {rp} "
            "WHERE user_id = %(user)s AND term = ANY(%(terms)s::text[])"
        )
        self.fetch = (
            f"SELECT s.session_id, m.seq, m.data, d.minute FROM unnest(%(sids)s::text[], "
            f"%(seqs)s::bigint[]) AS k(sid, seq) JOIN {s} s ON s.user_id = %(user)s "
            f"AND s.session_id = k.sid JOIN {m} m ON m.session_pk = s.id AND m.seq = k.seq "
            f"LEFT JOIN {rd} d ON d.session_pk = m.session_pk AND d.seq = m.seq WHERE {scope}"
        )
        self.session_row = (
            "SELECT s.id, s.message_count, COALESCE(r.indexed, 0), COALESCE(r.embedded, 0), "
            f"COALESCE(r.dirty, false) FROM {s} s LEFT JOIN {rs} r ON r.session_pk = s.id "
            f"WHERE s.user_id = %(user)s AND s.session_id = %(sid)s AND {LIVE}"
        )
        self.lock_session = (
            f"SELECT indexed, embedded, dirty FROM {rs} WHERE session_pk = %(pk)s FOR UPDATE"
        )
        self.ensure_session = (
            f"INSERT INTO {rs} (session_pk) VALUES (%(pk)s) ON CONFLICT DO NOTHING"
        )
        self.add_postings = (
            f"INSERT INTO {rp} (user_id, term, session_pk, chunk, postings) "
            "SELECT %(user)s, t, %(pk)s, c, b "
            "FROM unnest(%(terms)s::text[], %(chunks)s::int[], %(blobs)s::bytea[]) AS x(t, c, b) "
            "ON CONFLICT (user_id, term, session_pk, chunk) DO UPDATE "
            f"SET postings = {rp}.postings || excluded.postings"
        )
        self.add_docs = (
            f"INSERT INTO {rd} (session_pk, seq, minute, length) SELECT %(pk)s, q, mi, l "
            "FROM unnest(%(seqs)s::bigint[], %(minutes)s::bigint[], %(lengths)s::int[]) AS x(q, mi, l) "
            "ON CONFLICT (session_pk, seq) DO UPDATE SET minute = excluded.minute, length = excluded.length"
        )
        self.advance = (
            f"UPDATE {rs} SET indexed = %(indexed)s, n_docs = n_docs + %(n)s, "
            "total_len = total_len + %(len)s WHERE session_pk = %(pk)s"
        )
        self.session_postings = f"SELECT term, chunk, postings FROM {rp} WHERE session_pk = %(pk)s"
        self.set_postings = (
            f"UPDATE {rp} SET postings = %(blob)s "
            "WHERE session_pk = %(pk)s AND term = %(term)s AND chunk = %(chunk)s"
        )
        self.drop_postings = (
            f"DELETE FROM {rp} WHERE session_pk = %(pk)s AND term = %(term)s AND chunk = %(chunk)s"
        )
        self.clean = f"UPDATE {rs} SET dirty = false WHERE session_pk = %(pk)s"
        self.minutes = f"SELECT seq, minute FROM {rd} WHERE session_pk = %(pk)s AND seq BETWEEN %(lo)s AND %(hi)s"
        self.ensure_user = (
            f"INSERT INTO {ru} (user_id, epoch) VALUES (%(user)s, (random() * 4e18)::bigint) "
            "ON CONFLICT DO NOTHING"
        )
        self.add_vectors = (
            f"INSERT INTO {rv} (user_id, session_pk, seq, minute, vec) SELECT %(user)s, %(pk)s, q, mi, v "
            "FROM unnest(%(seqs)s::bigint[], %(minutes)s::bigint[], %(vecs)s::bytea[]) AS x(q, mi, v)"
        )
        self.set_embedded = f"UPDATE {rs} SET embedded = %(embedded)s WHERE session_pk = %(pk)s"
        self.vector_head = (
            f"SELECT (SELECT epoch FROM {ru} WHERE user_id = %(user)s), "
            f"(SELECT COALESCE(max(id), 0) FROM {rv} WHERE user_id = %(user)s)"
        )
        self.vectors = (
            f"SELECT v.id, v.session_pk, v.seq, v.minute, v.vec FROM {rv} v "
            f"JOIN {s} s ON s.id = v.session_pk WHERE v.user_id = %(user)s AND v.id > %(after)s "
            f"AND v.id <= %(last)s AND {scope} ORDER BY v.id"
        )
