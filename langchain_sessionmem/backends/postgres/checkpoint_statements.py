"""All SQL of the PostgreSQL checkpointer, built once per namespace (no I/O).

Every statement has fixed text (lists travel as arrays and ``unnest``), so each is prepared once
per connection. A thread is a row of ``<ns>_cp_threads`` found by its thread key (owner and thread
id, see ``checkpoint.config.thread_key``); its checkpoints, values, writes and logs hang off the
row's ``id`` with ``ON DELETE CASCADE``, so deleting thread rows is the whole of every delete, the
erase and the TTL sweep. Writes are single statements whose CTEs upsert the thread and insert the
rest, atomic in autocommit; a thread that expired is left alone (the caller drops it in a
transaction and writes again).
"""

from __future__ import annotations

from .migrations import check_namespace

LIVE = "(t.expires_at IS NULL OR t.expires_at > %(now)s)"
PLACEHOLDER = ""  # the type of a row holding the writes of a checkpoint not put yet
REAL = f"type <> '{PLACEHOLDER}'"
# An owner's threads: a range of the thread_key index (keys start with the escaped owner and '|',
# see checkpoint.config.thread_key), so no index of its own; the owner column is checked too.
OWNED = "t.thread_key >= %(kp)s AND t.thread_key < %(kq)s AND t.owner = %(owner)s"


