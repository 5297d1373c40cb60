"""Rows of a user's session listing from the index and each session's metadata, without I/O.

A listing reads the user's index (a zset by last update, ties ordered by member), a page of it
past an opaque cursor ``"<microseconds>:<session id>"``, then each session's ``:meta`` hash and
log length in one tolerant pipeline. A session whose keys were damaged (a key of another type, a
timestamp that is not a number) is skipped and logged, so it never hides the healthy ones; one
whose keys expired is dropped from the index.
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import ConfigurationError, InvalidArgumentError, SessionMemoryError
from ...records import SessionInfo, to_datetime
from .connections import Cmd
from .keys import Keys, escape, unescape

logger = logging.getLogger(__name__)


def info_cmds(keys: Keys, user_id: str | None, encoded: list[str]) -> list[Cmd]:
    """HMGET created/updated/expires and LLEN of each listed session."""
    cmds = []
    for sid in encoded:
        log, _, meta, _ = keys.session(user_id, unescape(sid))
        cmds += [Cmd("hmget", (meta, "created", "updated", "expires")), Cmd("llen", (log,))]
    return cmds


def parse_infos(
    user_id: str | None, encoded: list[str], replies: list[Any]
) -> tuple[list[SessionInfo], list[str]]:
    """(live sessions, encoded ids whose keys expired); damaged sessions are logged and skipped."""
    infos, stale = [], []
    for i, sid in enumerate(encoded):
        meta, count = replies[2 * i], replies[2 * i + 1]
        try:
            for reply in (meta, count):
                if isinstance(reply, SessionMemoryError):
                    raise reply
            created, updated, expires = meta
            if created is None:  # expired: its index entry outlived it
                stale.append(sid)
                continue
            infos.append(
                SessionInfo(
                    unescape(sid),
                    user_id,
                    to_datetime(float(created) / 1000),
                    to_datetime(float(updated or created) / 1000),
                    int(count),
                    None if expires is None else to_datetime(float(expires) / 1000),
                )
            )
        except (SessionMemoryError, ValueError, TypeError, OverflowError) as exc:
            logger.warning(
                "skipping damaged session %r of user %r in the listing: %s",
                unescape(sid),
                user_id,
                exc,
            )
    return infos, stale


ORDERS = ("updated_desc",)


def encode_cursor(info: SessionInfo) -> str:
    """The ``after=`` of the page that follows ``info``: its update time (microseconds since the
    epoch, as the other engines spell it) and its session id."""
    ms = round(info.updated_at.timestamp() * 1000)
    return f"{ms * 1000}:{info.session_id}"


def decode_cursor(cursor: object) -> tuple[int, bytes]:
    """(index score in ms, encoded member) of a cursor, or an InvalidArgumentError saying why."""
    micros, sep, session_id = cursor.partition(":") if isinstance(cursor, str) else ("", "", "")
    try:
        if not sep or not session_id:
            raise ValueError(cursor)
        ms = round(int(micros) / 1000)
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            f"after={cursor!r:.80} is not a list_sessions cursor: pass engine.cursor(info) of the "
            "last SessionInfo of the previous page, or None for the first page"
        ) from None
    return ms, escape(session_id).encode()


def check_page(limit: object, order: object) -> int | None:
    if order not in ORDERS:
        raise ConfigurationError(f"list_sessions order {order!r} is not supported: use {ORDERS}")
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidArgumentError(f"limit must be None or an int of at least 0, got {limit!r:.40}")
    return min(limit, 2**53)


def page_cmds(index: str, want: int | None, after: tuple[int, bytes] | None) -> list[Cmd]:
    """The index entries of one page, newest first: the first page, or the entries past ``after``
    (the cursor's score ties first, which the index orders by member, then older scores)."""
    if after is None:
        stop = -1 if want is None else want - 1
        return [Cmd("zrevrange", (index, 0, stop), {"withscores": True})]
    score = after[0]
    older = {"withscores": True} if want is None else {"withscores": True, "start": 0, "num": want}
    return [
        Cmd("zrevrangebyscore", (index, score, score), {"withscores": True}),
        Cmd("zrevrangebyscore", (index, f"({score}", "-inf"), older),
    ]


def page_entries(
    replies: list[Any], after: tuple[int, bytes] | None, want: int | None
) -> list[tuple[bytes, int]]:
    """(encoded member, score) of the page's entries, in listing order."""
    if after is None:
        entries = list(replies[0])
    else:
        ties = [(m, s) for m, s in replies[0] if bytes(m) < after[1]]  # descending, as ZREVRANGE
        entries = ties + list(replies[1])
    entries = [(bytes(m), int(s)) for m, s in entries]
    return entries if want is None else entries[:want]
