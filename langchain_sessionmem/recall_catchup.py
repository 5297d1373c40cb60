"""Bringing a session's lexical recall index up to its last message, as steps run sync or async.

Appends do not index (docs/recall.md, "Background work"): the store's :class:`RecallIndex`
remembers when each new message was stored and indexes the session a batch at a time, later, on
its worker thread; a recall whose scope is behind runs the same steps itself before it ranks.
Each batch reads the session's watermarks, the messages past ``indexed`` and writes their
postings only if ``indexed`` has not moved meanwhile (another process, a pop, a delete), so
several writers and removals stay consistent: whoever loses re-reads the watermarks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._steps import Steps, drive
from .codec import decode
from .errors import CorruptDataError
from .recall import IndexDocument
from .records import SessionKey

logger = logging.getLogger(__name__)

Call = tuple[Any, ...]  # ("engine", method, *args), answered by the engine (or its async twin)
_EMPTY = IndexDocument({}, 0)


def catch_up_steps(
    index: Any, key: SessionKey, sealer: Any, limit: int | None = None
) -> Steps[Call, int]:
    """Index ``key``'s messages past its watermark, ``index.batch_size`` at a time, until the
    session is caught up or ``limit`` messages were indexed; returns how many were indexed."""
    secret, done, lost = index.secret(sealer), 0, 0
    while limit is None or done < limit:
        marks = yield ("engine", "recall_marks", key)
        if marks.indexed >= marks.count:
            index.caught_up(key)
            break
        start = marks.indexed + 1
        end = min(marks.count, start + index.batch_size - 1)
        records = yield ("engine", "range", key, start, end + 1)
        found: dict[int, Any] = {}
        for seq, data in records:
            try:
                found[seq] = decode(data, session_id=key.session_id, position=seq, sealer=sealer)
            except CorruptDataError:
                logger.warning("recall indexes the unreadable message %d of %r as empty", seq, key)
        last = max(found, default=start - 1)
        if last < start:  # removed meanwhile: the watermarks say what is left
            lost += 1
            if lost > 3:
                break
            continue
        docs = [
            (
                seq,
                index.document(m, secret, index.minute_of(m)) if (m := found.get(seq)) else _EMPTY,
            )
            for seq in range(start, last + 1)
        ]
        if (yield ("engine", "recall_index", key, marks.indexed, docs)):
            done += len(docs)
            index.indexed(m for m in found.values())
        else:
            lost += 1
            if lost > 3:  # another writer keeps moving it: let that writer finish
                break
    return done


def run_sync(engine: Any, steps: Steps[Call, Any]) -> Any:
    """Drive catch-up steps with the engine's sync methods (the worker thread, ``backfill``)."""
    call: Callable[[Call], Any] = lambda c: getattr(engine, c[1])(*c[2:])  # noqa: E731
    return drive(steps, call)


def uuid7_minute(message: Any) -> int | None:
    """The minute a message was made, from its time-ordered (uuid7) id if it has one."""
    text = str(message.id or "").replace("-", "")
    if len(text) != 32 or text[12] != "7":
        return None
    try:
        return int(text[:12], 16) // 60_000
    except ValueError:
        return None
