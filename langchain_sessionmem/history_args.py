"""The arguments a history checks before they reach an engine (counts, positions, pages), and
a state dict as the JSON bytes it is stored as."""

from __future__ import annotations

import json
from typing import Any

from .codec import MAX_DEPTH, depth_ok
from .errors import InvalidArgumentError, SerializationError

MAX_K = 2**31 - 1
"""The largest ``k`` or position a read accepts (engines index with 32- or 64-bit integers)."""


def check_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_K:
        raise InvalidArgumentError(f"{name} must be an int from 0 to {MAX_K}, got {value!r}")
    return value


def bounds(start: object, end: object) -> tuple[int, int | None]:
    """Validated range bounds; a start below 1 reads from the first message."""
    if not isinstance(start, int) or isinstance(start, bool) or abs(start) > MAX_K:
        raise InvalidArgumentError(f"start_seq must be an int of at most {MAX_K}, got {start!r}")
    if end is not None and (not isinstance(end, int) or isinstance(end, bool) or abs(end) > MAX_K):
        raise InvalidArgumentError(
            f"end_seq must be None or an int of at most {MAX_K}, got {end!r}"
        )
    return max(start, 1), end


def page_bounds(before: int, limit: int) -> tuple[int, int]:
    end = check_int(before, "before")
    return max(1, end - check_int(limit, "limit")), end


def dump_state(data: dict[str, Any], what: str = "state") -> bytes:
    if not isinstance(data, dict):
        raise SerializationError(f"session {what} must be a dict, got {type(data).__name__}")
    if not depth_ok(data):
        raise SerializationError(f"session {what} nests more than {MAX_DEPTH} levels deep")
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError, UnicodeError) as exc:
        raise SerializationError(
            f"session {what} cannot be stored as JSON: {exc}; keep it to JSON types"
        ) from exc
