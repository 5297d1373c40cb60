"""SQLite checkpointer: stdlib sqlite3 in WAL mode, one IMMEDIATE transaction per write.

Async methods run the sync ones in a worker thread (``asyncio.to_thread``), so the event loop
never blocks and there is no second driver to drift out of sync. Metadata is a JSON column,
so ``list(filter=...)`` filters, ``before`` and ``limit`` run inside SQLite.
"""

from __future__ import annotations

import builtins  # `list` is a method name inside the savers: annotations after it say builtins.list
import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ...checkpoint.assemble import BlobKey, LogKey, Row, TupleAssembler
from ...checkpoint.config import matches, now, split_filter, target, validate_ns
from ...checkpoint.delta import (
    DeltaWalk,
    Link,
    decode_value,
    delta_channels,
    empty_history,
    link_of,
)
from ...checkpoint.linear import LOGREF, decode_ref
from ...checkpoint.saver import OffloadedSaver, SessionSaverBase
from ...checkpoint.serde import Typed
from ...checkpoint.writes import WriteRow, plan_writes
from ...errors import ConfigurationError
from .connections import SqliteConnections
from .statements import CheckpointStatements

__all__ = ["SqliteCheckpointSaver"]

_CHUNK = 300  # rows per IN (...) list: far below SQLite's bound-parameter limit
_CHAIN_PAGE = 256  # ancestors per statement in the DeltaChannel walk


