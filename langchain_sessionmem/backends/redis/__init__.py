"""The production backend on plain Redis / Valkey: no modules, Cluster safe, TTL native."""

from __future__ import annotations

from typing import Any

from .connections import RedisConnections
from .engine import RedisEngine

KIND = "redis"


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> RedisEngine:
    refresh = bool(options.pop("refresh_on_read", False))
    return RedisEngine(RedisConnections(url), namespace=namespace, ttl=ttl, refresh_on_read=refresh)


def from_clients(
    client: Any, aclient: Any, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> RedisEngine:
    """An engine on the caller's own redis-py clients (never closed by the store)."""
    refresh = bool(options.pop("refresh_on_read", False))
    connections = RedisConnections(client=client, aclient=aclient)
    return RedisEngine(connections, namespace=namespace, ttl=ttl, refresh_on_read=refresh)


def open_saver(engine: RedisEngine, **options: Any) -> Any:
    """A saver on the engine's connections: one asyncio client per event loop for both."""
    from .saver import RedisCheckpointSaver

    return RedisCheckpointSaver(engine.connections, **options)
