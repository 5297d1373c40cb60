"""Versioned schema migrations, applied once per database under an advisory lock (no I/O here).

Why versions: the tables of a namespace outlive the code that made them, so every change is a new
numbered step appended to a list (never an edit of a released one). ``MigrationPlans.plan`` is a
plan run in one transaction: it reads the namespace's version table and returns at once when every
step is applied; otherwise it takes a transaction-scoped advisory lock (so several app instances
starting together apply each step exactly once, the others waiting and then finding it done),
applies the missing steps in order and records each in ``"<ns>_migrations"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ConfigurationError
from .cpids import SQL_ENCODE
from .queries import Plan, Query

MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently, so two tables could collide
LONGEST_SUFFIX = "_sessions_expiry"  # no table or index name of a namespace is longer


GONE = "sessionmem_history_gone_v1"
"""The trigger function deleting the messages of deleted sessions: one per database schema,
shared by its namespaces (each trigger names its own messages table), never edited later."""
SHARED_LOCK = int.from_bytes(
    hashlib.blake2b(b"sessionmem shared functions", digest_size=8).digest(), "big", signed=True
)
"""The advisory lock of creating :data:`GONE` (namespaces migrate under locks of their own)."""


@dataclass(frozen=True)
class Migration:
    """One released schema step: statements with ``{ns}`` for the namespace, never edited later."""

    version: int
    description: str
    statements: tuple[str, ...]


HISTORY: list[Migration] = [
    Migration(
        1,
        "chat sessions, messages and per-user state",
        (
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
            """CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_messages_id"
    ON "{ns}_messages" (session_pk, message_id)""",
            """CREATE TABLE IF NOT EXISTS "{ns}_user_state" (
    user_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    data BYTEA NOT NULL
)""",
        ),
    ),
    Migration(
        2,
        "wrapped per-user data keys (encryption with per_user_keys)",
        (
            """CREATE TABLE IF NOT EXISTS "{ns}_user_keys" (
    user_id TEXT PRIMARY KEY,
    wrapped BYTEA NOT NULL
)""",
        ),
    ),
    # Why: the foreign key made every appended message check its session (a query per row, about
    # a tenth of a turn's write). A statement trigger deletes a session's messages with it instead:
    # its DELETE runs after the session rows are gone, on a fresh snapshot, so messages an append
    # committed while the delete waited for the session's row lock go too, as with the cascade.
    Migration(
        3,
        "messages go with their session by a statement trigger instead of a foreign key",
        (
            f"SELECT pg_advisory_xact_lock({SHARED_LOCK})",  # one function for every namespace
            f"""CREATE OR REPLACE FUNCTION {GONE}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I m USING gone WHERE m.session_pk = gone.id', TG_ARGV[0]);
    RETURN NULL;
END $$""",
            """CREATE TRIGGER "{ns}_sessions_gone" AFTER DELETE ON "{ns}_sessions"
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION """
            + GONE
            + """('{ns}_messages')""",
            """DO $$
DECLARE fk name;
BEGIN
    FOR fk IN SELECT conname FROM pg_constraint
              WHERE conrelid = '"{ns}_messages"'::regclass AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', '{ns}_messages', fk);
    END LOOP;