class CheckpointStatements:
    """The checkpointer SQL of one namespace."""

    def __init__(self, ns: str):
        check_namespace(ns)
        self.threads = T = f'"{ns}_cp_threads"'
        self.ckpts = C = f'"{ns}_cp_checkpoints"'
        self.blobs = B = f'"{ns}_cp_blobs"'
        self.writes = W = f'"{ns}_cp_writes"'
        self.logs = L = f'"{ns}_cp_logs"'
        # Upsert of the thread row: creates it with its owner, or slides updated_at / expires_at.
        # RETURNING (xmax = 0) tells a fresh insert from an update; an expired row is not touched.
        upsert = (
            f"INSERT INTO {T} AS t (thread_key, owner, thread_id, created_at, updated_at, expires_at) "
            "VALUES (%(tk)s, %(owner)s, %(tid)s, %(now)s, %(now)s, %(expires)s) "
            "ON CONFLICT (thread_key) DO UPDATE SET updated_at = EXCLUDED.updated_at, "
            f"expires_at = EXCLUDED.expires_at WHERE {LIVE} RETURNING t.id, (t.xmax = 0) AS fresh"
        )
        # A put in one statement. `bad` lists the logs whose stored length is not where this put
        # appends (another writer grew them, or the thread row is new): nothing is written then and
        # the caller rebases those channels into fresh logs. A concurrent append at the same
        # position fails on the primary key instead, and the retry sees it here.
        log_end = (
            f"COALESCE((SELECT l.seq + 1 FROM {L} l WHERE l.thread = thread.id AND l.ns = %(ns)s "
            "AND l.log_id = a.log_id ORDER BY l.seq DESC LIMIT 1), 0)"
        )
        self.put = (
            f"WITH thread AS ({upsert}), "
            "bad AS (SELECT a.log_id FROM thread, "
            "unnest(%(app_logs)s::text[], %(app_starts)s::int[]) AS a(log_id, start) "
            f"WHERE a.start <> CASE WHEN thread.fresh THEN 0 ELSE {log_end} END), "
            "ok AS (SELECT id FROM thread WHERE NOT EXISTS (SELECT 1 FROM bad)), "
            f"logs AS (INSERT INTO {L} (thread, ns, log_id, seq, type, blob) "
            "SELECT ok.id, %(ns)s, x.log_id, x.seq, x.type, x.blob FROM ok, "
            "unnest(%(log_ids)s::text[], %(log_seqs)s::int[], %(log_types)s::text[], "
            "%(log_blobs)s::bytea[]) AS x(log_id, seq, type, blob)), "
            f"blobs AS (INSERT INTO {B} (thread, ns, channel, version, type, blob) "
            "SELECT ok.id, %(ns)s, x.channel, x.version, x.type, x.blob FROM ok, "
            "unnest(%(channels)s::text[], %(versions)s::text[], %(types)s::text[], "
            "%(values)s::bytea[]) AS x(channel, version, type, blob) "
            "ON CONFLICT (thread, ns, channel, version) DO UPDATE "
            "SET type = EXCLUDED.type, blob = EXCLUDED.blob), "
            f"ckpt AS (INSERT INTO {C} (thread, checkpoint_id, ns, parent_id, type, ckpt, metadata, "
            "vals) SELECT ok.id, %(cid)s, %(ns)s, %(parent)s, %(ctype)s, %(ckpt)s, "
            "%(metadata)s, %(vals)s FROM ok ON CONFLICT (thread, checkpoint_id, ns) DO UPDATE "
            "SET parent_id = EXCLUDED.parent_id, type = EXCLUDED.type, ckpt = EXCLUDED.ckpt, "
            "metadata = EXCLUDED.metadata, vals = EXCLUDED.vals) "
            "SELECT (SELECT count(*) FROM thread), ARRAY(SELECT log_id FROM bad)"
        )
        # Pending writes: a frame appended to the checkpoint row's `writes` (task_writes.py). A
        # put_writes may come before its checkpoint's put (LangGraph runs them concurrently): it
        # then makes a placeholder row (type '', read by no query) that the put fills in.
        self.put_writes = (
            f"WITH thread AS ({upsert}), "
            f"row AS (INSERT INTO {C} AS c (thread, checkpoint_id, ns, type, ckpt, metadata, writes) "
            f"SELECT thread.id, %(cid)s, %(ns)s, '{PLACEHOLDER}', ''::bytea, '{{}}', %(frame)s "
            "FROM thread ON CONFLICT (thread, checkpoint_id, ns) DO UPDATE "
            "SET writes = COALESCE(c.writes, ''::bytea) || EXCLUDED.writes RETURNING 1) "
            "SELECT count(*) FROM thread"
        )
        # Deletes: thread rows go, their rows follow (ON DELETE CASCADE).
        self.drop_expired_one = (
            f"DELETE FROM {T} WHERE thread_key = %(tk)s AND expires_at <= %(now)s"
        )
        self.delete_thread = f"DELETE FROM {T} WHERE thread_key = %(tk)s"
        self.delete_owner = (
            f"DELETE FROM {T} t WHERE {OWNED} RETURNING t.thread_key, {LIVE} AS live"
        )
        # The TTL sweep; `sweep_sql` is the same statement for an operator's scheduler (pg_cron).
        self.purge_expired = (
            f"WITH gone AS (DELETE FROM {T} WHERE expires_at <= %(now)s RETURNING 1) "
            "SELECT count(*) FROM gone"
        )
        self.sweep_sql = f"DELETE FROM {T} WHERE expires_at <= now()"
        self.refresh = (
            f"UPDATE {T} t SET expires_at = %(expires)s WHERE t.id = ANY(%(pks)s) AND {LIVE}"
        )
        # Reads: channel values of many (thread, ns, channel, version) keys and log ranges, in one
        # statement each; `ord` maps a row back to the key that asked for it.
        self.blob_values = (
            "SELECT k.ord, b.type, b.blob FROM unnest(%(pks)s::bigint[], %(nss)s::text[], "
            "%(channels)s::text[], %(versions)s::text[]) WITH ORDINALITY AS k(pk, ns, ch, ver, ord) "
            f"JOIN {B} b ON b.thread = k.pk AND b.ns = k.ns AND b.channel = k.ch "
            "AND b.version = k.ver"
        )
        self.log_items = (
            "SELECT k.ord, l.type, l.blob FROM unnest(%(pks)s::bigint[], %(nss)s::text[], "
            "%(log_ids)s::text[], %(starts)s::int[], %(ends)s::int[]) WITH ORDINALITY "
            f"AS k(pk, ns, log_id, s, e, ord) JOIN {L} l ON l.thread = k.pk AND l.ns = k.ns "
            "AND l.log_id = k.log_id AND l.seq >= k.s AND l.seq < k.e ORDER BY k.ord, l.seq"
        )
        # The DeltaChannel walk: a page of the parent chain in one recursive statement, then which
        # (channel, version) pairs hold a value, then the writes of the visited checkpoints.
        self.chain = (
            "WITH RECURSIVE chain(cid, parent, typ, ckpt, vals, writes, depth) AS ("
            f"SELECT checkpoint_id, parent_id, type, ckpt, vals, writes, 0 FROM {C} "
            f"WHERE thread = %(pk)s AND ns = %(ns)s AND checkpoint_id = %(cid)s AND {REAL} "
            "UNION ALL SELECT c.checkpoint_id, c.parent_id, c.type, c.ckpt, c.vals, c.writes, "
            "chain.depth + 1 "
            f"FROM chain JOIN {C} c ON c.thread = %(pk)s AND c.ns = %(ns)s "
            f"AND c.checkpoint_id = chain.parent AND c.{REAL} WHERE chain.depth + 1 < %(page)s) "
            "SELECT cid, parent, typ, ckpt, vals, writes FROM chain ORDER BY depth"
        )
        pairs = (
            "FROM unnest(%(channels)s::text[], %(versions)s::text[]) AS k(ch, ver) "
            f"JOIN {B} b ON b.thread = %(pk)s AND b.ns = %(ns)s AND b.channel = k.ch "
            "AND b.version = k.ver WHERE b.type <> 'empty'"
        )
        self.stored_pairs = f"SELECT b.channel, b.version {pairs}"
        self.pair_values = f"SELECT b.channel, b.version, b.type, b.blob {pairs}"
        self.chain_writes = (
            f"SELECT checkpoint_id, task_id, idx, task_path, channel, type, blob FROM {W} "
            "WHERE thread = %(pk)s AND ns = %(ns)s AND checkpoint_id = ANY(%(cids)s) "
            "AND channel = ANY(%(channels)s)"
        )
        self.log_prefix = (
            f"SELECT type, blob FROM {L} WHERE thread = %(pk)s AND ns = %(ns)s "
            "AND log_id = %(log_id)s AND seq < %(n)s ORDER BY seq"
        )
        # Maintenance. run_id lives in the metadata (one copy); this scans the owner's threads.
        self.delete_runs = (
            f"WITH doomed AS (DELETE FROM {C} c USING {T} t WHERE t.id = c.thread "
            f"AND {OWNED} AND c.metadata::jsonb->>'run_id' = ANY(%(runs)s) "
            "RETURNING c.thread, c.checkpoint_id, c.ns), "
            f"w AS (DELETE FROM {W} w USING doomed d WHERE w.thread = d.thread "
            "AND w.checkpoint_id = d.checkpoint_id AND w.ns = d.ns) SELECT count(*) FROM doomed"
        )
        self.live_thread = (
            f"SELECT t.id, t.created_at, t.updated_at, t.expires_at FROM {T} t "
            f"WHERE t.thread_key = %(tk)s AND {LIVE}"
        )
        self.copy_thread = (
            f"WITH thread AS (INSERT INTO {T} (thread_key, owner, thread_id, created_at, updated_at, "
            "expires_at) VALUES (%(tk)s, %(owner)s, %(tid)s, %(now)s, %(now)s, %(expires)s) "
            "RETURNING id), "
            + ", ".join(
                f"{name} AS (INSERT INTO {table} (thread, {cols}) SELECT thread.id, {cols} "
                f"FROM thread, {table} WHERE {table}.thread = %(src)s)"
                for name, table, cols in (
                    ("c", C, "checkpoint_id, ns, parent_id, type, ckpt, metadata, vals, writes"),
                    ("b", B, "ns, channel, version, type, blob"),
                    ("w", W, "checkpoint_id, ns, task_id, idx, task_path, channel, type, blob"),
                    ("l", L, "ns, log_id, seq, type, blob"),
                )
            )
            + " SELECT 1"
        )
        # copy_thread under encryption: the thread row, then each table's rows read, re-sealed
        # in Python and inserted as arrays. (table, (select, insert, index of the type column))
        self.copy_thread_row = (
            f"INSERT INTO {T} (thread_key, owner, thread_id, created_at, updated_at, expires_at) "
            "VALUES (%(tk)s, %(owner)s, %(tid)s, %(now)s, %(now)s, %(expires)s) RETURNING id"
        )
        layouts = {
            "checkpoints": (
                C,
                ("checkpoint_id", "ns", "parent_id", "type", "ckpt", "metadata", "vals", "writes"),
                ("bytea", "text", "bytea", "text", "bytea", "text", "bytea", "bytea"),
            ),
            "blobs": (
                B,
                ("ns", "channel", "version", "type", "blob"),
                ("text", "text", "text", "text", "bytea"),
            ),
            "writes": (
                W,
                ("checkpoint_id", "ns", "task_id", "idx", "task_path", "channel", "type", "blob"),
                ("bytea", "text", "text", "int", "text", "text", "text", "bytea"),
            ),
            "logs": (
                L,
                ("ns", "log_id", "seq", "type", "blob"),
                ("text", "text", "int", "text", "bytea"),
            ),
        }
        self.thread_copies: dict[str, tuple[str, str, int]] = {}
        for name, (table, cols, types) in layouts.items():
            shown = ", ".join(
                f"{c}::text" if t == "jsonb" else c for c, t in zip(cols, types, strict=True)
            )
            arrays = ", ".join(
                f"%(c{i})s::{'text' if t == 'jsonb' else t}[]" for i, t in enumerate(types)
            )
            values = ", ".join(
                f"x.c{i}::jsonb" if t == "jsonb" else f"x.c{i}" for i, t in enumerate(types)
            )
            names = ", ".join(f"c{i}" for i in range(len(cols)))
            self.thread_copies[name] = (
                f"SELECT {shown} FROM {table} WHERE thread = %(pk)s",
                f"INSERT INTO {table} (thread, {', '.join(cols)}) SELECT %(pk)s, {values} "
                f"FROM unnest({arrays}) AS x({names})",
                cols.index("type"),
            )
        self.latest_per_ns = (
            f"SELECT DISTINCT ON (ns) ns, checkpoint_id, metadata::text FROM {C} "
            f"WHERE thread = %(pk)s AND {REAL} ORDER BY ns, checkpoint_id DESC"
        )
        keep = "SELECT * FROM unnest(%(keep_ns)s::text[], %(keep_ids)s::bytea[])"
        self.prune_checkpoints = (
            f"WITH c AS (DELETE FROM {C} WHERE thread = %(pk)s "
            f"AND (ns, checkpoint_id) NOT IN ({keep})), "
            f"w AS (DELETE FROM {W} WHERE thread = %(pk)s "
            f"AND (ns, checkpoint_id) NOT IN ({keep})) "
            f"SELECT ns, checkpoint_id, type, ckpt, vals FROM {C} WHERE thread = %(pk)s "
            f"AND (ns, checkpoint_id) IN ({keep})"
        )
        kept = "SELECT * FROM unnest(%(nss)s::text[], %(channels)s::text[], %(versions)s::text[])"
        self.prune_blobs = (
            f"WITH b AS (DELETE FROM {B} WHERE thread = %(pk)s AND (ns, channel, version) "
            f"NOT IN ({kept})) SELECT ns, blob FROM {B} WHERE thread = %(pk)s "
            f"AND type = %(logref)s AND (ns, channel, version) IN ({kept})"
        )
        self.prune_logs = (
            f"DELETE FROM {L} WHERE thread = %(pk)s AND (ns, log_id) NOT IN "
            "(SELECT * FROM unnest(%(nss)s::text[], %(log_ids)s::text[]))"
        )
        self.list_threads = (
            f"SELECT t.thread_id, t.created_at, t.updated_at, t.expires_at, "
            f"(SELECT count(*) FROM {C} c WHERE c.thread = t.id AND c.{REAL}) FROM {T} t "
            f"WHERE {OWNED} AND {LIVE} ORDER BY t.updated_at DESC, t.thread_id"
        )
        sizes = [
            f"(SELECT COALESCE(sum(octet_length(blob)), 0) FROM {t} WHERE thread = %(pk)s)"
            for t in (B, W, L)
        ]
        self.thread_bytes = (
            f"SELECT (SELECT count(*) FROM {C} WHERE thread = %(pk)s AND {REAL}), "
            "(SELECT COALESCE(sum(octet_length(ckpt) + octet_length(metadata::text) "
            "+ COALESCE(octet_length(vals), 0) + COALESCE(octet_length(writes), 0)), 0) "
            f"FROM {C} WHERE thread = %(pk)s) + {' + '.join(sizes)}"
        )
        self._listings: dict[tuple[bool, ...], str] = {}

    def listing(
        self, *, thread: bool, ns: bool, exact: bool, before: bool, filtered: bool, limited: bool
    ) -> str:
        """The one query behind get_tuple and list: every condition in SQL, fixed text per shape.

        The newest rows come from the (thread, checkpoint_id, ns) index; their pending writes are
        aggregated beside them, only for the rows of the page.
        """
        shape = (thread, ns, exact, before, filtered, limited)
        if shape not in self._listings:
            self._listings[shape] = self._listing(*shape)
        return self._listings[shape]

    def _listing(
        self, thread: bool, ns: bool, exact: bool, before: bool, filtered: bool, limited: bool
    ) -> str:
        if thread:  # the thread's id first: then the newest rows come straight off the index
            where = [
                f"c.thread = (SELECT t.id FROM {self.threads} t WHERE t.thread_key = %(tk)s AND {LIVE})"
            ]
            source, key = f"{self.ckpts} c", "%(tk)s::text"
        else:
            where = [LIVE, OWNED]
            source = f"{self.ckpts} c JOIN {self.threads} t ON t.id = c.thread"
            key = "t.thread_key"
        where.append(f"c.{REAL}")
        if ns:
            where.append("c.ns = %(ns)s")
        if exact:
            where.append("c.checkpoint_id = %(cid)s")
        if before:
            where.append("c.checkpoint_id < %(before)s")
        if filtered:
            where.append("c.metadata::jsonb @> %(filter)s::jsonb")
        page = (
            f"SELECT c.thread, {key} AS thread_key, c.ns, c.checkpoint_id, c.parent_id, c.type, "
            f"c.ckpt, c.metadata, c.vals, c.writes FROM {source} WHERE {' AND '.join(where)} "
            "ORDER BY c.checkpoint_id DESC" + (" LIMIT %(limit)s" if limited else "")
        )
        return (
            f"WITH page AS ({page}) SELECT p.thread, p.thread_key, p.ns, p.checkpoint_id, "
            "p.parent_id, p.type, p.ckpt, p.metadata::text, w.task_ids, w.idxs, w.paths, "
            "w.channels, w.types, w.blobs, p.vals, p.writes FROM page p LEFT JOIN LATERAL (SELECT "
            "array_agg(task_id) AS task_ids, array_agg(idx) AS idxs, array_agg(task_path) AS paths, "
            "array_agg(channel) AS channels, array_agg(type) AS types, array_agg(blob) AS blobs "
            f"FROM {self.writes} w WHERE w.thread = p.thread "
            "AND w.checkpoint_id = p.checkpoint_id AND w.ns = p.ns) w ON true "
            "ORDER BY p.checkpoint_id DESC"
        )
