"""Checks of engine arguments at the backend edge, and the ``list_sessions`` page cursor.

Engines are called by the store and histories (which validate first) but also directly; every
public engine method either works or raises a :class:`SessionMemoryError` subclass naming the
problem, never a driver's ``OverflowError`` or ``UnicodeEncodeError``. The cursor is spelled as on
every engine: ``"<updated_at in microseconds since the epoch>:<session_id>"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ..errors import ConfigurationError, InvalidArgumentError, InvalidIdError
from ..ids import validate_id, validate_user_id
from ..records import EncodedMessage, SessionInfo, SessionKey

BIG = 2**62
"""Bounds beyond this are clamped: no history is that long, and SQLite integers stop at 2**63."""
ORDERS = ("updated_desc",)


def check_key(key: object) -> SessionKey:
    """A ``SessionKey`` whose ids can become storage keys."""
    if not isinstance(key, SessionKey):
        raise InvalidArgumentError(f"expected a SessionKey, got {type(key).__name__}")
    validate_id(key.session_id, "session_id")
    validate_user_id(key.user_id)
    return key


def check_user(user_id: object, *, anonymous: bool = False) -> str | None:
    """A user id (``None`` only where the anonymous namespace is meant: ``anonymous=True``)."""
    if user_id is None and anonymous:
        return None
    return validate_id(user_id, "user_id")


def check_int(value: object, name: str, *, low: int = -BIG) -> int:
    """An int (not a bool) clamped to ``[low, BIG]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r:.40}")
    return max(low, min(BIG, value))


def check_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidArgumentError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def check_messages(messages: object) -> list[EncodedMessage]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidArgumentError(
            f"messages must be a sequence of EncodedMessage, got {type(messages).__name__}"
        )
    out = []
    for m in messages:
        if not isinstance(m, EncodedMessage):
            raise InvalidArgumentError(f"expected an EncodedMessage, got {type(m).__name__}")
        validate_id(m.id, "message id")
        check_bytes(m.data, f"the data of message {m.id!r}")
        out.append(m)
    return out


def check_page(limit: object, order: object) -> int | None:
    if order not in ORDERS:
        raise ConfigurationError(f"list_sessions order {order!r} is not supported: use {ORDERS}")
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgumentError(f"limit must be None or an int of at least 0, got {limit!r:.40}")
    return min(limit, BIG)


def micros(epoch: float) -> int:
    """Epoch seconds as whole microseconds (how cursors compare update times)."""
    return round(epoch * 1_000_000)


def encode_cursor(info: SessionInfo) -> str:
    """The ``after=`` of the page that follows ``info`` (the last row of a page)."""
    return f"{micros(info.updated_at.timestamp())}:{info.session_id}"


def decode_cursor(cursor: object) -> tuple[int, str]:
    """(updated_at in microseconds, session_id) of a cursor, or an error saying what to pass."""
    stamp, sep, session_id = cursor.partition(":") if isinstance(cursor, str) else ("", "", "")
    try:
        if not sep:
            raise ValueError(cursor)
        return int(stamp), validate_id(session_id, "session_id")
    except (ValueError, InvalidIdError):
        raise InvalidArgumentError(
            f"after={cursor!r:.80} is not a list_sessions cursor: pass engine.cursor(info) of the "
            "last SessionInfo of the previous page, or None for the first page"
        ) from None


def to_datetime_checked(epoch: object) -> datetime:
    """A stored timestamp as a datetime; a damaged one raises ``ValueError`` (rows are skipped)."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        raise ValueError(f"timestamp {epoch!r:.40} is not a number")
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp {epoch!r} is out of range") from exc
