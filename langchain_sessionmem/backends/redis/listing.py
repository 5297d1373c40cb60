"""Rows of a user's session listing from the index and each session's metadata, without I/O.

A listing reads the user's index (a zset by last update), then each session's ``:meta`` hash and
log length in one tolerant pipeline. A session whose keys were damaged (a key of another type, a
timestamp that is not a number) is skipped and logged, so it never hides the healthy ones; one
whose keys expired is dropped from the index.
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import SessionMemoryError
from ...records import SessionInfo, to_datetime
from .connections import Cmd
from .keys import Keys, unescape

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
