"""Driver errors caused by the caller's values (not by the server), as typed errors naming them.

PostgreSQL text cannot hold NUL or lone surrogates, JSONB cannot hold ``\\u0000``, and numbers
have ranges: psycopg reports these as ``UnicodeEncodeError`` or ``DataError`` subclasses, which
callers of this package should never have to know.
"""

from __future__ import annotations

import psycopg

from ...errors import InvalidArgumentError, InvalidIdError, SerializationError


def typed_error(exc: BaseException) -> Exception | None:
    """A typed error for values PostgreSQL cannot take (the caller's input), else ``None``."""
    if isinstance(exc, UnicodeEncodeError):
        return InvalidIdError(
            "a value contains a lone surrogate (not valid UTF-8), which PostgreSQL cannot "
            f"store: {exc.object[max(0, exc.start - 20) : exc.end + 20]!r}; pass whole characters"
        )
    if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
        return InvalidIdError(
            "a text value contains a NUL character (\\x00), which PostgreSQL text cannot store: "
            "remove it from ids and metadata"
        )
    if isinstance(exc, psycopg.errors.UntranslatableCharacter):
        return SerializationError(
            f"PostgreSQL cannot store a value of this call ({exc.diag.message_primary}): JSON "
            "metadata cannot hold the character \\u0000"
        )
    if isinstance(exc, psycopg.errors.NumericValueOutOfRange):
        return InvalidArgumentError(
            f"a number of this call is out of PostgreSQL's range ({exc.diag.message_primary})"
        )
    return None
