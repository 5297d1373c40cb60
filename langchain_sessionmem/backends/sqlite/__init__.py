"""The embedded backend on stdlib sqlite3 (WAL): the default, no server needed."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError
from .engine import SqliteEngine

KIND = "sqlite"


def database_path(url: str) -> str:
    """SQLAlchemy's convention: ``sqlite://`` is in-memory, ``sqlite:///rel.db`` and
    ``sqlite:////abs.db`` are files."""
    rest = url[len("sqlite://") :]
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    return rest[1:]


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
