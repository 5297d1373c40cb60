"""Storage engines: memory, SQLite and Redis. They know bytes, keys, order, TTL and atomicity."""

from .base import Engine, SessionInfo, SessionKey, SessionState

__all__ = ["Engine", "SessionInfo", "SessionKey", "SessionState"]
