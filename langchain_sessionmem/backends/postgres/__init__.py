"""The server backend on PostgreSQL through psycopg 3 (sync pool, per-loop asyncio connections)."""

from __future__ import annotations

from typing import Any

from .connections import PostgresConnections
from .engine import PostgresEngine

KIND = "postgres"
POOL_OPTIONS = ("min_size", "max_size", "pool_timeout")


def _conninfo(url: str) -> str:
    """libpq takes ``postgresql://`` / ``postgres://``; SQLAlchemy's ``postgresql+psycopg://`` maps to it."""
    return (
        "postgresql://" + url.split("://", 1)[1] if url.startswith("postgresql+psycopg://") else url
    )


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> PostgresEngine:
    """A conninfo: a ``postgresql://`` URL or a libpq ``"host=... dbname=..."`` string."""
    pools = {k: options.pop(k) for k in POOL_OPTIONS if k in options}
    refresh = bool(options.pop("refresh_on_read", False))
    connections = PostgresConnections(_conninfo(url), **pools)
    return PostgresEngine(connections, namespace=namespace, ttl=ttl, refresh_on_read=refresh)


def from_pools(
    pool: Any, apool: Any, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> PostgresEngine:
    """An engine on the caller's own ``psycopg_pool`` pools (never closed by the store)."""
    refresh = bool(options.pop("refresh_on_read", False))
    connections = PostgresConnections(pool=pool, apool=apool)
    return PostgresEngine(connections, namespace=namespace, ttl=ttl, refresh_on_read=refresh)


def open_saver(engine: PostgresEngine, **options: Any) -> Any:
    from ...errors import ConfigurationError

    raise ConfigurationError(
        "no checkpointer on PostgreSQL yet: use a memory, sqlite or redis store for the "
        "checkpointer (or langgraph-checkpoint-postgres's PostgresSaver beside this store)"
    )
