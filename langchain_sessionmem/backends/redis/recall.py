"""The Redis engine's recall index: packed postings per user, kept by the package (no modules).

Keys, all under the user's hash tag (one slot: Cluster safe), prefix ``<tag>:rx:``:
``p:<term>`` (STRING: 16-byte records, ``APPEND``), ``sess`` (HASH: ``n:<number>`` -> session,
``#`` the last number), ``terms`` and ``ts:<session>`` (SETs of postings keys, for erasing and
compacting), ``min`` (HASH: message times), ``v`` (STRING: vector records) and ``ve`` (its
epoch). A session's number and watermarks live in its ``meta`` hash, so they expire and go with
it; a record whose number is no longer its session's is dead and skipped, and compaction
(:meth:`RedisRecall.recall_compact`, in the background) rewrites it away. An append of indexed
messages is one script (``lua/recall_append.lua``): the messages and their postings are one
atomic write.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Sequence
from typing import Any

from ...recall import IndexDocument, VectorRows, doc_key, minute_of
from ...records import EncodedMessage, SessionKey
from ..recall import Fetched, LexicalRows, RecallMarks, RecallScope
from .connections import Cmd, Pipe, Script
from .keys import escape, unescape
from .scripts import script

_VECTOR_HEAD = struct.Struct("<IIII")  # seq, number, minute, blob length
SCOPE_SECONDS = 2.0
"""How long a user's session watermarks are reused while the user's session list and numbers
are unchanged (every read still checks both): counters drift by at most this, and a message is
fetched only from a session that is live at fetch time."""
_SCOPES: dict[Any, tuple[float, Any, Any]] = {}
_U16 = 0xFFFF


def forget_scopes(namespace: Any, user_id: str | None) -> None:
    """Drop the held watermarks of a user's scopes (after this process indexed one)."""
    for signature in [s for s in list(_SCOPES) if s[0] == namespace and s[1] == user_id]:
        _SCOPES.pop(signature, None)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRecall:
    """Recall primitives of :class:`~.engine.RedisEngine` (mixed into it)."""

    # -- key names -------------------------------------------------------------------------
    def _rx(self, user_id: str | None) -> str:
        return f"{self.keys.tag(user_id)}:rx:"  # type: ignore[attr-defined]

    def _fixed(self, user_id: str | None, session_id: str) -> list[str]:
        """rx:sess, rx:terms, rx:ts:<session>, rx:min."""
        rx = self._rx(user_id)
        return [rx + "sess", rx + "terms", rx + "ts:" + escape(session_id), rx + "min"]

    def _documents(
        self, user_id: str | None, docs: Sequence[IndexDocument]
    ) -> tuple[list[str], list[Any]]:
        """Postings keys of the documents' terms, and each document's ARGV part."""
        rx, slots, args = self._rx(user_id), {}, []
        stamp = minute_of(self.clock())  # type: ignore[attr-defined]
        for doc in docs:
            args += [
                stamp if doc.minute is None else doc.minute,
                min(doc.length, _U16),
                len(doc.terms),
            ]
            for term, tf in doc.terms.items():
                slot = slots.setdefault(term, len(slots) + 1)
                args += [slot, min(tf, _U16)]
        return [rx + "p:" + t for t in slots], args

    # -- the append path (one hook in RedisEngine._append) -----------------------------------
    def _recall_append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> Any:
        postings, documents = self._documents(key.user_id, [m.index for m in messages])  # type: ignore[misc]
        args = [*self._touch_args(key), len(messages)]  # type: ignore[attr-defined]
        for message in messages:
            args += [message.id, message.data]
        keys = [*self.keys.touch_keys(key), *self._fixed(key.user_id, key.session_id), *postings]  # type: ignore[attr-defined]
        added, _, before, no, indexed = yield Script(
            script("recall_append"), keys, args + documents
        )
        if added == len(messages) and indexed > before:  # a pop left records past the end
            yield from self._purge(key, int(no), int(before))
            yield from self._recall_index(
                key,
                int(before),
                [(before + i + 1, m.index) for i, m in enumerate(messages)],  # type: ignore[misc]
            )
        return int(added)

    def _purge(self, key: SessionKey, no: int, keep: int) -> Any:
        rx = self._rx(key.user_id)
        sess, terms, ts, minutes = self._fixed(key.user_id, key.session_id)
        postings = [_text(k) for k in (yield Cmd("smembers", (ts,)))]
        meta = self.keys.session(key.user_id, key.session_id)[2]  # type: ignore[attr-defined]
        keys = [sess, terms, minutes, rx + "v", rx + "ve", meta, *postings]
        yield Script(script("recall_compact"), keys, ["1", no, keep, escape(key.session_id)])

    def _recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> Any:
        log, _, meta, _ = self.keys.session(key.user_id, key.session_id)  # type: ignore[attr-defined]
        sess, terms, ts, minutes = self._fixed(key.user_id, key.session_id)
        postings, documents = self._documents(key.user_id, [d for _, d in docs])
        if any(seq != after + i + 1 for i, (seq, _) in enumerate(docs)):
            return False
        keys = [meta, log, sess, terms, ts, minutes, *postings]
        args = [after, len(docs), escape(key.session_id), *documents]
        done = bool((yield Script(script("recall_index"), keys, args)))
        if done:  # this process's reads see the new watermark at once
            forget_scopes(self.keys.namespace, key.user_id)  # type: ignore[attr-defined]
        return done

    # -- scope reads -----------------------------------------------------------------------
    def _live(self, scope: RecallScope, extra: Sequence[Cmd] = ()) -> Any:
        """The scope's live sessions ``{number: (id, count, indexed, docs, length, embedded)}``,
        the live sessions not indexed to their end, the numbers that died, and the replies to
        ``extra`` (sent in the first round trip): one round trip for a session, two for a user."""
        if scope.session_id is not None:
            sids, numbered, head = [escape(scope.session_id)], None, list(extra)
        else:
            index, sess = self.keys.index(scope.user_id), self._rx(scope.user_id) + "sess"  # type: ignore[attr-defined]
            found = yield Pipe([*extra, Cmd("zrange", (index, 0, -1)), Cmd("hgetall", (sess,))])
            head, (listed, pairs) = found[: len(extra)], found[len(extra) :]
            numbered, version = {}, None
            for field, value in (pairs or {}).items():
                name = _text(field)
                if name.startswith("n:"):
                    numbered[_int(name[2:])] = _text(value)
                elif name == "#":
                    version = _int(value)
            sids = sorted({_text(v) for v in listed} | set(numbered.values()))
            signature = (self.keys.namespace, scope.user_id, tuple(sids), version)  # type: ignore[attr-defined]
            held = _SCOPES.get(signature)
            if held is not None and time.monotonic() - held[0] < SCOPE_SECONDS:
                return held[1], held[2], [], head  # the same sessions: skip their watermarks
        cmds = list(extra) if numbered is None else []
        for sid in sids:
            log, _, meta, _ = self.keys.session(scope.user_id, unescape(sid))  # type: ignore[attr-defined]
            cmds += [Cmd("hmget", (meta, "rx", "rxi", "rxn", "rxl", "rxe")), Cmd("llen", (log,))]
        replies = (yield Pipe(cmds)) if cmds else []
        if numbered is None:
            head, replies = replies[: len(extra)], replies[len(extra) :]
        live, current, stale = {}, {}, {}  # stale: session -> messages not indexed
        for i, sid in enumerate(sids):
            (no, ix, n, length, emb), count = replies[2 * i], replies[2 * i + 1]
            if no is None:
                if _int(count):
                    stale[unescape(sid)] = _int(count)  # not indexed yet
                continue
            current[sid] = _int(no)
            row = (unescape(sid), _int(count), _int(ix), _int(n), _int(length), _int(emb))
            live[_int(no)] = row
            if row[2] < row[1]:
                stale[row[0]] = row[1] - row[2]
        dead = (
            []
            if numbered is None
            else [(no, sid) for no, sid in numbered.items() if current.get(sid) != no]
        )
        if numbered is not None and not dead:
            if len(_SCOPES) > 4096:
                _SCOPES.clear()
            _SCOPES[signature] = (time.monotonic(), live, stale)
        return live, stale, dead, head

    def _recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> Any:
        rx = self._rx(scope.user_id)
        gets = [Cmd("get", (rx + "p:" + t,)) for t in terms]
        live, stale, dead, blobs = yield from self._live(scope, gets)
        return LexicalRows(
            n_docs=sum(s[3] for s in live.values()),
            total_len=sum(s[4] for s in live.values()),
            blobs=[bytes(b) if b else None for b in blobs],
            sessions={no: s[0] for no, s in live.items()},
            stale=list(stale),
            behind=sum(stale.values()),
            compact=bool(dead),
        )

    def _recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Any:
        wanted = [(sid, seq) for sid, seq in keys if scope.session_id in (None, sid) and seq >= 1]
        if not wanted:
            return {}
        session = self.keys.session  # type: ignore[attr-defined]
        sids = sorted({sid for sid, _ in wanted})
        fields = [struct.pack("<I", seq) + escape(sid).encode() for sid, seq in wanted]
        cmds = [Cmd("hget", (session(scope.user_id, sid)[2], "rx")) for sid in sids]
        cmds.append(Cmd("hmget", (self._rx(scope.user_id) + "min", *fields)))
        cmds += [Cmd("lindex", (session(scope.user_id, sid)[0], seq - 1)) for sid, seq in wanted]
        replies = yield Pipe(cmds)
        live = {sid for sid, no in zip(sids, replies, strict=False) if no is not None}
        minutes, rows = replies[len(sids)], replies[len(sids) + 1 :]
        out: Fetched = {}
        for (sid, seq), data, minute in zip(wanted, rows, minutes, strict=True):
            if sid in live and data is not None:
                out[(sid, seq)] = (bytes(data), _int(minute) or None)
        return out

    def _recall_marks(self, key: SessionKey) -> Any:
        log, _, meta, _ = self.keys.session(key.user_id, key.session_id)  # type: ignore[attr-defined]
        (no, ix, emb), count = yield Pipe(
            [Cmd("hmget", (meta, "rx", "rxi", "rxe")), Cmd("llen", (log,))]
        )
        if no is None:
            return RecallMarks(_int(count), 0, 0)
        return RecallMarks(_int(count), _int(ix), _int(emb))

    def _recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> Any:
        log, _, meta, _ = self.keys.session(key.user_id, key.session_id)  # type: ignore[attr-defined]
        rx = self._rx(key.user_id)
        args: list[Any] = [after, int.from_bytes(os.urandom(6), "big"), escape(key.session_id)]
        for seq, blob in rows:
            args += [seq, blob]
        keys = [meta, log, rx + "v", rx + "ve", rx + "min"]
        return bool(rows) and bool((yield Script(script("recall_vectors_put"), keys, args)))

    def _recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> Any:
        rx = self._rx(scope.user_id)
        start = cursor if isinstance(cursor, int) and epoch is not None else 0
        current, blob = yield Pipe(
            [Cmd("get", (rx + "ve",)), Cmd("getrange", (rx + "v", start, -1))], atomic=True
        )
        current = None if current is None else _int(current)
        if start and current != epoch:  # compacted meanwhile: read it all
            start = 0
            current, blob = yield Pipe(
                [Cmd("get", (rx + "ve",)), Cmd("get", (rx + "v",))], atomic=True
            )
            current = None if current is None else _int(current)
        live, _, _, _ = yield from self._live(scope)
        blob = bytes(blob or b"")
        rows, p = [], 0
        while p + _VECTOR_HEAD.size <= len(blob):
            seq, no, minute, size = _VECTOR_HEAD.unpack_from(blob, p)
            p += _VECTOR_HEAD.size
            if no in live:
                rows.append((doc_key(no, seq), minute, blob[p : p + size]))
            p += size
        return VectorRows(current, start + p, rows, {no: s[0] for no, s in live.items()})

    def _recall_compact(self, user_id: str | None) -> Any:
        """Rewrite the user's index without the records of sessions that died."""
        live, _, dead, _ = yield from self._live(RecallScope(user_id))
        if not dead:
            return 0
        rx = self._rx(user_id)
        live_sids = {escape(s[0]) for s in live.values()}
        sets = [rx + "ts:" + sid for _, sid in dead]
        members = yield Pipe([Cmd("smembers", (k,)) for k in sets])
        postings = sorted({_text(k) for group in members for k in group})
        args: list[Any] = ["0"]
        for no, sid in dead:
            args += [no, 0, "" if sid in live_sids else sid]  # a reused id keeps its times
        keys = [rx + "sess", rx + "terms", rx + "min", rx + "v", rx + "ve", rx + "sess", *postings]
        gone = yield Script(script("recall_compact"), keys, args)
        stale = [k for k, (_, sid) in zip(sets, dead, strict=True) if sid not in live_sids]
        if stale:
            yield Pipe([Cmd("delete", (k,)) for k in stale])
        return int(gone)

    def _recall_erase(self, user_id: str | None) -> Any:
        """delete_user: every recall key of the user."""
        rx = self._rx(user_id)
        found = yield Pipe([Cmd("smembers", (rx + "terms",)), Cmd("hgetall", (rx + "sess",))])
        postings = [_text(k) for k in found[0]]
        sets = [
            rx + "ts:" + _text(v) for f, v in (found[1] or {}).items() if _text(f).startswith("n:")
        ]
        names = [*postings, *sets, rx + "sess", rx + "terms", rx + "min", rx + "v", rx + "ve"]
        for i in range(0, len(names), 500):
            yield Pipe([Cmd("delete", (k,)) for k in names[i : i + 500]])

    # -- sync and async entry points -------------------------------------------------------
    def recall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        return self._sync(self._recall_postings(scope, terms))  # type: ignore[attr-defined,no-any-return]

    async def arecall_postings(self, scope: RecallScope, terms: Sequence[str]) -> LexicalRows:
        return await self._async(self._recall_postings(scope, terms))  # type: ignore[attr-defined,no-any-return]

    def recall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        return self._sync(self._recall_fetch(scope, keys))  # type: ignore[attr-defined,no-any-return]

    async def arecall_fetch(self, scope: RecallScope, keys: Sequence[tuple[str, int]]) -> Fetched:
        return await self._async(self._recall_fetch(scope, keys))  # type: ignore[attr-defined,no-any-return]

    def recall_marks(self, key: SessionKey) -> RecallMarks:
        return self._sync(self._recall_marks(key))  # type: ignore[attr-defined,no-any-return]

    async def arecall_marks(self, key: SessionKey) -> RecallMarks:
        return await self._async(self._recall_marks(key))  # type: ignore[attr-defined,no-any-return]

    def recall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        return self._sync(self._recall_index(key, after, docs))  # type: ignore[attr-defined,no-any-return]

    async def arecall_index(
        self, key: SessionKey, after: int, docs: Sequence[tuple[int, IndexDocument]]
    ) -> bool:
        return await self._async(self._recall_index(key, after, docs))  # type: ignore[attr-defined,no-any-return]

    def recall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        return self._sync(self._recall_put_vectors(key, after, rows))  # type: ignore[attr-defined,no-any-return]

    async def arecall_put_vectors(
        self, key: SessionKey, after: int, rows: Sequence[tuple[int, bytes]]
    ) -> bool:
        return await self._async(self._recall_put_vectors(key, after, rows))  # type: ignore[attr-defined,no-any-return]

    def recall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        return self._sync(self._recall_vectors(scope, epoch, cursor))  # type: ignore[attr-defined,no-any-return]

    async def arecall_vectors(self, scope: RecallScope, epoch: Any, cursor: Any) -> VectorRows:
        return await self._async(self._recall_vectors(scope, epoch, cursor))  # type: ignore[attr-defined,no-any-return]

    def recall_compact(self, user_id: str | None) -> int:
        return self._sync(self._recall_compact(user_id))  # type: ignore[attr-defined,no-any-return]

    async def arecall_compact(self, user_id: str | None) -> int:
        return await self._async(self._recall_compact(user_id))  # type: ignore[attr-defined,no-any-return]
