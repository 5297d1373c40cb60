"""One recall on a store's history: the core's steps answered with engine reads, decoding and units.

:func:`search_steps` drives :func:`langchain_sessionmem.recall.recall_steps` and turns its
requests into engine calls (postings, vectors, fetches), the query's embedding and the owner's
sealer, each yielded as a step, so ``SessionHistory.recall`` and ``arecall`` share every line.
A fetched message inside a tool-call unit is answered with its whole unit (or dropped if the
unit is incomplete), so recall never splits a tool call from its results. Before ranking, the
scope's sessions this process appended to, and any the postings read finds a few messages behind
(another process's appends), are indexed to their end (:mod:`.recall_catchup`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from ._steps import Steps
from .backends.recall import LexicalRows, RecallScope
from .codec import decode
from .errors import ConfigurationError, CorruptDataError
from .recall import (
    DenseRequest,
    FetchRequest,
    LexicalRequest,
    Recalled,
    RecallParams,
    Turn,
    VectorRows,
    date_label,
    doc_key,
    lexical_top,
    normalized,
    recall_steps,
    split_doc_key,
)
from .recall.result import RecallResult, finished
from .recall_catchup import catch_up_steps
from .recall_index import RecallIndex
from .records import SessionKey

logger = logging.getLogger(__name__)

Call = tuple[Any, ...]  # ("engine", method, *args) | ("embed", text) | ("sealer",)
UNIT_REACH = 8
"""How far around a tool message a fetch looks for the rest of its unit."""


def recall_scope(user_id: str | None, session_id: str, scope: str) -> RecallScope:
    """The scope of a recall from a session: the session itself, or every live session of
    its user (an anonymous session is its own scope: anonymous sessions are nobody's)."""
    if scope == "session" or (scope == "user" and user_id is None):
        return RecallScope(user_id, session_id)
    if scope == "user":
        return RecallScope(user_id)
    raise ConfigurationError(f"recall scope must be 'session' or 'user', got {scope!r}")


def search_steps(
    index: RecallIndex,
    scope: RecallScope,
    query: str,
    budget: int,
    *,
    cost: Callable[[list[BaseMessage]], int],
    header_cost: Callable[[Any], int] | None = None,
    fixed_cost: int = 0,
    exclude: Collection[tuple[str, str]] = (),
    dense: bool | None = None,
    params: RecallParams | None = None,
) -> Steps[Call, RecallResult]:
    """The steps of one recall over ``scope`` (see the module docstring)."""
    sealer = yield ("sealer",)
    secret = index.secret(sealer)
    for key in index.behind(scope):  # appended here: index the tail before ranking
        yield from catch_up_steps(index, key, sealer, index.catch_up)
    use_dense = index.dense if dense is None else dense and index.dense
    sessions: dict[int, str] = {}
    core = recall_steps(
        query,
        budget,
        secret=secret,
        fixed_cost=fixed_cost,
        header_cost=header_cost,
        dense=use_dense,
        params=params,
    )
    reply: Any = None
    while True:
        try:
            request = core.send(reply)
        except StopIteration as done:
            recalled: Recalled = done.value
            break
        if isinstance(request, LexicalRequest):
            rows: LexicalRows = yield ("engine", "recall_postings", scope, request.terms)
            if rows.stale and rows.behind <= index.catch_up:  # another writer's newest messages
                done = 0
                for sid in rows.stale:
                    key = SessionKey(sid, scope.user_id)
                    done += yield from catch_up_steps(index, key, sealer, index.catch_up)
                if done:
                    rows = yield ("engine", "recall_postings", scope, request.terms)
            sessions.update(rows.sessions)
            if rows.stale:
                index.stale(scope.user_id, rows.stale)
            if rows.compact:
                index.schedule("compact", SessionKey("", scope.user_id))
            reply = lexical_top(
                request.terms,
                rows.blobs,
                rows.n_docs,
                rows.total_len,
                request.limit,
                request.time_ranges,
                live=rows.sessions,
            )
        elif isinstance(request, DenseRequest):
            reply = yield from _dense(index, scope, request, sessions, sealer)
        else:
            assert isinstance(request, FetchRequest)
            reply = yield from _fetch(
                index, scope, request.keys, sessions, sealer, cost, set(exclude)
            )
    options = {"fixed_cost": fixed_cost, "header_cost": header_cost}
    return finished(recalled, options)


def _dense(
    index: RecallIndex,
    scope: RecallScope,
    request: DenseRequest,
    sessions: dict[int, str],
    sealer: Any,
) -> Steps[Call, list[tuple[int, int]]]:
    """Embed the query, read the vectors stored since the last turn, search the cache."""
    vector = normalized((yield ("embed", request.query)))
    cache, key = index.vectors, index.scope_key(scope)
    epoch, cursor = cache.position(key)
    rows: VectorRows = yield ("engine", "recall_vectors", scope, epoch, cursor)
    sessions.update(rows.sessions)
    opened = None
    if sealer is not None:
        names = dict(rows.sessions)

        def opened(doc: int, blob: bytes) -> bytes:
            no, seq = split_doc_key(doc)
            return sealer.open(blob, "session", names.get(no, ""), "vector", str(seq))  # type: ignore[no-any-return]

    cache.update(key, rows, opened)
    hits = cache.search(key, vector, request.limit + 16)
    return [(d, m) for d, m in hits if (d >> 32) in rows.sessions][: request.limit]


def _fetch(
    index: RecallIndex,
    scope: RecallScope,
    keys: Sequence[int],
    sessions: dict[int, str],
    sealer: Any,
    cost: Callable[[list[BaseMessage]], int],
    exclude: set[tuple[str, str]],
) -> Steps[Call, dict[int, Turn]]:
    """The turns of ``keys``: decoded, grown to whole tool-call units, window messages left out."""
    want = [(no, seq) for no, seq in map(split_doc_key, keys) if no in sessions]
    got = yield from _read(index, scope, [(sessions[no], seq) for no, seq in want], sealer)
    around = {
        (sid, seq + off)
        for (sid, seq), (message, _) in got.items()
        if _in_unit(message)
        for off in range(-UNIT_REACH, UNIT_REACH + 1)
    } - got.keys()
    if around:
        got.update((yield from _read(index, scope, sorted(around), sealer)))
    numbers = {sid: no for no, sid in sessions.items()}
    out: dict[int, Turn] = {}
    for no, seq in want:
        sid = sessions[no]
        unit = _unit(got, sid, seq)
        if unit is None:
            continue
        messages = [got[(sid, s)][0] for s in unit]
        if any((sid, str(m.id)) in exclude for m in messages) or all(
            isinstance(m, SystemMessage) for m in messages
        ):
            continue  # the window holds it, or it is an instruction, not conversation
        minute = next((got[(sid, s)][1] for s in unit if got[(sid, s)][1]), None)
        group = date_label(minute) if minute else None
        order = (minute or 0, numbers[sid], unit[0])
        payload = (sid, tuple(unit), messages, minute)
        start = doc_key(no, unit[0])
        out[doc_key(no, seq)] = Turn(start, order, sid, cost(messages), group, payload)
    return out


def _read(
    index: RecallIndex, scope: RecallScope, keys: Sequence[tuple[str, int]], sealer: Any
) -> Steps[Call, dict[tuple[str, int], tuple[BaseMessage, int | None]]]:
    if not keys:
        return {}
    rows = yield ("engine", "recall_fetch", scope, list(keys))
    out = {}
    cache = index.decoded
    for (sid, seq), (data, minute) in rows.items():
        message = cache.get((sid, seq, data))
        if message is None:
            try:
                message = decode(data, session_id=sid, position=seq, sealer=sealer)
            except CorruptDataError:
                logger.warning("recall skips the unreadable message %d of session %r", seq, sid)
                continue
            cache.put((sid, seq, data), message)
        out[(sid, seq)] = (message, minute)
    return out


def _in_unit(message: BaseMessage) -> bool:
    return isinstance(message, ToolMessage) or bool(
        isinstance(message, AIMessage) and message.tool_calls
    )


def _unit(
    got: dict[tuple[str, int], tuple[BaseMessage, Any]], sid: str, seq: int
) -> list[int] | None:
    """The seqs of the whole unit holding ``(sid, seq)``, or ``None`` if it is not whole here."""
    message = got.get((sid, seq), (None,))[0]
    if message is None:
        return None
    if not _in_unit(message):
        return [seq]
    start = seq
    while isinstance(got.get((sid, start), (None,))[0], ToolMessage):
        start -= 1
    head = got.get((sid, start), (None,))[0]
    if not (isinstance(head, AIMessage) and head.tool_calls):
        return None  # an orphan tool result, or its call lies beyond what was read
    pending = {c.get("id") for c in head.tool_calls}
    unit, nxt = [start], start + 1
    while pending:
        answer = got.get((sid, nxt), (None,))[0]
        if not (isinstance(answer, ToolMessage) and answer.tool_call_id in pending):
            return None  # a call without all its results: never recalled half
        pending.discard(answer.tool_call_id)
        unit.append(nxt)
        nxt += 1
    return unit