END $$""",
        ),
    ),
]
"""The chat-history tables. Step 1 uses ``IF NOT EXISTS``: databases made before versioning adopt it."""

_KEY = 'TEXT COLLATE "C" NOT NULL'  # byte order: checkpoint ids sort as in Python, fast compares


def _sql_ids(column: str) -> str:
    """``cpids.SQL_ENCODE`` of ``column``, braces escaped for ``str.format(ns=...)``."""
    return SQL_ENCODE.format(col=column).replace("{", "{{").replace("}", "}}")


_THREAD = 'thread BIGINT NOT NULL REFERENCES "{ns}_cp_threads" (id) ON DELETE CASCADE'

CHECKPOINT: list[Migration] = [
    Migration(
        1,
        "checkpointer threads, checkpoints, channel values, pending writes and message logs",
        (
            # A thread's rows hang off its row here: deleting it (erase, delete_thread, the TTL
            # sweep) removes them all, and a write racing the delete lands in a new thread row.
            f"""CREATE TABLE IF NOT EXISTS "{{ns}}_cp_threads" (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_key {_KEY} UNIQUE,
    owner TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ
)""",
            """CREATE INDEX IF NOT EXISTS "{ns}_cp_owner" ON "{ns}_cp_threads" (owner)""",
            """CREATE INDEX IF NOT EXISTS "{ns}_cp_expiry" ON "{ns}_cp_threads" (expires_at)
    WHERE expires_at IS NOT NULL""",
            # (thread, id, ns): one index serves "newest of a namespace" and "newest of a thread"
            f"""CREATE TABLE IF NOT EXISTS "{{ns}}_cp_checkpoints" (
    {_THREAD},
    checkpoint_id {_KEY},
    ns {_KEY},
    parent_id TEXT COLLATE "C",
    type TEXT NOT NULL,
    ckpt BYTEA NOT NULL,
    metadata JSONB NOT NULL,
    PRIMARY KEY (thread, checkpoint_id, ns)
)""",
            f"""CREATE TABLE IF NOT EXISTS "{{ns}}_cp_blobs" (
    {_THREAD},
    ns {_KEY},
    channel {_KEY},
    version {_KEY},
    type TEXT NOT NULL,
    blob BYTEA NOT NULL,
    PRIMARY KEY (thread, ns, channel, version)
)""",
            f"""CREATE TABLE IF NOT EXISTS "{{ns}}_cp_writes" (
    {_THREAD},
    checkpoint_id {_KEY},
    ns {_KEY},
    task_id {_KEY},
    idx INTEGER NOT NULL,
    task_path TEXT NOT NULL,
    channel TEXT NOT NULL,
    type TEXT NOT NULL,
    blob BYTEA NOT NULL,
    PRIMARY KEY (thread, checkpoint_id, ns, task_id, idx)
)""",
            f"""CREATE TABLE IF NOT EXISTS "{{ns}}_cp_logs" (
    {_THREAD},
    ns {_KEY},
    log_id {_KEY},
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    blob BYTEA NOT NULL,
    PRIMARY KEY (thread, ns, log_id, seq)
)""",
        ),
    ),
    # Why: a row per (channel, version) cost more than the small values it held (a log reference,
    # a branch marker, the input). Rows of step 1 keep vals NULL: their values stay in the blobs
    # table and read as before; new rows hold their small values inline (see inline.py).
    Migration(
        2,
        "small channel values inline in the checkpoint row",
        ("""ALTER TABLE "{ns}_cp_checkpoints" ADD COLUMN IF NOT EXISTS vals BYTEA""",),
    ),
    # Why: a writes row per (task, idx) repeated the checkpoint and task ids in the heap and the
    # index. A put_writes call is now a frame appended to its checkpoint's row (task_writes.py);
    # writes of step-1 databases stay in the writes table and are read with the frames.
    Migration(
        3,
        "pending writes framed in their checkpoint row",
        ("""ALTER TABLE "{ns}_cp_checkpoints" ADD COLUMN IF NOT EXISTS writes BYTEA""",),
    ),
    # Why: JSONB took half as much again as the compact JSON text (66 bytes for a chat step's
    # metadata, 43 as text), and filters cast it per row of the thread they scan anyway; an
    # owner's threads are a range of the thread_key index, so the owner index is not needed.
    Migration(
        4,
        "checkpoint metadata as JSON text, no owner index",
        (
            """ALTER TABLE "{ns}_cp_checkpoints" ALTER COLUMN metadata TYPE TEXT
    USING metadata::text""",
            'DROP INDEX IF EXISTS "{ns}_cp_owner"',
        ),
    ),
    # Why: checkpoint ids are UUID strings of 36 characters, twice in a checkpoint row and once
    # in its index entry; as bytea they take 16 bytes (cpids.py: UUID order is byte order).
    Migration(
        5,
        "checkpoint ids as bytes",
        (
            """ALTER TABLE "{{ns}}_cp_checkpoints"
    ALTER COLUMN checkpoint_id TYPE BYTEA USING {cid},
    ALTER COLUMN parent_id TYPE BYTEA USING {parent}""".format(
                cid=_sql_ids("checkpoint_id"), parent=_sql_ids("parent_id")
            ),
            """ALTER TABLE "{{ns}}_cp_writes"
    ALTER COLUMN checkpoint_id TYPE BYTEA USING {cid}""".format(cid=_sql_ids("checkpoint_id")),
        ),
    ),
]
"""The checkpointer tables (``store.checkpointer()`` / ``PostgresCheckpointSaver.setup()``).
Values are packed by :mod:`.packing`; metadata is JSON text (filtered as JSONB, never packed)."""


def check_namespace(ns: str) -> None:
    """Every table and index name of ``ns`` must fit PostgreSQL's 63-byte identifiers."""
    if len(f"{ns}{LONGEST_SUFFIX}".encode()) > MAX_IDENTIFIER:
        longest = MAX_IDENTIFIER - len(LONGEST_SUFFIX)
        raise ConfigurationError(
            f"namespace {ns!r} is too long for PostgreSQL table names: use at most {longest} characters"
        )


def lock_id(ns: str) -> int:
    """The advisory lock of a namespace's schema (a signed 64-bit number derived from it)."""
    digest = hashlib.blake2b(f"sessionmem schema {ns}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class MigrationPlans:
    """The migrations of one component (``"history"``, ``"checkpoint"``) in one namespace."""

    def __init__(self, ns: str, component: str, migrations: Sequence[Migration]):
        check_namespace(ns)
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise ConfigurationError(f"{component} migrations must have rising versions")
        self.ns = ns
        self.component = component
        self.migrations = list(migrations)
        self.table = f'"{ns}_migrations"'
        self._create = (
            f"CREATE TABLE IF NOT EXISTS {self.table} (component TEXT NOT NULL, "
            "version INTEGER NOT NULL, description TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        self._applied = f"SELECT version FROM {self.table} WHERE component = %(component)s"
        self._record = (
            f"INSERT INTO {self.table} (component, version, description) "
            "VALUES (%(component)s, %(version)s, %(description)s)"
        )

    def _versions(self) -> Plan[set[int] | None]:
        """Applied versions, or ``None`` when the namespace has no version table yet."""
        rows = yield Query("SELECT to_regclass(%(t)s) IS NOT NULL", {"t": self.table}, "all")
        if not rows[0][0]:
            return None
        rows = yield Query(self._applied, {"component": self.component}, "all")
        return {int(v) for (v,) in rows}

    def plan(self) -> Plan[list[int]]:
        """Apply the missing steps (inside the caller's transaction); returns the versions applied."""
        wanted = {m.version for m in self.migrations}
        applied = yield from self._versions()
        if applied is not None and wanted <= applied:
            return []  # the common start: one cheap read, no lock
        yield Query(f"SELECT pg_advisory_xact_lock({lock_id(self.ns)})")
        yield Query(self._create)
        applied = yield from self._versions()
        done = []
        for migration in self.migrations:
            if migration.version in (applied or set()):
                continue
            for statement in migration.statements:
                yield Query(statement.format(ns=self.ns))
            yield Query(
                self._record,
                {
                    "component": self.component,
                    "version": migration.version,
                    "description": migration.description,
                },
            )
            done.append(migration.version)
        return done
