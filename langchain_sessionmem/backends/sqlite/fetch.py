"""Reads of the SQLite saver: fetched rows to CheckpointTuples, and the DeltaChannel chain walk.

The decoding lives in ``checkpoint.assemble`` / ``checkpoint.delta``; this module only feeds them
rows in a bounded number of statements (one per table per page, one per page of 256 ancestors).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

from ...checkpoint.assemble import BlobKey, LogKey, Row, TupleAssembler
from ...checkpoint.delta import DeltaWalk, Link, decode_value, link_of
from ...checkpoint.linear import LOGREF, LogCache, decode_ref
from ...checkpoint.serde import Typed
from ...checkpoint.values import ValueCodec
from ...checkpoint.writes import WriteRow
from .statements import CheckpointStatements

CHUNK = 300  # blob keys per statement before one range scan of the thread is cheaper
CHAIN_PAGE = 256  # ancestors per statement in the DeltaChannel walk


def to_row(r: Sequence[Any]) -> Row:
    """A ``listing()`` row as the assembler's :class:`Row`."""
    return Row(r[0], r[1], r[2], r[3], (r[4], r[5]), r[6])


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def assemble(
    conn: sqlite3.Connection,
    sql: CheckpointStatements,
    codec: ValueCodec,
    rows: list[Row],
    logs: LogCache,
    cache: bool,
    public: Callable[[str], str] | None = None,
) -> list[CheckpointTuple]:
    """Writes, blobs and log items of ``rows``: a few statements per (thread, namespace)."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.thread_id, row.ns), []).append(row)
    by_id = {(r.thread_id, r.ns, r.checkpoint_id): r for r in rows}
    for (tid, ns), members in groups.items():
        ids = json.dumps([m.checkpoint_id for m in members])
        for cid, *w in conn.execute(sql.writes_of, (tid, ns, ids)):
            by_id[(tid, ns, cid)].writes.append(WriteRow(*w))
    asm = TupleAssembler(codec, rows, logs, public=public)
    wanted = asm.blob_keys()
    blobs: dict[BlobKey, Typed | None] = dict.fromkeys(wanted)
    per_group: dict[tuple[str, str], list[BlobKey]] = {}
    for key in wanted:
        per_group.setdefault(key[:2], []).append(key)
    for (tid, ns), keys in per_group.items():
        if len(keys) > CHUNK:  # most of the thread's blobs anyway: one range scan
            found = conn.execute(sql.thread_blobs, (tid, ns))
        else:
            found = conn.execute(sql.pair_values, (tid, ns, json.dumps([k[2:] for k in keys])))
        for ch, ver, typ, blob in found:
            if (tid, ns, ch, ver) in blobs:
                blobs[(tid, ns, ch, ver)] = (typ, blob)
    need = asm.set_blobs(blobs)
    items: dict[LogKey, list[Typed]] = {}
    for (tid, ns, log_id), (start, end) in asm.log_ranges(need).items():
        items[(tid, ns, log_id)] = (
            conn.execute(sql.log_items, (tid, ns, log_id, start, end)).fetchall()
            if end > start
            else []
        )
    asm.set_logs(items)
    return asm.tuples(logs if cache else None)


def walk(
    conn: sqlite3.Connection,
    sql: CheckpointStatements,
    codec: ValueCodec,
    tid: str,
    ns: str,
    start: str | None,
    channels: Sequence[str],
) -> DeltaWalk:
    """Walk the parent chain from ``start``: two statements per page of up to 256 ancestors."""
    chain = DeltaWalk(channels, start)
    while not chain.done:
        links: list[Link] = [
            link_of(codec, tid, cid, parent, (typ, ckpt), ns=ns)
            for cid, parent, typ, ckpt in conn.execute(
                sql.chain, (tid, ns, chain.cursor, CHAIN_PAGE)
            )
        ]
        pairs = chain.pairs(links)
        stored = (
            set(conn.execute(sql.stored_pairs, (tid, ns, json.dumps(sorted(pairs)))))
            if pairs
            else set()
        )
        chain.advance(links, stored)
    return chain


def delta_history(
    conn: sqlite3.Connection,
    sql: CheckpointStatements,
    codec: ValueCodec,
    tid: str,
    ns: str,
    parent_id: str | None,
    channels: Sequence[str],
    shown: str,
) -> dict[str, Any]:
    """Writes and seed of each DeltaChannel from ``parent_id`` up: the walk, one statement for the
    writes of every visited checkpoint, one for the seed values (plus one per seed stored as a log).

    ``tid`` is the stored thread key, ``shown`` the thread id error messages name."""
    chain = walk(conn, sql, codec, tid, ns, parent_id, channels)
    writes: dict[str, list[WriteRow]] = {}
    if chain.visited:
        params = (tid, ns, json.dumps(chain.visited), json.dumps(chain.channels))
        for cid, *w in conn.execute(sql.chain_writes, params):
            writes.setdefault(cid, []).append(WriteRow(*w))
    seeds: dict[str, Any] = {}
    if chain.seeds:
        params = (tid, ns, json.dumps(sorted(chain.seeds.items())))
        for ch, ver, typ, blob in conn.execute(sql.pair_values, params).fetchall():
            log = None
            if typ == LOGREF:
                log_id, length = decode_ref(blob)
                log = conn.execute(sql.log_items, (tid, ns, log_id, 0, length)).fetchall()
            seeds[ch] = decode_value(
                codec, (typ, blob), log, ch, shown, key=tid, ns=ns, version=ver
            )
    return chain.history(codec, shown, writes, seeds, key=tid, ns=ns)
