"""What every engine offers: bytes, keys, ordering, TTL and atomicity; nothing of LangChain.

A session is identified by (user_id, session_id): the same session id under two users is two
sessions, so no read path can cross users. ``user_id=None`` is the anonymous namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..codec import EncodedMessage
from ..errors import ConfigurationError

#: Records are (seq, bytes): seq is the 1-based position of the message in its session log.
Record = tuple[int, bytes]


@dataclass(frozen=True)
class SessionKey:
    session_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    """One row of :meth:`SessionStore.list_sessions`."""

    session_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    expires_at: datetime | None


@dataclass(frozen=True)
class SessionState:
    """A session's small state dict and its version, for compare-and-set updates."""

    version: int = 0
    data: dict[str, Any] = field(default_factory=dict)


def ttl_seconds(ttl: timedelta | float | None) -> float | None:
    """A positive TTL in seconds from a ``timedelta`` or a number of seconds; ``None`` is no expiry."""
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if seconds <= 0:
        raise ConfigurationError(
            f"ttl must be positive, got {ttl!r}: pass e.g. ttl=timedelta(days=7), or None"
        )
    return seconds


ANONYMOUS = ""
"""The stored user_id of anonymous sessions in SQL tables: real user ids are never empty."""


def stored_user(user_id: str | None) -> str:
    return ANONYMOUS if user_id is None else user_id


def sql_params(key: SessionKey, **extra: Any) -> dict[str, Any]:
    """Named parameters of a session's SQL statements: ``:user``, ``:sid`` and ``extra``."""
    return {"user": stored_user(key.user_id), "sid": key.session_id, **extra}


def redacted(url: str) -> str:
    """The URL with its password replaced, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def to_optional_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else to_datetime(epoch)


class Engine(Protocol):
    """Storage primitives, sync and async twins. ``ttl`` (seconds) slides on every write."""

    kind: str

    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int: ...
    def tail(self, key: SessionKey, k: int | None) -> list[Record]: ...
    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]: ...
    def count(self, key: SessionKey) -> int: ...
    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]: ...
    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool: ...
    def delete_session(self, key: SessionKey) -> bool: ...
    def list_sessions(self, user_id: str | None) -> list[SessionInfo]: ...
    def delete_user(self, user_id: str | None) -> int: ...
    def purge_expired(self) -> int: ...
    def close(self) -> None: ...

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int: ...
    async def atail(self, key: SessionKey, k: int | None) -> list[Record]: ...
    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]: ...
    async def acount(self, key: SessionKey) -> int: ...
    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]: ...
    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool: ...
    async def adelete_session(self, key: SessionKey) -> bool: ...
    async def alist_sessions(self, user_id: str | None) -> list[SessionInfo]: ...
    async def adelete_user(self, user_id: str | None) -> int: ...
    async def apurge_expired(self) -> int: ...
    async def aclose(self) -> None: ...


def unique_new(
    messages: Sequence[EncodedMessage], known: set[str] | frozenset[str]
) -> list[EncodedMessage]:
    """Messages whose id is neither already stored nor repeated earlier in the batch."""
    seen = set(known)
    fresh = []
    for message in messages:
        if message.id not in seen:
            seen.add(message.id)
            fresh.append(message)
    return fresh


class SyncBackedAsync:
    """Async twins for engines whose I/O is local: each ``aX`` runs ``X`` through ``_offload``.

    The SQLite engine offloads to a worker thread so the event loop never blocks; the memory
    engine runs inline because it does no I/O.
    """

    async def _offload(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return await self._offload(self.append, key, messages)  # type: ignore[attr-defined]

    async def atail(self, key: SessionKey, k: int | None) -> list[Record]:
        return await self._offload(self.tail, key, k)  # type: ignore[attr-defined]

    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return await self._offload(self.range, key, start, end)  # type: ignore[attr-defined]

    async def acount(self, key: SessionKey) -> int:
        return await self._offload(self.count, key)  # type: ignore[attr-defined]

    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return await self._offload(self.get_state, key)  # type: ignore[attr-defined]

    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return await self._offload(self.cas_state, key, expected_version, data)  # type: ignore[attr-defined]

    async def adelete_session(self, key: SessionKey) -> bool:
        return await self._offload(self.delete_session, key)  # type: ignore[attr-defined]

    async def alist_sessions(self, user_id: str | None) -> list[SessionInfo]:
        return await self._offload(self.list_sessions, user_id)  # type: ignore[attr-defined]

    async def adelete_user(self, user_id: str | None) -> int:
        return await self._offload(self.delete_user, user_id)  # type: ignore[attr-defined]

    async def apurge_expired(self) -> int:
        return await self._offload(self.purge_expired)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        self.close()  # type: ignore[attr-defined]
