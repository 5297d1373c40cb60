"""LangGraph checkpoint semantics shared by every backend's saver; no I/O here.

The concrete savers live with their backend (``backends/<name>/saver.py``); build them with
``store.checkpointer()``, or import them from here for use without a store (imported lazily, so a
backend's driver stays an optional extra).
"""

from __future__ import annotations

from typing import Any

from ..crypto import AesGcmKeyring
from .saver import OffloadedSaver, SessionSaverBase
from .serde import default_serde, encrypted_serde, strict_serde

__all__ = [
    "AesGcmKeyring",
    "MemoryCheckpointSaver",
    "OffloadedSaver",
    "PostgresCheckpointSaver",
    "RedisCheckpointSaver",
    "SessionSaverBase",
    "SqliteCheckpointSaver",
    "default_serde",
    "encrypted_serde",
    "strict_serde",
]


def __getattr__(name: str) -> Any:
    """The backend saver classes, imported on first use (a facade, not a dependency)."""
    if name == "MemoryCheckpointSaver":
        from ..backends.memory.saver import MemoryCheckpointSaver

        return MemoryCheckpointSaver
    if name == "SqliteCheckpointSaver":
        from ..backends.sqlite.saver import SqliteCheckpointSaver

        return SqliteCheckpointSaver
    if name == "RedisCheckpointSaver":
        from ..backends.redis.saver import RedisCheckpointSaver

        return RedisCheckpointSaver
    if name == "PostgresCheckpointSaver":
        from ..backends.postgres.saver import PostgresCheckpointSaver

        return PostgresCheckpointSaver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
