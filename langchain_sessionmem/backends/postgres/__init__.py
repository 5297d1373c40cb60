"""The server backend on PostgreSQL through psycopg 3 (sync pool, per-loop asyncio connections)."""

from __future__ import annotations

from typing import Any

from .. import normalize_url
from .connections import PostgresConnections
from .engine import PostgresEngine

KIND = "postgres"
POOL_OPTIONS = ("min_size", "max_size", "pool_timeout", "prepare")


def _conninfo(url: str) -> str:
    """libpq takes ``postgresql://`` / ``postgres://``; SQLAlchemy's ``postgresql+psycopg://`` maps to it."""
    return normalize_url(url)


def _engine_options(options: dict[str, Any]) -> dict[str, Any]:
    known = {k: options.pop(k) for k in ("refresh_on_read", "clock") if k in options}
    known["refresh_on_read"] = bool(known.get("refresh_on_read", False))
    return known


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> PostgresEngine:
    """A conninfo: a ``postgresql://`` URL or a libpq ``"host=... dbname=..."`` string."""
    pools = {k: options.pop(k) for k in POOL_OPTIONS if k in options}
    known = _engine_options(options)
    connections = PostgresConnections(_conninfo(url), **pools)
    return PostgresEngine(connections, namespace=namespace, ttl=ttl, **known)


def from_pools(
    pool: Any, apool: Any, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> PostgresEngine:
    """An engine on the caller's own ``psycopg_pool`` pools (never closed by the store)."""
    known = _engine_options(options)
    connections = PostgresConnections(pool=pool, apool=apool, prepare=options.pop("prepare", True))
    return PostgresEngine(connections, namespace=namespace, ttl=ttl, **known)


def open_saver(engine: PostgresEngine, **options: Any) -> Any:
    """A checkpointer on the engine's connections (its pools, or the caller's own)."""
    from .saver import PostgresCheckpointSaver

    return PostgresCheckpointSaver(engine.connections, **options)


def __getattr__(name: str) -> Any:
    """``PostgresCheckpointSaver`` on first use (it imports LangGraph; the engine does not)."""
    if name == "PostgresCheckpointSaver":
        from .saver import PostgresCheckpointSaver

        return PostgresCheckpointSaver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
