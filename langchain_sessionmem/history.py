"""`SessionHistory`: a ``BaseChatMessageHistory`` for one (user, session), with bounded reads.

Beyond the LangChain contract it offers what memory strategies need: ``tail(k)`` in O(k),
ranges by position and paged reads, a count, ``pop`` for undo / regenerate, a small state dict
updated with compare-and-set, and a per-user state shared by the user's sessions. Every method
has an async twin that does not block the event loop. With a store keyring, messages and states
are encrypted, each bound to its place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import BaseMessage, get_buffer_string

from ._compat import ChatHistoryBase
from ._steps import Call, Steps, acall, adrive, call, drive
from .backends.base import Engine
from .codec import StoredMessage, decode, decode_many, encode
from .crypto import Sealer
from .errors import (
    ConfigurationError,
    ConflictError,
    CorruptDataError,
)
from .history_args import bounds, check_int, dump_state, page_bounds
from .ids import validate_id, validate_user_id
from .records import Record, SessionKey, SessionState
from .sealing import DataKeys

if TYPE_CHECKING:
    from .recall_index import RecallIndex
    from .recall_search import RecallResult

logger = logging.getLogger(__name__)

StateUpdate = Callable[[dict[str, Any]], "dict[str, Any] | None"]
OnCorrupt = Literal["raise", "skip"]


@dataclass(frozen=True)
class HistoryContext:
    """What a history needs from its store: the engine, limits, policies and encryption."""

    engine: Engine
    max_message_bytes: int
    on_corrupt: OnCorrupt = "raise"
    keys: DataKeys | None = None
    recall: RecallIndex | None = None


class SessionHistory(ChatHistoryBase):
    """The messages of one session of one user. Get it from :meth:`SessionStore.history`."""

    def __init__(self, context: HistoryContext, session_id: str, *, user_id: str | None = None):
        self.context = context
        self.engine = context.engine
        self.session_id = validate_id(session_id, "session_id")
        self.user_id = validate_user_id(user_id)
        self._key = SessionKey(self.session_id, self.user_id)

    # -- encryption and decoding -----------------------------------------------------------
    def _sealer(self) -> Sealer | None:
        return None if self.context.keys is None else self.context.keys.sealer(self.user_id)

    async def _asealer(self) -> Sealer | None:
        return None if self.context.keys is None else await self.context.keys.asealer(self.user_id)

    def _encode(self, messages: Sequence[BaseMessage], sealer: Sealer | None) -> Any:
        limit = self.context.max_message_bytes
        encoded = encode(messages, limit, sealer=sealer, session_id=self.session_id)
        index = self.context.recall
        if index is None:  # no recall index: nothing analysed, nothing written
            return encoded
        return index.with_documents(encoded, messages, index.secret(sealer))

    def _decoded(self, records: Sequence[Record], sealer: Sealer | None) -> list[BaseMessage]:
        """The messages of ``records`` (one pass; the slow per-record path only on damage)."""
        try:
            return decode_many(records, session_id=self.session_id, sealer=sealer)
        except CorruptDataError:
            if self.context.on_corrupt == "raise":
                raise
        return [entry.message for entry in self._entries(records, sealer)]

    def _entries(self, records: Sequence[Record], sealer: Sealer | None) -> list[StoredMessage]:
        sid = self.session_id
        try:
            messages = decode_many(records, session_id=sid, sealer=sealer)
        except CorruptDataError:
            if self.context.on_corrupt == "raise":
                raise
        else:
            return [StoredMessage(seq, m) for (seq, _), m in zip(records, messages, strict=True)]
        entries = []
        for seq, data in records:
            try:
                entries.append(
                    StoredMessage(seq, decode(data, session_id=sid, position=seq, sealer=sealer))
                )
            except CorruptDataError:
                logger.warning("skipping corrupt message %d of session %r", seq, sid)
        return entries

    @staticmethod
    def _messages(entries: Sequence[StoredMessage]) -> list[BaseMessage]:
        return [entry.message for entry in entries]

    # -- LangChain contract ----------------------------------------------------------------
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The whole history. Prefer :meth:`tail` in a chat turn: it reads only what it returns."""
        return self._decoded(self.engine.tail(self._key, None), self._sealer())

    async def aget_messages(self) -> list[BaseMessage]:
        records = await self.engine.atail(self._key, None)
        return self._decoded(records, await self._asealer())

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append a batch atomically in one round trip; ids already stored are skipped."""
        if messages:
            self.engine.append(self._key, self._encode(messages, self._sealer()))
            if self.context.recall is not None:
                self.context.recall.after_append(self._key)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if messages:
            await self.engine.aappend(self._key, self._encode(messages, await self._asealer()))
            if self.context.recall is not None:
                self.context.recall.after_append(self._key)

    def add_message(self, message: BaseMessage) -> None:
        self.add_messages([message])

    async def aadd_message(self, message: BaseMessage) -> None:
        await self.aadd_messages([message])

    def clear(self) -> None:
        """Delete the session: its messages, state and metadata."""
        self.engine.delete_session(self._key)

    async def aclear(self) -> None:
        await self.engine.adelete_session(self._key)

    # -- bounded reads ---------------------------------------------------------------------
    def tail(self, k: int) -> list[BaseMessage]:
        """The last ``k`` messages, oldest first; costs O(k) whatever the history length."""
        return self._decoded(self.engine.tail(self._key, check_int(k, "k")), self._sealer())

    async def atail(self, k: int) -> list[BaseMessage]:
        records = await self.engine.atail(self._key, check_int(k, "k"))
        return self._decoded(records, await self._asealer())

    def tail_entries(self, k: int) -> list[StoredMessage]:
        """Like :meth:`tail`, with each message's position (``seq``) in the session."""
        return self._entries(self.engine.tail(self._key, check_int(k, "k")), self._sealer())

    async def atail_entries(self, k: int) -> list[StoredMessage]:
        records = await self.engine.atail(self._key, check_int(k, "k"))
        return self._entries(records, await self._asealer())

    def range_entries(self, start_seq: int, end_seq: int | None = None) -> list[StoredMessage]:
        """Messages with ``start_seq <= seq < end_seq`` (positions start at 1), oldest first."""
        start, end = bounds(start_seq, end_seq)
        return self._entries(self.engine.range(self._key, start, end), self._sealer())

    async def arange_entries(
        self, start_seq: int, end_seq: int | None = None
    ) -> list[StoredMessage]:
        start, end = bounds(start_seq, end_seq)
        records = await self.engine.arange(self._key, start, end)
        return self._entries(records, await self._asealer())

    def page(self, *, before: int | None = None, limit: int = 50) -> list[StoredMessage]:
        """Up to ``limit`` messages before position ``before`` (the newest page without it).

        Scroll back with ``before=page[0].seq``; an empty page means the start was reached.
        """
        return call(self._page(before, limit))  # type: ignore[no-any-return]

    async def apage(self, *, before: int | None = None, limit: int = 50) -> list[StoredMessage]:
        return await acall(self._page(before, limit))  # type: ignore[no-any-return]

    def _page(self, before: int | None, limit: int) -> Call:
        """The read of a page: the newest entries, or the range that ends before ``before``."""
        if before is None:
            return (self, "tail_entries", check_int(limit, "limit"))
        return (self, "range_entries", *page_bounds(before, limit))

    def count(self) -> int:
        """How many messages the session holds."""
        return self.engine.count(self._key)

    async def acount(self) -> int:
        return await self.engine.acount(self._key)

    # -- undo ------------------------------------------------------------------------------
    def pop(self, n: int = 1) -> list[BaseMessage]:
        """Remove the last ``n`` messages atomically and return them (undo, regenerate)."""
        return drive(self._pop(check_int(n, "n")), call)

    async def apop(self, n: int = 1) -> list[BaseMessage]:
        return await adrive(self._pop(check_int(n, "n")), acall)

    def _pop(self, n: int) -> Steps[Call, list[BaseMessage]]:
        records = yield (self.engine, "pop", self._key, n)
        return self._messages(self._entries(records, (yield (self, "_sealer"))))

    # -- recall: the stored messages most relevant to a query (see recall_search.py) --------
    def recall(self, query: str, budget: int, **options: Any) -> RecallResult:
        """The turns of this session (``scope="session"``) or of every live session of its
        user (``scope="user"``) most relevant to ``query`` that fit ``budget`` tokens."""
        return drive(self._recall(query, budget, options), self._recall_call)

    async def arecall(self, query: str, budget: int, **options: Any) -> RecallResult:
        return await adrive(self._recall(query, budget, options), self._arecall_call)

    def _recall(self, query: str, budget: int, options: dict[str, Any]) -> Any:
        from .recall_search import recall_scope, search_steps

        index = self.context.recall
        if index is None:
            raise ConfigurationError(
                "this store keeps no recall index: build it with SessionStore(..., recall=True)"
            )
        scope = recall_scope(self.user_id, self.session_id, options.pop("scope", "session"))
        return search_steps(index, scope, query, check_int(budget, "budget"), **options)

    def _recall_call(self, request: Call) -> Any:
        return call(self._recall_request(request))

    async def _arecall_call(self, request: Call) -> Any:
        return await acall(self._recall_request(request))

    def _recall_request(self, request: Call) -> Call:
        """A request of the search as a method call: an engine read, the query's embedding
        (``embed_query``) or this history's sealer."""
        if request[0] == "engine":
            return (self.engine, *request[1:])
        if request[0] == "embed":
            return (self.context.recall.embeddings, "embed_query", request[1])  # type: ignore[union-attr]
        return (self, "_sealer")

    # -- session state ---------------------------------------------------------------------
    def get_state(self) -> SessionState:
        """The session's state dict and its version (0 and ``{}`` before the first write)."""
        return drive(self._get("state"), call)

    async def aget_state(self) -> SessionState:
        return await adrive(self._get("state"), acall)

    def cas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        """Write ``data`` only if the state is still at ``expected_version``; ``False`` otherwise."""
        return drive(self._cas("state", expected_version, data), call)

    async def acas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return await adrive(self._cas("state", expected_version, data), acall)

    def update_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        """Apply ``update`` to the state with compare-and-set, retrying when another writer won."""
        return drive(self._update("state", update, attempts), call)

    async def aupdate_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        return await adrive(self._update("state", update, attempts), acall)

    # -- per-user state: shared by every session of the user, never listed as a session ------
    def get_user_state(self) -> SessionState:
        """The user's state dict (entities kept across sessions); needs a ``user_id``."""
        return drive(self._get("user_state"), call)

    async def aget_user_state(self) -> SessionState:
        return await adrive(self._get("user_state"), acall)

    def cas_user_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return drive(self._cas("user_state", expected_version, data), call)

    async def acas_user_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return await adrive(self._cas("user_state", expected_version, data), acall)

    def update_user_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        """:meth:`update_state` for the per-user state."""
        return drive(self._update("user_state", update, attempts), call)

    async def aupdate_user_state(
        self, update: StateUpdate, *, attempts: int = 20
    ) -> dict[str, Any]:
        return await adrive(self._update("user_state", update, attempts), acall)

    def _owner(self) -> str:
        if self.user_id is None:
            raise ConfigurationError(
                f"session {self.session_id!r} has no user_id, so it has no per-user state: "
                "open the history with store.history(session_id, user_id=...)"
            )
        return self.user_id

    # -- state reads, writes and the compare-and-set loop, once for sync and async ----------
    def _owned(self, scope: str) -> Any:
        """Where ``scope`` (``"state"`` or ``"user_state"``) lives: the session or its user."""
        return self._key if scope == "state" else self._owner()

    def _get(self, scope: str) -> Steps[Call, SessionState]:
        version, data = yield (self.engine, "get_" + scope, self._owned(scope))
        return self._load(version, data, (yield (self, "_sealer")), scope.replace("_", " "))

    def _cas(self, scope: str, expected_version: int, data: dict[str, Any]) -> Steps[Call, bool]:
        blob = self._dump(data, (yield (self, "_sealer")), scope.replace("_", " "))
        return (yield (self.engine, "cas_" + scope, self._owned(scope), expected_version, blob))

    def _update(
        self, scope: str, update: StateUpdate, attempts: int
    ) -> Steps[Call, dict[str, Any]]:
        """Read, apply ``update``, write if unchanged meanwhile; ``None`` writes nothing."""
        for _ in range(attempts):
            state = yield from self._get(scope)
            new = update(dict(state.data))
            if new is None or (yield from self._cas(scope, state.version, new)):
                return state.data if new is None else new
        raise ConflictError(
            f"session {self.session_id!r}: {scope.replace('_', ' ')} kept changing "
            f"during {attempts} attempts"
        )

    # -- state bytes -----------------------------------------------------------------------
    def _place(self, what: str) -> tuple[str, ...]:
        return ("user-state",) if what == "user state" else ("session", self.session_id, "state")

    def _dump(self, data: dict[str, Any], sealer: Sealer | None, what: str) -> bytes:
        blob = dump_state(data, what)
        return blob if sealer is None else sealer.seal(blob, *self._place(what))

    def _load(
        self, version: int, data: bytes | None, sealer: Sealer | None, what: str
    ) -> SessionState:
        if data is None:
            return SessionState(version, {})
        try:
            text = data if sealer is None else sealer.open(data, *self._place(what))
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise ValueError(f"a JSON {type(loaded).__name__}, not an object")
        except (ValueError, CorruptDataError) as exc:
            raise CorruptDataError(
                f"session {self.session_id!r}: stored {what} (version {version}) cannot be read "
                f"({exc}); reset it with cas_{what.replace(' ', '_')}(version, {{}})",
                session_id=self.session_id,
            ) from exc
        return SessionState(int(version), loaded)

    def __repr__(self) -> str:
        return (
            f"SessionHistory(session_id={self.session_id!r}, user_id={self.user_id!r}, "
            f"engine={self.engine.kind!r})"
        )

    def __str__(self) -> str:
        """The transcript, as ``BaseChatMessageHistory`` prints it (reads the whole session)."""
        return get_buffer_string(self.messages)
