"""The production backend on plain Redis / Valkey: no modules, Cluster safe, TTL native."""

from __future__ import annotations

from typing import Any

from .connections import RedisConnections
from .engine import RedisEngine

KIND = "redis"


def _engine_options(options: dict[str, Any]) -> dict[str, Any]:
    """The engine's own options, taken out of the store's (``refresh_on_read``, ``clock``)."""
    known: dict[str, Any] = {"refresh_on_read": bool(options.pop("refresh_on_read", False))}
    if "clock" in options:
        known["clock"] = options.pop("clock")
    return known


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> RedisEngine:
    known = _engine_options(options)
    return RedisEngine(RedisConnections(url), namespace=namespace, ttl=ttl, **known)


def from_clients(
    client: Any, aclient: Any, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> RedisEngine:
    """An engine on the caller's own redis-py clients (never closed by the store)."""
    connections = RedisConnections(client=client, aclient=aclient)
    return RedisEngine(connections, namespace=namespace, ttl=ttl, **_engine_options(options))


def open_saver(engine: RedisEngine, **options: Any) -> Any:
    """A saver on the engine's connections: one asyncio client per event loop for both."""
    from .saver import RedisCheckpointSaver

    return RedisCheckpointSaver(engine.connections, **options)
