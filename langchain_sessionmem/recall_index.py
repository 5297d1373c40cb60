"""`RecallIndex`: a store's recall index settings and its background work (backfill, embeddings).

``SessionStore(..., recall=True)`` (lexical) or ``recall=RecallIndex(embeddings=...)`` (lexical +
dense, any LangChain ``Embeddings``); without it nothing is analysed or written (window-only
stores pay nothing). Neither indexing nor embedding runs on an append's path: the append notes
when its messages were stored and puts the session on a bounded queue that one worker thread
drains after ``index_delay`` seconds, a batch of messages per write (:mod:`.recall_catchup`); a
recall whose scope is behind catches it up itself before ranking, so a query never misses a
stored message. A full queue drops the request; a later append or recall puts the session back
(the engine's watermarks say what is missing). Sessions stored before recall was enabled are
indexed the same way (all at once by :meth:`backfill`). A store built from an asyncio client or
pool alone (no sync I/O for the worker) keeps writing postings in the append's own write.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from .backends.recall import RecallScope, engine_clock, runs_sync, supports_recall
from .errors import ConfigurationError
from .ids import ANONYMOUS
from .recall import (
    IndexDocument,
    VectorCache,
    encode_vector,
    index_document,
    minute_of,
    normalized,
)
from .recall_catchup import catch_up_steps, run_sync, uuid7_minute
from .records import EncodedMessage, SessionKey

logger = logging.getLogger(__name__)

_TERM_KEY_INFO = b"sessionmem recall terms"
_MINUTES = 200_000
"""Times of appended messages kept for the worker (beyond, the oldest fall back to index time)."""
Job = tuple[str, SessionKey]  # ("index" | "embed" | "compact", session or user)


def role_label(message: BaseMessage) -> str:
    """How a recalled message is labelled: its ``name``, else its role."""
    if message.name:
        return str(message.name)
    if isinstance(message, HumanMessage):
        return "User"
    if isinstance(message, AIMessage):
        return "Assistant"
    if isinstance(message, ToolMessage):
        return "Tool"
    if isinstance(message, SystemMessage):
        return "System"
    return message.type.capitalize()


def message_text(message: BaseMessage) -> str:
    """The searchable text of a message: its text, plus tool calls' names and arguments."""
    text = message.text
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = " ".join(
            f"{c.get('name', '')} {json.dumps(c.get('args', {}), ensure_ascii=False)}"
            for c in message.tool_calls
        )
        text = f"{text} {calls}".strip()
    return text