class SqliteCheckpointSaver(OffloadedSaver, SessionSaverBase):
    """LangGraph checkpointer on a SQLite file.

    Built by ``store.checkpointer()`` it shares the store's connections (and so its ``:memory:``
    database); built with ``path=`` it opens and closes its own.
    """

    _sweeps = True

    def __init__(
        self,
        *,
        connections: SqliteConnections | None = None,
        path: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if connections is None:
            if path is None:
                raise ConfigurationError(
                    "SqliteCheckpointSaver needs path= (or the connections of a store)"
                )
            connections = SqliteConnections(path)
            self._owns_connections = True
        else:
            self._owns_connections = False  # the store's: it closes them
        self.connections = connections
        self.path = connections.path
        self.sql = CheckpointStatements(self.namespace)
        with connections.connection() as conn:
            conn.executescript(self.sql.schema)

    def close(self) -> None:
        self._stop_sweeper()
        if self._owns_connections:
            self.connections.close()

    # -- fetch helpers (run inside one connection) -------------------------------------------------
    def _assemble(
        self, conn: sqlite3.Connection, rows: list[Row], cache: bool
    ) -> list[CheckpointTuple]:
        s = self.sql
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in rows:
            groups.setdefault((row.thread_id, row.ns), []).append(row)
        by_id = {(r.thread_id, r.ns, r.checkpoint_id): r for r in rows}
        for (tid, ns), members in groups.items():
            for chunk in _chunks([m.checkpoint_id for m in members]):
                marks = ",".join("?" * len(chunk))
                for w in conn.execute(
                    f"SELECT checkpoint_id, task_id, idx, task_path, channel, type, blob FROM {s.writes} "
                    f"WHERE thread_id = ? AND ns = ? AND checkpoint_id IN ({marks})",
                    (tid, ns, *chunk),
                ):
                    by_id[(tid, ns, w[0])].writes.append(
                        WriteRow(w[1], w[2], w[3], w[4], w[5], w[6])
                    )
        asm = TupleAssembler(self.serde, rows, self._logs)
        wanted = asm.blob_keys()
        blobs: dict[BlobKey, Typed | None] = dict.fromkeys(wanted)
        per_group: dict[tuple[str, str], list[BlobKey]] = {}
        for key in wanted:
            per_group.setdefault(key[:2], []).append(key)
        for (tid, ns), keys in per_group.items():
            if len(keys) > _CHUNK:  # most of the thread's blobs anyway: one range scan
                for ch, ver, typ, blob in conn.execute(
                    f"SELECT channel, version, type, blob FROM {s.blobs} WHERE thread_id = ? AND ns = ?",
                    (tid, ns),
                ):
                    if (tid, ns, ch, ver) in blobs:
                        blobs[(tid, ns, ch, ver)] = (typ, blob)
                continue
            for chunk in _chunks(keys):
                values = ",".join("(?,?)" * 1 for _ in chunk)
                params = [x for k in chunk for x in k[2:]]
                for ch, ver, typ, blob in conn.execute(
                    f"SELECT channel, version, type, blob FROM {s.blobs} WHERE thread_id = ? AND ns = ? "
                    f"AND (channel, version) IN (VALUES {values})",
                    (tid, ns, *params),
                ):
                    blobs[(tid, ns, ch, ver)] = (typ, blob)
        need = asm.set_blobs(blobs)
        logs: dict[LogKey, list[Typed]] = {}
        for (tid, ns, log_id), (start, end) in asm.log_ranges(need).items():
            logs[(tid, ns, log_id)] = (
                [
                    (typ, blob)
                    for typ, blob in conn.execute(
                        f"SELECT type, blob FROM {s.logs} WHERE thread_id = ? AND ns = ? AND log_id = ? AND seq >= ? "
                        "AND seq < ? ORDER BY seq",
                        (tid, ns, log_id, start, end),
                    )
                ]
                if end > start
                else []
            )
        asm.set_logs(logs)
        return asm.tuples(self._logs if cache else None)

    def _owner_filter(self) -> tuple[bool, str | None]:
        return (self.user_id is not None, self.user_id)

    def _thread_row(
        self, conn: sqlite3.Connection, thread_id: str, at: float
    ) -> tuple[str | None] | None:
        """(owner,) of a live thread; an expired one is deleted on the spot (inside the caller's tx)."""
        row = conn.execute(
            f"SELECT owner, expires_at FROM {self.sql.threads} WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= at:
            self._drop(conn, [thread_id])
            return None
        return (row[0],)

    def _drop(self, conn: sqlite3.Connection, thread_ids: Sequence[str]) -> None:
        for chunk in _chunks(list(thread_ids)):
            marks = ",".join("?" * len(chunk))
            for table in (*self.sql.data_tables, self.sql.threads):
                conn.execute(f"DELETE FROM {table} WHERE thread_id IN ({marks})", chunk)

    def _claim(self, conn: sqlite3.Connection, thread_id: str, at: float, action: str) -> None:
        """Create or touch the thread row (owner stamp, sliding TTL), refusing other users' threads."""
        row = self._thread_row(conn, thread_id, at)
        if row is None:
            conn.execute(
                f"INSERT INTO {self.sql.threads} VALUES (?, ?, ?, ?, ?)",
                (thread_id, self.user_id, at, at, self._expires(at)),
            )
        elif not self._owns(row[0]):
            raise self._refuse(thread_id, action)
        else:
            conn.execute(
                f"UPDATE {self.sql.threads} SET updated_at = ?, expires_at = ? WHERE thread_id = ?",
                (at, self._expires(at), thread_id),
            )

    def _refresh(self, conn: sqlite3.Connection, thread_ids: Sequence[str], at: float) -> None:
        """refresh_on_read: a read slides the expiry of the threads it returned."""
        if self.refresh_on_read and self.ttl is not None and thread_ids:
            conn.execute(
                f"UPDATE {self.sql.threads} SET expires_at = ? WHERE thread_id IN "
                "(SELECT value FROM json_each(?))",
                (self._expires(at), json.dumps(sorted(set(thread_ids)))),
            )

    # -- reads ---------------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        t = target(config)
        at = now()
        with self.connections.connection() as conn:
            sql, params = self.sql.listing(
                thread_id=t.thread_id,
                ns=t.ns,
                checkpoint_id=t.checkpoint_id,
                before=None,
                owner=self._owner_filter(),
                pushed={},
                limit=1,
                at=at,
            )
            row = conn.execute(sql, params).fetchone()
            if row is None:
                return None
            self._refresh(conn, [t.thread_id], at)
            return self._assemble(conn, [_row(row)], cache=True)[0]

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._list(config, filter, before, limit)

    def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> builtins.list[CheckpointTuple]:
        conf = (config or {}).get("configurable") or {}
        thread_id = target(config).thread_id if config else None
        ns = conf.get("checkpoint_ns")
        if ns is not None:
            validate_ns(ns)
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        pushed, local = split_filter(filter)
        with self.connections.connection() as conn:
            at = now()
            sql, params = self.sql.listing(
                thread_id=thread_id,
                ns=ns,
                checkpoint_id=conf.get("checkpoint_id"),
                before=before_id,
                owner=self._owner_filter(),
                pushed=pushed,
                limit=None if local else limit,
                at=at,
            )
            rows = [_row(r) for r in conn.execute(sql, params)]
            if local:
                rows = [r for r in rows if matches(json.loads(r.metadata), local)]
                if limit is not None:
                    rows = rows[: max(limit, 0)]
            self._refresh(conn, [r.thread_id for r in rows], at)
            out: list[CheckpointTuple] = []
            for chunk in _chunks(rows, 500):
                out.extend(self._assemble(conn, chunk, cache=False))
            return out

    # -- DeltaChannel history ------------------------------------------------------------------------
    def _walk(
        self,
        conn: sqlite3.Connection,
        tid: str,
        ns: str,
        start: str | None,
        channels: Sequence[str],
    ) -> DeltaWalk:
        """Walk the parent chain from ``start``: two statements per page of up to 256 ancestors."""
        walk = DeltaWalk(channels, start)
        while not walk.done:
            links: list[Link] = [
                link_of(self.serde, tid, cid, parent, (typ, ckpt))
                for cid, parent, typ, ckpt in conn.execute(
                    self.sql.chain, (tid, ns, walk.cursor, _CHAIN_PAGE)
                )
            ]
            pairs = walk.pairs(links)
            stored = (
                set(conn.execute(self.sql.stored_pairs, (tid, ns, json.dumps(sorted(pairs)))))
                if pairs
                else set()
            )
            walk.advance(links, stored)
        return walk

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain, in a bounded number of statements.

        One statement finds the target, two per page of 256 ancestors walk the chain, one reads the
        writes of every visited checkpoint and one the seed values (plus one per seed stored as a log).
        """
        if not channels:
            return {}
        t = target(config)
        with self.connections.connection() as conn:
            at = now()
            sql, params = self.sql.listing(
                thread_id=t.thread_id,
                ns=t.ns,
                checkpoint_id=t.checkpoint_id,
                before=None,
                owner=self._owner_filter(),
                pushed={},
                limit=1,
                at=at,
            )
            row = conn.execute(sql, params).fetchone()
            if row is None:
                return empty_history(channels)
            self._refresh(conn, [t.thread_id], at)
            walk = self._walk(conn, t.thread_id, t.ns, row[3], channels)
            writes: dict[str, list[WriteRow]] = {}
            if walk.visited:
                for w in conn.execute(
                    self.sql.chain_writes,
                    (t.thread_id, t.ns, json.dumps(walk.visited), json.dumps(walk.channels)),
                ):
                    writes.setdefault(w[0], []).append(WriteRow(w[1], w[2], w[3], w[4], w[5], w[6]))
            seeds: dict[str, Any] = {}
            if walk.seeds:
                for ch, _ver, typ, blob in conn.execute(
                    self.sql.pair_values,
                    (t.thread_id, t.ns, json.dumps(sorted(walk.seeds.items()))),
                ):
                    log = None
                    if typ == LOGREF:
                        log_id, length = decode_ref(blob)
                        log = conn.execute(
                            f"SELECT type, blob FROM {self.sql.logs} WHERE thread_id = ? AND ns = ? "
                            "AND log_id = ? AND seq < ? ORDER BY seq",
                            (t.thread_id, t.ns, log_id, length),
                        ).fetchall()
                    seeds[ch] = decode_value(self.serde, (typ, blob), log, ch, t.thread_id)
        return walk.history(self.serde, t.thread_id, writes, seeds)

    # -- writes --------------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        plan = self._plan(config, checkpoint, metadata, new_versions)
        s = self.sql
        with self.connections.transaction() as conn:
            self._claim(conn, plan.thread_id, plan.ts, "write to")
            for channel, app in list(plan.appends.items()):
                (length,) = conn.execute(
                    f"SELECT COALESCE(MAX(seq) + 1, 0) FROM {s.logs} WHERE thread_id = ? AND ns = ? AND log_id = ?",
                    (plan.thread_id, plan.ns, app.log_id),
                ).fetchone()
                if length != app.start:
                    plan.rebase(channel)
            conn.executemany(
                f"INSERT INTO {s.logs} VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (plan.thread_id, plan.ns, app.log_id, app.start + i, typ, data)
                    for app in plan.appends.values()
                    for i, (typ, data) in enumerate(app.items)
                ],
            )
            conn.executemany(
                f"INSERT OR REPLACE INTO {s.blobs} VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (plan.thread_id, plan.ns, ch, ver, typ, data)
                    for (ch, ver), (typ, data) in plan.blobs.items()
                ],
            )
            conn.execute(
                f"INSERT OR REPLACE INTO {s.ckpts} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.thread_id,
                    plan.ns,
                    plan.checkpoint_id,
                    plan.parent_id,
                    plan.ckpt[0],
                    plan.ckpt[1],
                    plan.metadata,
                    plan.run_id,
                ),
            )
        plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": plan.ns,
                "checkpoint_id": plan.checkpoint_id,
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        t = target(config)
        rows = plan_writes(self.serde, writes, task_id, task_path)
        s = self.sql
        with self.connections.transaction() as conn:
            self._claim(conn, t.thread_id, now(), "write to")
            for verb, group in (
                ("INSERT OR REPLACE", [w for w in rows if w.replace]),
                ("INSERT OR IGNORE", [w for w in rows if not w.replace]),
            ):
                conn.executemany(
                    f"{verb} INTO {s.writes} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            t.thread_id,
                            t.ns,
                            t.checkpoint_id,
                            w.task_id,
                            w.idx,
                            w.task_path,
                            w.channel,
                            w.type,
                            w.value,
                        )
                        for w in group
                    ],
                )

    def delete_thread(self, thread_id: str) -> None:
        with self.connections.transaction() as conn:
            row = self._thread_row(conn, thread_id, now())
            if row is not None and not self._owns(row[0]):
                raise self._refuse(thread_id, "delete")
            self._drop(conn, [thread_id])
        self._logs.drop_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        s = self.sql
        with self.connections.transaction() as conn:
            for chunk in _chunks(runs):
                marks = ",".join("?" * len(chunk))
                owner = " AND t.owner IS ?" if self.user_id is not None else ""
                params = [*chunk, *([self.user_id] if owner else [])]
                doomed = conn.execute(
                    f"SELECT c.thread_id, c.ns, c.checkpoint_id FROM {s.ckpts} c JOIN {s.threads} t "
                    f"ON t.thread_id = c.thread_id WHERE c.run_id IN ({marks}){owner}",
                    params,
                ).fetchall()
                for table in (s.ckpts, s.writes):
                    conn.executemany(
                        f"DELETE FROM {table} WHERE thread_id = ? AND ns = ? AND checkpoint_id = ?",
                        doomed,
                    )

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        s = self.sql
        with self.connections.transaction() as conn:
            at = now()
            src = self._thread_row(conn, source_thread_id, at)
            if src is None:
                return
            if not self._owns(src[0]):
                raise self._refuse(source_thread_id, "copy")
            dst = self._thread_row(conn, target_thread_id, at)
            if dst is not None and not self._owns(dst[0]):
                raise self._refuse(target_thread_id, "overwrite")
            self._drop(conn, [target_thread_id])
            conn.execute(
                f"INSERT INTO {s.threads} VALUES (?, ?, ?, ?, ?)",
                (
                    target_thread_id,
                    src[0] if self.user_id is None else self.user_id,
                    at,
                    at,
                    self._expires(at),
                ),
            )
            for table, cols in (
                (s.ckpts, "ns, checkpoint_id, parent_id, type, ckpt, metadata, run_id"),
                (s.blobs, "ns, channel, version, type, blob"),
                (s.writes, "ns, checkpoint_id, task_id, idx, task_path, channel, type, blob"),
                (s.logs, "ns, log_id, seq, type, blob"),
            ):
                conn.execute(
                    f"INSERT INTO {table} (thread_id, {cols}) SELECT ?, {cols} FROM {table} "
                    "WHERE thread_id = ?",
                    (target_thread_id, source_thread_id),
                )
        self._logs.drop_thread(target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._strategy(strategy)
        s = self.sql
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                self.delete_thread(tid)
                continue
            with self.connections.transaction() as conn:
                row = self._thread_row(conn, tid, now())
                if row is None:
                    continue
                if not self._owns(row[0]):
                    raise self._refuse(tid, "prune")
                latest = conn.execute(
                    f"SELECT ns, MAX(checkpoint_id) FROM {s.ckpts} WHERE thread_id = ? GROUP BY ns",
                    (tid,),
                ).fetchall()
                keep = set(latest)
                for ns, cid in latest:
                    # DeltaChannels of the latest checkpoint replay ancestor writes back to their
                    # last stored value: keep that part of the chain (and its writes).
                    (md,) = conn.execute(
                        f"SELECT metadata FROM {s.ckpts} WHERE thread_id = ? AND ns = ? "
                        "AND checkpoint_id = ?",
                        (tid, ns, cid),
                    ).fetchone()
                    if chans := delta_channels(json.loads(md)):
                        keep |= {(ns, c) for c in self._walk(conn, tid, ns, cid, chans).visited}
                doomed = [
                    (tid, ns, cid)
                    for ns, cid in conn.execute(
                        f"SELECT ns, checkpoint_id FROM {s.ckpts} WHERE thread_id = ?", (tid,)
                    )
                    if (ns, cid) not in keep
                ]
                for table in (s.ckpts, s.writes):
                    conn.executemany(
                        f"DELETE FROM {table} WHERE thread_id = ? AND ns = ? AND checkpoint_id = ?",
                        doomed,
                    )
                keep_blobs: set[tuple[str, str, str]] = set()
                for ns, cid in keep:
                    typ, data = conn.execute(
                        f"SELECT type, ckpt FROM {s.ckpts} WHERE thread_id = ? AND ns = ? "
                        "AND checkpoint_id = ?",
                        (tid, ns, cid),
                    ).fetchone()
                    versions = self.serde.loads_typed((typ, data)).get("channel_versions", {})
                    keep_blobs |= {(ns, ch, str(v)) for ch, v in versions.items()}
                keep_logs: set[tuple[str, str]] = set()
                dead_blobs = []
                for ns, ch, ver, typ, data in conn.execute(
                    f"SELECT ns, channel, version, type, blob FROM {s.blobs} WHERE thread_id = ?",
                    (tid,),
                ):
                    if (ns, ch, ver) not in keep_blobs:
                        dead_blobs.append((tid, ns, ch, ver))
                    elif typ == LOGREF:
                        keep_logs.add((ns, decode_ref(data)[0]))
                conn.executemany(
                    f"DELETE FROM {s.blobs} WHERE thread_id = ? AND ns = ? AND channel = ? "
                    "AND version = ?",
                    dead_blobs,
                )
                dead_logs = [
                    (tid, ns, log_id)
                    for ns, log_id in conn.execute(
                        f"SELECT DISTINCT ns, log_id FROM {s.logs} WHERE thread_id = ?", (tid,)
                    )
                    if (ns, log_id) not in keep_logs
                ]
                conn.executemany(
                    f"DELETE FROM {s.logs} WHERE thread_id = ? AND ns = ? AND log_id = ?", dead_logs
                )
            self._logs.drop_thread(tid)

    # -- retention and introspection -----------------------------------------------------------------
    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, checkpoint count and stored bytes of a visible thread, else None."""
        s = self.sql
        with self.connections.connection() as conn:
            row = conn.execute(
                f"SELECT owner, created_at, updated_at, expires_at FROM {s.threads} "
                "WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            if row is None or not self._owns(row[0]) or (row[3] is not None and row[3] <= now()):
                return None
            count, ck_bytes = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(length(ckpt) + length(metadata)), 0) FROM {s.ckpts} "
                "WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            total = ck_bytes
            for table in (s.blobs, s.writes, s.logs):
                total += conn.execute(
                    f"SELECT COALESCE(SUM(length(blob)), 0) FROM {table} WHERE thread_id = ?",
                    (thread_id,),
                ).fetchone()[0]
        return {
            "thread_id": thread_id,
            "owner": row[0],
            "created_at": row[1],
            "updated_at": row[2],
            "expires_at": row[3],
            "checkpoints": count,
            "bytes": total,
        }

    def purge_expired(self) -> int:
        """Delete every expired thread (all its rows); returns how many. Run it periodically."""
        with self.connections.transaction() as conn:
            gone = [
                r[0]
                for r in conn.execute(
                    f"SELECT thread_id FROM {self.sql.threads} WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    (now(),),
                )
            ]
            self._drop(conn, gone)
        return len(gone)


def _row(r: Sequence[Any]) -> Row:
    return Row(r[0], r[1], r[2], r[3], (r[4], r[5]), r[6])


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
