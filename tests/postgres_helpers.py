"""Helpers of the PostgreSQL tests: erase a namespace's tables, look at raw rows and sessions."""

from __future__ import annotations

from typing import Any

import psycopg


def drop_namespace(dsn: str, namespace: str) -> None:
    """Drop every table whose name starts with ``<namespace>_`` (history and checkpointer)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND starts_with(tablename, %s)",
                (namespace + "_",),
            )
        ]
        if tables:
            conn.execute("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


def table_rows(dsn: str, namespace: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of ``namespace``, as text: for scans of what storage holds."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND starts_with(tablename, %s)",
                (namespace + "_",),
            )
        ]
        return {name: conn.execute(f'SELECT t::text FROM "{name}" t').fetchall() for name in names}


def backends_of(dsn: str, application_name: str) -> list[tuple[int, str]]:
    """(pid, state) of the server backends of connections named ``application_name``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
