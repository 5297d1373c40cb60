"""``copy_thread`` under encryption: every row is opened at its old place and sealed at its new one.

Sealed values are bound to the thread key, so a plain ``INSERT ... SELECT`` copy would leave the
copy unreadable; this runs inside the caller's transaction instead.
"""

from __future__ import annotations

import sqlite3

from ...checkpoint.values import (
    Place,
    ValueCodec,
    blob_place,
    checkpoint_place,
    log_place,
    write_place,
)
from .statements import CheckpointStatements


def copy_resealed(
    conn: sqlite3.Connection,
    sql: CheckpointStatements,
    codec: ValueCodec,
    src: str,
    dst: str,
    shown: str,
) -> None:
    """Copy every row of thread ``src`` to ``dst`` (stored keys), re-sealing each value."""
    # (table, index of the type column, place of a row under a thread key)
    layouts = (
        (sql.ckpts, 3, lambda k, r: checkpoint_place(k, r[0], r[1])),
        (sql.blobs, 3, lambda k, r: blob_place(k, r[0], r[1], r[2])),
        (sql.writes, 6, lambda k, r: write_place(k, r[0], r[1], r[2], r[3])),
        (sql.logs, 3, lambda k, r: log_place(k, r[0], r[1], r[2])),
    )
    for table, at, place in layouts:
        rows = []
        for row in conn.execute(sql.thread_rows[table], (src,)):
            old: Place = place(src, row)
            typ, data = codec.reseal((row[at], row[at + 1]), old, place(dst, row), table, shown)
            rows.append((dst, *row[:at], typ, data, *row[at + 2 :]))
        conn.executemany(sql.insert_rows[table], rows)
