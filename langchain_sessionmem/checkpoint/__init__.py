"""LangGraph checkpointers on the sessionmem engines (memory, SQLite, plain Redis / Cluster).

``store.checkpointer(user_id=...)`` returns the saver for the store's engine; each saver class can
also be built directly from a connection factory or Redis clients.
"""

from __future__ import annotations

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


def checkpointer_for(store: SessionStore, *, user_id: str | None = None, **options: Any) -> SessionSaverBase:
    """The saver for ``store``'s engine, sharing its connections, namespace and TTL."""
    engine = store.engine
    common: dict[str, Any] = {"namespace": store.namespace, "ttl": store.ttl, "user_id": user_id, **options}
    if engine.kind == "memory":
        data = getattr(engine, "_checkpoint_data", None)
        if data is None:
            data = MemoryCheckpointData()
            engine._checkpoint_data = data  # one shared state per store, like its sessions
        return MemoryCheckpointSaver(data, **common)
    if engine.kind == "sqlite":
        from .sqlite import SqliteCheckpointSaver

        return SqliteCheckpointSaver(connect=engine.connect, path=engine.path, **common)
    if engine.kind == "redis":
        from .redis import RedisCheckpointSaver

        return RedisCheckpointSaver(client_factory=lambda: engine.client, aclient_factory=lambda: engine.aclient,
                                    **common)
    raise ConfigurationError(f"no checkpointer for engine kind {engine.kind!r}")
