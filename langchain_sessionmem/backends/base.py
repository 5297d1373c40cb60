"""The contracts between the store and a backend: the chat-history ``Engine`` and the backend module.

An engine knows bytes, keys, ordering, TTL and atomicity, nothing of LangChain. A session is
identified by ``(user_id, session_id)``: the same session id under two users is two sessions, so no
read path can cross users. ``user_id=None`` is the anonymous namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from .._offload import Offload
from ..records import EncodedMessage, Record, SessionInfo, SessionKey


class Engine(Protocol):
    """Storage primitives for chat sessions, each with an async twin named ``a<name>``.

    ``ttl`` (seconds) slides on every write; with ``refresh_on_read`` reads slide it too.
    """

    kind: str
    """The backend's name in the registry (``"sqlite"``, ``"redis"``, ...)."""

    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        """Append atomically, skipping ids the session holds; returns how many were added."""

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        """The last ``k`` records (all with ``None``), oldest first, in O(k)."""

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        """Records with ``start <= seq < end`` (``end=None``: to the last), oldest first."""

    def count(self, key: SessionKey) -> int:
        """How many messages the session holds (0 for a missing or expired one)."""

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        """The session's state bytes and version (``(0, None)`` before the first write)."""

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        """Write the state only if it is still at ``expected_version``."""

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        """Per-user state (entities shared by a user's sessions): not a session, never listed."""

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        """Compare-and-set of the per-user state; erased by :meth:`delete_user`."""

    def get_user_key(self, user_id: str) -> bytes | None:
        """The user's wrapped data key (per-user encryption), or ``None``."""

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        """Store ``wrapped`` as the user's data key unless one exists; return the stored one."""

    def delete_session(self, key: SessionKey) -> bool:
        """Delete one session with its state; ``False`` when there was no live one."""

    def list_sessions(self, user_id: str | None) -> list[SessionInfo]:
        """The user's live sessions, newest first."""

    def delete_user(self, user_id: str | None) -> int:
        """Erase every session, the per-user state and the data key of a user; returns sessions
        deleted. Engines that keep deleted bytes around (SQLite pages, a WAL) overwrite them."""

    def purge_expired(self) -> int:
        """Delete expired sessions where expiry is not native; returns how many."""

    def close(self) -> None:
        """Release connections the engine made (never the caller's own clients or pools)."""

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int: ...
    async def atail(self, key: SessionKey, k: int | None) -> list[Record]: ...
    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]: ...
    async def acount(self, key: SessionKey) -> int: ...
    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]: ...
    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool: ...
    async def aget_user_state(self, user_id: str) -> tuple[int, bytes | None]: ...
    async def acas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool: ...
    async def aget_user_key(self, user_id: str) -> bytes | None: ...
    async def acreate_user_key(self, user_id: str, wrapped: bytes) -> bytes: ...
    async def adelete_session(self, key: SessionKey) -> bool: ...
    async def alist_sessions(self, user_id: str | None) -> list[SessionInfo]: ...
    async def adelete_user(self, user_id: str | None) -> int: ...
    async def apurge_expired(self) -> int: ...
    async def aclose(self) -> None: ...


class Backend(Protocol):
    """What a backend package (``backends/<name>/__init__.py``) exports for the registry."""

    KIND: str

    def open_engine(
        self, url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
    ) -> Engine:
        """An engine for ``url``; takes the options it knows out of ``options``."""

    def open_saver(self, engine: Any, **options: Any) -> Any:
        """A LangGraph checkpointer sharing ``engine``'s connections."""


class OffloadedEngine(Offload):
    """Async twins for engines whose I/O is local (memory inline, SQLite in a worker thread)."""

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

    async def aget_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        return await self._offload(self.get_user_state, user_id)  # type: ignore[attr-defined]

    async def acas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        return await self._offload(self.cas_user_state, user_id, expected_version, data)  # type: ignore[attr-defined]

    async def aget_user_key(self, user_id: str) -> bytes | None:
        return await self._offload(self.get_user_key, user_id)  # type: ignore[attr-defined]

    async def acreate_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        return await self._offload(self.create_user_key, user_id, wrapped)  # type: ignore[attr-defined]

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


def redacted(url: str) -> str:
    """The URL with its password replaced, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


ANONYMOUS = ""
"""The stored user_id of anonymous sessions in SQL tables: real user ids are never empty."""


def stored_user(user_id: str | None) -> str:
    return ANONYMOUS if user_id is None else user_id


def sql_params(key: SessionKey, **extra: Any) -> dict[str, Any]:
    """Named parameters of a session's SQL statements: ``user``, ``sid`` and ``extra``."""
    return {"user": stored_user(key.user_id), "sid": key.session_id, **extra}