class RecallIndex:
    """Recall settings of one store: ``embeddings`` (optional), the background queue, the cache.

    ``index_names``: index a message's ``name`` with its text (questions name people);
    ``term_key``: the key of term digests when the store encrypts without per-user keys;
    ``index_delay``: how long the worker lets a session's appends gather before indexing them
    in one write; ``catch_up``: how many missing messages a recall indexes itself before ranking
    (a scope further behind, e.g. sessions stored before recall was enabled, is indexed in the
    background and answers from what is indexed meanwhile).
    """

    def __init__(
        self,
        embeddings: Any = None,
        *,
        index_names: bool = True,
        queue_size: int = 1024,
        batch_size: int = 64,
        term_key: bytes | None = None,
        cache_bytes: int = 256 * 1024 * 1024,
        index_delay: float = 0.05,
        catch_up: int = 512,
    ) -> None:
        if embeddings is not None and not hasattr(embeddings, "embed_documents"):
            raise ConfigurationError(
                f"embeddings={embeddings!r} is not a LangChain Embeddings (no embed_documents): "
                "pass e.g. OpenAIEmbeddings() or HuggingFaceEmbeddings(...)"
            )
        if queue_size < 1 or batch_size < 1:
            raise ConfigurationError("queue_size and batch_size must be at least 1")
        if not 0 <= index_delay <= 60 or catch_up < 0:
            raise ConfigurationError("index_delay takes 0-60 seconds and catch_up at least 0")
        self.index_delay = index_delay
        self.catch_up = catch_up
        self.deferred = True
        """Appends leave indexing to the worker (``False``: postings in the append's write)."""
        self._clock: Any = time.time
        self._minutes: dict[str, int] = {}  # message id -> the minute it was stored
        self._behind: dict[SessionKey, None] = {}  # appended here, maybe not indexed yet
        self._due: dict[Job, float] = {}
        self.busy_seconds = 0.0
        """CPU time of the worker's jobs so far (what background indexing costs)."""
        self.background_messages = 0
        """Messages the worker indexed so far."""
        self.embeddings = embeddings
        self.index_names = index_names
        self.batch_size = batch_size
        self.term_key = term_key
        self.vectors = VectorCache(cache_bytes)
        self.decoded = DecodedCache()
        """Messages decoded by recent recalls, by their stored bytes (recall re-reads the same)."""
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=queue_size)
        self._pending: set[Job] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._worker: threading.Thread | None = None
        self._store: Any = None
        self.dropped = 0
        """Jobs refused by a full queue (their sessions are retried by a later turn)."""

    # -- binding to a store ----------------------------------------------------------------
    def bind(self, store: Any) -> RecallIndex:
        """Called by the store that owns this index (one store per index)."""
        if self._store is not None and self._store is not store:
            raise ConfigurationError("a RecallIndex belongs to one store: make one per store")
        if not supports_recall(store.engine):
            raise ConfigurationError(
                f"the {store.engine.kind!r} engine keeps no recall index (it lacks the primitives "
                "of backends/recall.py): use recall=False with it, or a built-in backend"
            )
        keyring = store.encryption
        if keyring is not None and not keyring.per_user_keys and self.term_key is None:
            raise ConfigurationError(
                "recall over encrypted sessions keeps keyed term digests: use "
                "Keyring(..., per_user_keys=True), or RecallIndex(term_key=os.urandom(32))"
            )
        self._store = store
        self.deferred = runs_sync(store.engine)
        self._clock = engine_clock(store.engine)
        return self

    @property
    def dense(self) -> bool:
        return self.embeddings is not None

    # -- documents -------------------------------------------------------------------------
    def secret(self, sealer: Any) -> bytes | None:
        """The key of the owner's term digests (``None``: plaintext terms, no encryption)."""
        if sealer is None:
            return None
        base = sealer.data_key or self.term_key
        if base is None:
            raise ConfigurationError(
                "an anonymous encrypted session has no data key for recall term digests: "
                "pass RecallIndex(term_key=os.urandom(32))"
            )
        return hmac.new(base, _TERM_KEY_INFO, hashlib.sha256).digest()

    def document(
        self, message: BaseMessage, secret: bytes | None, minute: int | None = None
    ) -> IndexDocument:
        text = message_text(message)
        if self.index_names and message.name:
            text = f"{message.name} {text}"
        return index_document(text, secret=secret, minute=minute)

    def with_documents(
        self,
        encoded: Sequence[EncodedMessage],
        messages: Sequence[BaseMessage],
        secret: bytes | None,
    ) -> list[EncodedMessage]:
        """The append path: deferred, only when the messages were stored (the worker indexes
        them); otherwise each encoded message with its index document."""
        if self.deferred:
            minutes, minute = self._minutes, minute_of(self._clock())
            if len(minutes) > _MINUTES:
                for old in list(minutes)[: _MINUTES // 2]:
                    minutes.pop(old, None)
            for e in encoded:
                minutes[e.id] = minute
            return list(encoded)
        return [
            replace(e, index=self.document(m, secret))
            for e, m in zip(encoded, messages, strict=True)
        ]

    def minute_of(self, message: BaseMessage) -> int | None:
        """When a message was stored: noted by its append here, else from a uuid7 id."""
        found = self._minutes.get(str(message.id)) if message.id else None
        return found if found is not None else uuid7_minute(message)

    def indexed(self, messages: Iterable[BaseMessage]) -> None:
        """These messages are indexed: forget when they were stored."""
        for m in messages:
            self._minutes.pop(str(m.id), None)

    def caught_up(self, key: SessionKey) -> None:
        self._behind.pop(key, None)

    def behind(self, scope: RecallScope) -> list[SessionKey]:
        """Sessions of ``scope`` this process appended to and may not have indexed yet."""
        return [k for k in list(self._behind) if scope.holds(k)]

    def embed_text(self, message: BaseMessage, previous: BaseMessage | None) -> str:
        """What is embedded: the message with the one before it as context."""
        line = f"{role_label(message)}: {message_text(message)}"
        if previous is None:
            return line
        return f"{role_label(previous)}: {message_text(previous)}\n{line}"

    # -- scheduling ------------------------------------------------------------------------
    def after_append(self, key: SessionKey) -> None:
        """A turn was stored: index (then embed) it in the background, never on its path."""
        if self.deferred:
            self._behind[key] = None
            self.schedule("index", key, self.index_delay)
        elif self.dense:
            self.schedule("embed", key)

    def schedule(self, kind: str, key: SessionKey, delay: float = 0.0) -> bool:
        """Put a job on the queue unless it is pending or the queue is full (then ``False``);
        the worker starts it ``delay`` seconds from now at the earliest."""
        job = (kind, key)
        with self._lock:
            if job in self._pending:
                return True
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self.dropped += 1
                return False
            self._pending.add(job)
            if delay:
                self._due[job] = time.monotonic() + delay
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, name="sessionmem-recall", daemon=True
                )
                self._worker.start()
        return True

    def stale(self, user_id: str | None, sessions: Sequence[str]) -> None:
        """A recall read found sessions not indexed up to date: backfill them."""
        for sid in sessions:
            self.schedule("index", SessionKey(sid, user_id))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the queue is drained (tests, shutdown); ``False`` on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending and not self._busy, timeout)

    def drain(self, timeout: float = 5.0) -> bool:
        """Finish queued indexing before the store closes (bounded: a slow embedding model
        cannot hold a shutdown; what is left is caught up by the next recall or backfill)."""
        return self.wait(timeout)

    async def adrain(self, timeout: float = 5.0) -> bool:
        return await asyncio.to_thread(self.wait, timeout)

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=5.0)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            with self._lock:
                due = self._due.pop(job, 0.0)
            if due > time.monotonic():  # let the session's next appends join this batch
                time.sleep(due - time.monotonic())
            with self._lock:
                self._pending.discard(job)
                self._busy += 1
            started = time.thread_time()
            try:
                kind, key = job
                if kind == "index":
                    self.background_messages += self.backfill_session(key)
                    if self.dense:
                        self.schedule("embed", key)
                elif kind == "compact":
                    self._store.engine.recall_compact(key.user_id)
                else:
                    self.embed_session(key)
            except ConfigurationError as exc:  # e.g. the store was closed: the watermarks keep it
                logger.warning(
                    "recall %s of session %r skipped: %s", job[0], job[1].session_id, exc
                )
            except Exception:  # noqa: BLE001 - background work: log, a later turn retries
                logger.exception("recall %s of session %r failed", job[0], job[1].session_id)
            finally:
                with self._idle:
                    self.busy_seconds += time.thread_time() - started
                    self._busy -= 1
                    self._idle.notify_all()

    # -- the jobs (sync: they run on the worker thread or in backfill()) --------------------
    def backfill_session(self, key: SessionKey) -> int:
        """Index the session's messages not indexed yet, a batch at a time; returns how many."""
        store = self._store
        sealer = store.history(key.session_id, user_id=_user_arg(key))._sealer()
        return run_sync(store.engine, catch_up_steps(self, key, sealer))  # type: ignore[no-any-return]

    def embed_session(self, key: SessionKey) -> int:
        """Embed the session's messages that have no vector yet; returns how many."""
        store, done = self._store, 0
        history = store.history(key.session_id, user_id=_user_arg(key))
        engine = store.engine
        sealer = history._sealer()
        while True:
            marks = engine.recall_marks(key)
            if marks.embedded >= marks.indexed:  # vectors follow the lexical index
                return done
            start = marks.embedded + 1
            end = min(marks.indexed, start + self.batch_size - 1)
            entries = {e.seq: e.message for e in history.range_entries(max(1, start - 1), end + 1)}
            seqs = list(range(start, end + 1))
            texts = [
                self.embed_text(entries[s], entries.get(s - 1)) if s in entries else ""
                for s in seqs
            ]
            vectors = self.embeddings.embed_documents(texts)
            rows = []
            for seq, vec in zip(seqs, vectors, strict=True):
                blob = encode_vector(normalized(vec))
                if sealer is not None:
                    blob = sealer.seal(blob, "session", key.session_id, "vector", str(seq))
                rows.append((seq, blob))
            if engine.recall_put_vectors(key, marks.embedded, rows):
                done += len(rows)

    def backfill(self, user_id: str | None, session_ids: Sequence[str] | None = None) -> int:
        """Index (and embed) a user's sessions now, in this thread; returns messages indexed."""
        store = self._store
        if session_ids is None:
            session_ids = [s.session_id for s in store.engine.list_sessions(user_id)]
        total = 0
        for sid in session_ids:
            key = SessionKey(sid, user_id)
            total += self.backfill_session(key)
            if self.dense:
                self.embed_session(key)
        return total

    def scope_key(self, scope: RecallScope) -> tuple[Any, ...]:
        """The vector cache's key of a scope (per store: one index belongs to one store)."""
        return (scope.user_id, scope.session_id)

    def close(self) -> None:
        """Forget cached vectors and messages (the worker is a daemon and stops when idle)."""
        self.vectors = VectorCache(self.vectors.max_bytes)
        self.decoded = DecodedCache(self.decoded.size)


class DecodedCache:
    """A bounded map ``(session_id, seq, stored bytes) -> message``: decoding is a recall's
    largest cost, and consecutive turns fetch mostly the same messages."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._items: dict[tuple[str, int, bytes], BaseMessage] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, bytes]) -> BaseMessage | None:
        return self._items.get(key)

    def put(self, key: tuple[str, int, bytes], message: BaseMessage) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                for stale in list(self._items)[: self.size // 2]:
                    self._items.pop(stale, None)
            self._items[key] = message


def _user_arg(key: SessionKey) -> Any:
    return ANONYMOUS if key.user_id is None else key.user_id
