"""The embedded backend on stdlib sqlite3 (WAL): the default, no server needed."""

from __future__ import annotations

from typing import Any

from .connections import database_path
from .engine import SqliteEngine

KIND = "sqlite"
__all__ = ["KIND", "database_path", "open_engine", "open_saver"]


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> SqliteEngine:
    known = {
        k: options.pop(k) for k in ("busy_timeout", "refresh_on_read", "clock") if k in options
    }
    return SqliteEngine(database_path(url), namespace=namespace, ttl=ttl, **known)


def open_saver(engine: SqliteEngine, **options: Any) -> Any:
    """A saver on the engine's connections (so ``sqlite://`` shares its one in-memory database)
    and its clock."""
    from .saver import SqliteCheckpointSaver

    options.setdefault("clock", engine.clock)
    return SqliteCheckpointSaver(connections=engine.connections, **options)
