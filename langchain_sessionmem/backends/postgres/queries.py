"""A plan's vocabulary: :class:`Query` (one statement), ``Plan`` (a generator of them), :class:`Run`."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal, NamedTuple, TypeVar

from ...errors import InvalidArgumentError

T = TypeVar("T")
Fetch = Literal["none", "all"]


class Query(NamedTuple):
    """One statement of a plan; ``fetch="all"`` returns its rows to the plan.

    ``prepare`` marks the fixed statements of every call: the server parses and plans them once
    per connection (psycopg ``prepare=True``) unless the connections turn preparing off.
    ``binary`` asks for rows in binary: stored bytes then travel as they are, not hex-escaped.
    """

    sql: str
    params: dict[str, Any] | tuple[Any, ...] | None = None
    fetch: Fetch = "none"
    prepare: bool = False
    binary: bool = False


Plan = Generator[Query, Any, T]
"""A generator of queries receiving their rows: one operation's logic, for sync and async."""


class Run(NamedTuple):
    """Run one plan on one connection, in autocommit or (``write``) as one transaction."""

    plan: Plan[Any]
    write: bool = False


BIG = 2**62
"""Bounds and counts are clamped to this: past it every session is shorter (BIGINT is 2**63-1)."""


def clamp(value: int, name: str = "a bound") -> int:
    """``value`` within +-BIG; a non-integer is an :class:`InvalidArgumentError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r}")
    return max(-BIG, min(BIG, value))


def hot(sql: str, params: dict[str, Any], fetch: Fetch = "none", binary: bool = False) -> Query:
    """A statement of the hot path, prepared once per connection."""
    return Query(sql, params, fetch, prepare=True, binary=binary)
