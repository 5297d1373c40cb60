"""Plain records that cross the engine boundary: keys, session rows, state, encoded messages.

Nothing here knows LangChain, so engines can be imported and tested without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ConfigurationError

Record = tuple[int, bytes]
"""A stored message as an engine returns it: ``(seq, bytes)``, seq being its 1-based position."""


@dataclass(frozen=True)
class SessionKey:
    """Where a session lives: sessions of two users never share a key, whatever their ids."""

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
class ThreadInfo:
    """One checkpointer thread of a user, for ``list_threads`` (operators, ``sessionmem threads``)."""

    thread_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    checkpoints: int


@dataclass(frozen=True)
class SessionState:
    """A session's small state dict and its version, for compare-and-set updates."""

    version: int = 0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodedMessage:
    """A message ready for an engine: its stable id and its bytes.

    ``generated`` ids were made by the encoder, so no session can hold them yet.
    """

    id: str
    data: bytes
    generated: bool = False


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


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def to_optional_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else to_datetime(epoch)
