"""LangGraph checkpointers on the sessionmem engines (memory, SQLite, plain Redis / Cluster).

``store.checkpointer(user_id=...)`` returns the saver for the store's engine; each saver class can
also be built directly from a connection factory or Redis clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .memory import MemoryCheckpointData, MemoryCheckpointSaver
from .saver import SessionSaverBase
from .serde import AesGcmKeyring, default_serde, encrypted_serde

if TYPE_CHECKING:
    from ..store import SessionStore

__all__ = [
    "AesGcmKeyring",
    "MemoryCheckpointSaver",
    "RedisCheckpointSaver",
    "SessionSaverBase",
    "SqliteCheckpointSaver",
    "checkpointer_for",
    "default_serde",
    "encrypted_serde",
]


def __getattr__(name: str) -> Any:
    # Engine modules import lazily so `redis` stays an optional extra.
    if name == "SqliteCheckpointSaver":
        from .sqlite import SqliteCheckpointSaver

        return SqliteCheckpointSaver
    if name == "RedisCheckpointSaver":
        from .redis import RedisCheckpointSaver

        return RedisCheckpointSaver
    raise AttributeError(name)


def checkpointer_for(store: SessionStore, **options: Any) -> SessionSaverBase:
    """A new saver on ``store``'s engine, sharing its connections, namespace and TTL.

    :meth:`SessionStore.checkpointer` keeps one per store (so savers share the log cache and the
    in-memory data) and scopes it per user.
    """
    engine: Any = store.engine  # the engine kinds below carry their own connection attributes
    common: dict[str, Any] = {"namespace": store.namespace, "ttl": store.ttl, **options}
    ttl = options.get("ttl")
    if isinstance(ttl, Mapping) and ttl.get("default_ttl") is None and store.ttl is not None:
        # LangGraph's TTLConfig without default_ttl: the store's TTL, in minutes
        common["ttl"] = {**ttl, "default_ttl": store.ttl.total_seconds() / 60}
    if engine.kind == "memory":
        return MemoryCheckpointSaver(MemoryCheckpointData(), **common)
    if engine.kind == "sqlite":
        from .sqlite import SqliteCheckpointSaver

        return SqliteCheckpointSaver(connections=engine.connections, **common)
    if engine.kind == "redis":
        from .redis import RedisCheckpointSaver

        return RedisCheckpointSaver(
            client_factory=lambda: engine.client, aclient_factory=lambda: engine.aclient, **common
        )
    raise ConfigurationError(
        f"no checkpointer for engine kind {engine.kind!r} yet: use a memory, sqlite or redis store for "
        "the checkpointer (on PostgreSQL, langgraph-checkpoint-postgres's PostgresSaver works beside this store)"
    )
