"""Validation of the ids that become storage keys, and time-ordered message ids."""

from __future__ import annotations

import os
import time
from typing import Any

from .errors import InvalidIdError

MAX_ID_LENGTH = 256


def validate_id(value: object, kind: str = "session_id") -> str:
    """Return ``value`` if it is a usable id, else raise :class:`InvalidIdError` saying why."""
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isascii()
        and value.isprintable()
    ):
        return value  # the usual id, accepted by the same rules as below at a tenth of the cost
    if not isinstance(value, str):
        raise InvalidIdError(
            f"{kind} must be a str, got {type(value).__name__}: pass e.g. {kind}='abc-123'"
        )
    if not value:
        raise InvalidIdError(f"{kind} is empty: pass a non-empty id, e.g. {kind}='abc-123'")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(
            f"{kind} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}: use a shorter id or a hash of it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidIdError(
            f"{kind} is not valid UTF-8 text (it holds the lone surrogate "
            f"{value[exc.start]!r} at position {exc.start}): pass a str of whole characters"
        ) from None
    bad = next((c for c in value if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise InvalidIdError(
            f"{kind} contains the control character {bad!r}: use printable characters only"
        )
    return value


def validate_user_id(value: object) -> str | None:
    """``None`` (or :data:`ANONYMOUS`) is the anonymous namespace; anything else a valid id."""
    return None if value is None or value is ANONYMOUS else validate_id(value, "user_id")


class _Anonymous:
    """The type of :data:`ANONYMOUS`: a marker, not a user id (no user id has special meaning)."""

    _instance: _Anonymous | None = None

    def __new__(cls) -> _Anonymous:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANONYMOUS"

    def __reduce__(self) -> str:
        return "ANONYMOUS"


ANONYMOUS: Any = _Anonymous()
"""Pass ``user_id=ANONYMOUS`` to use the shared anonymous namespace on purpose."""


class _Missing:
    def __repr__(self) -> str:
        return "<no user_id>"


MISSING: Any = _Missing()
"""The default of ``user_id`` parameters: "not given", which only a store with
``allow_anonymous=True`` accepts."""


def resolve_user_id(value: object, *, allow_anonymous: bool, where: str) -> str | None:
    """The user id to scope by: a valid id, or ``None`` for an explicit or allowed anonymous one.

    Forgetting ``user_id`` is an error unless the store allows anonymous use, so sessions of
    different people never land in one shared namespace by accident.
    """
    if value is ANONYMOUS:
        return None
    if value is MISSING or value is None:
        if allow_anonymous:
            return None
        raise InvalidIdError(
            f"{where} needs a user_id: pass user_id='<the signed-in user>', or "
            "user_id=ANONYMOUS (from langchain_sessionmem) for the shared anonymous namespace, "
            "or build the store with allow_anonymous=True"
        )
    return validate_id(value, "user_id")


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7) as a string: ids sort by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand >> 68 & 0xFFF) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
