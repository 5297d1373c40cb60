"""Retention on the SQLite saver: ``prune(keep_latest)`` of one thread, inside the caller's transaction.

Kept: the newest checkpoint of each namespace, the ancestors its DeltaChannels replay (back to
their last stored value), the blobs those checkpoints reference and the logs those blobs point at.
"""

from __future__ import annotations

import sqlite3

from ...checkpoint.config import check_skeleton, decode_metadata
from ...checkpoint.delta import delta_channels
from ...checkpoint.linear import LOGREF, decode_ref
from ...checkpoint.values import ValueCodec, checkpoint_place
from .fetch import walk
from .statements import CheckpointStatements


def keep_latest(
    conn: sqlite3.Connection, sql: CheckpointStatements, codec: ValueCodec, tid: str
) -> None:
    """Delete everything of thread ``tid`` that its latest checkpoints do not need."""
    latest = conn.execute(sql.latest_per_ns, (tid,)).fetchall()
    keep = set(latest)
    records = {}
    for ns, cid in latest:
        typ, data, md = conn.execute(sql.checkpoint_record, (tid, ns, cid)).fetchone()
        records[(ns, cid)] = (typ, data)
        if chans := delta_channels(decode_metadata(md, tid)):
            keep |= {(ns, c) for c in walk(conn, sql, codec, tid, ns, cid, chans).visited}
    doomed = [
        (tid, ns, cid)
        for ns, cid in conn.execute(sql.checkpoint_ids, (tid,))
        if (ns, cid) not in keep
    ]
    for statement in sql.delete_checkpoint:
        conn.executemany(statement, doomed)
    keep_blobs: set[tuple[str, str, str]] = set()
    for ns, cid in keep:
        if (ns, cid) not in records:
            typ, data, _md = conn.execute(sql.checkpoint_record, (tid, ns, cid)).fetchone()
            records[(ns, cid)] = (typ, data)
        place = checkpoint_place(tid, ns, cid)
        skeleton = check_skeleton(
            codec.load(records[(ns, cid)], "checkpoint", tid, place), tid, cid
        )
        versions = skeleton.get("channel_versions", {})
        keep_blobs |= {(ns, ch, str(v)) for ch, v in versions.items()}
    keep_logs: set[tuple[str, str]] = set()
    dead_blobs = []
    for ns, ch, ver, typ, data in conn.execute(sql.blobs_of_thread, (tid,)):
        if (ns, ch, ver) not in keep_blobs:
            dead_blobs.append((tid, ns, ch, ver))
        elif typ == LOGREF:
            keep_logs.add((ns, decode_ref(data)[0]))
    conn.executemany(sql.delete_blob, dead_blobs)
    dead_logs = [
        (tid, ns, log_id)
        for ns, log_id in conn.execute(sql.logs_of_thread, (tid,))
        if (ns, log_id) not in keep_logs
    ]
    conn.executemany(sql.delete_log, dead_logs)
