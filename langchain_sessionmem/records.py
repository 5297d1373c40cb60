"""Plain records that cross the engine boundary: keys, session rows, state, encoded messages.

Nothing here knows LangChain, so engines can be imported and tested without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .recall.postings import IndexDocument

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

    ``generated`` ids were made by the encoder, so no session can hold them yet. ``index`` is
    the message's recall document when the store keeps a recall index (the engine writes its
    postings in the same atomic write as the message); ``None`` costs nothing.
    """

    id: str
    data: bytes
    generated: bool = False
    index: IndexDocument | None = None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|)\s*$")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def ttl_seconds(ttl: timedelta | float | str | None) -> float | None:
    """A positive TTL in seconds from a ``timedelta``, a number of seconds or a duration text
    (``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``); ``None`` is no expiry."""
    if ttl is None:
        return None
    if isinstance(ttl, str):
        match = _DURATION.match(ttl)
        if not match:
            raise ConfigurationError(
                f"ttl {ttl!r} is not a duration: write e.g. '7d', '12h', '30m', '90s', a number "
                "of seconds or timedelta(days=7)"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise ConfigurationError(
            f"ttl must be a timedelta, a number of seconds or a duration like '7d', got "
            f"{type(ttl).__name__}"
        )
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError(
            f"ttl must be positive and finite, got {ttl!r}: pass e.g. ttl='7d', or None"
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
