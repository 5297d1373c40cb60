"""`SessionHistory`: a ``BaseChatMessageHistory`` for one (user, session), with bounded reads.

Beyond the LangChain contract it offers what memory strategies need: ``tail(k)`` in O(k),
ranges by position, a count, and a small state dict updated with compare-and-set. Every method
has an async twin that does not block the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage

from ._compat import ChatHistoryBase
from ._steps import Steps, adrive, drive
from .backends.base import Engine
from .codec import StoredMessage, decode, decode_many, encode
from .errors import ConfigurationError, ConflictError, CorruptDataError, SerializationError
from .ids import validate_id, validate_user_id
from .records import Record, SessionKey, SessionState

logger = logging.getLogger(__name__)

StateUpdate = Callable[[dict[str, Any]], "dict[str, Any] | None"]
OnCorrupt = Literal["raise", "skip"]
Call = tuple[Any, ...]  # (method name, *args): a step of the compare-and-set loop


@dataclass(frozen=True)
class HistoryContext:
    """What a history needs from its store: the engine and the store's limits and policies."""

    engine: Engine
    max_message_bytes: int
    on_corrupt: OnCorrupt = "raise"


class SessionHistory(ChatHistoryBase):
    """The messages of one session of one user. Get it from :meth:`SessionStore.history`."""

    def __init__(self, context: HistoryContext, session_id: str, *, user_id: str | None = None):
        self.context = context
        self.engine = context.engine
        self.session_id = validate_id(session_id, "session_id")
        self.user_id = validate_user_id(user_id)
        self._key = SessionKey(self.session_id, self.user_id)

    # -- decoding --------------------------------------------------------------------------
    def _entries(self, records: Sequence[Record]) -> list[StoredMessage]:
        try:
            messages = decode_many(records, session_id=self.session_id)
        except CorruptDataError:
            if self.context.on_corrupt == "raise":
                raise
        else:
            return [
                StoredMessage(seq, message)
                for (seq, _), message in zip(records, messages, strict=True)
            ]
        entries = []
        for seq, data in records:
            try:
                entries.append(
                    StoredMessage(seq, decode(data, session_id=self.session_id, position=seq))
                )
            except CorruptDataError:
                logger.warning("skipping corrupt message %d of session %r", seq, self.session_id)
        return entries

    @staticmethod
    def _messages(entries: Sequence[StoredMessage]) -> list[BaseMessage]:
        return [entry.message for entry in entries]

    # -- LangChain contract ----------------------------------------------------------------
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The whole history. Prefer :meth:`tail` in a chat turn: it reads only what it returns."""
        return self._messages(self._entries(self.engine.tail(self._key, None)))

    async def aget_messages(self) -> list[BaseMessage]:
        return self._messages(self._entries(await self.engine.atail(self._key, None)))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append a batch atomically in one round trip; ids already stored are skipped."""
        if messages:
            self.engine.append(self._key, encode(messages, self.context.max_message_bytes))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if messages:
            await self.engine.aappend(self._key, encode(messages, self.context.max_message_bytes))

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
        return self._messages(self.tail_entries(k))

    async def atail(self, k: int) -> list[BaseMessage]:
        return self._messages(await self.atail_entries(k))

    def tail_entries(self, k: int) -> list[StoredMessage]:
        """Like :meth:`tail`, with each message's position (``seq``) in the session."""
        return self._entries(self.engine.tail(self._key, _check_k(k)))

    async def atail_entries(self, k: int) -> list[StoredMessage]:
        return self._entries(await self.engine.atail(self._key, _check_k(k)))

    def range_entries(self, start_seq: int, end_seq: int | None = None) -> list[StoredMessage]:
        """Messages with ``start_seq <= seq < end_seq`` (positions start at 1), oldest first."""
        return self._entries(self.engine.range(self._key, start_seq, end_seq))

    async def arange_entries(
        self, start_seq: int, end_seq: int | None = None
    ) -> list[StoredMessage]:
        return self._entries(await self.engine.arange(self._key, start_seq, end_seq))

    def count(self) -> int:
        """How many messages the session holds."""
        return self.engine.count(self._key)

    async def acount(self) -> int:
        return await self.engine.acount(self._key)

    # -- state -----------------------------------------------------------------------------
    def get_state(self) -> SessionState:
        """The session's state dict and its version (0 and ``{}`` before the first write)."""
        return self._state(*self.engine.get_state(self._key))

    async def aget_state(self) -> SessionState:
        return self._state(*await self.engine.aget_state(self._key))

    def cas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        """Write ``data`` only if the state is still at ``expected_version``; ``False`` otherwise."""
        return self.engine.cas_state(self._key, expected_version, _dump_state(data))

    async def acas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return await self.engine.acas_state(self._key, expected_version, _dump_state(data))

    def update_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        """Apply ``update`` to the state with compare-and-set, retrying when another writer won."""
        return drive(self._update("state", update, attempts), self._call)

    async def aupdate_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        return await adrive(self._update("state", update, attempts), self._acall)

    # -- per-user state: shared by every session of the user, never listed as a session ------
    def get_user_state(self) -> SessionState:
        """The user's state dict (entities kept across sessions); needs a ``user_id``."""
        return self._state(*self.engine.get_user_state(self._owner()), what="user state")

    async def aget_user_state(self) -> SessionState:
        return self._state(*await self.engine.aget_user_state(self._owner()), what="user state")

    def cas_user_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return self.engine.cas_user_state(self._owner(), expected_version, _dump_state(data))

    async def acas_user_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return await self.engine.acas_user_state(self._owner(), expected_version, _dump_state(data))

    def update_user_state(self, update: StateUpdate, *, attempts: int = 20) -> dict[str, Any]:
        """:meth:`update_state` for the per-user state."""
        return drive(self._update("user_state", update, attempts), self._call)

    async def aupdate_user_state(
        self, update: StateUpdate, *, attempts: int = 20
    ) -> dict[str, Any]:
        return await adrive(self._update("user_state", update, attempts), self._acall)

    def _owner(self) -> str:
        if self.user_id is None:
            raise ConfigurationError(
                f"session {self.session_id!r} has no user_id, so it has no per-user state: "
                "open the history with store.history(session_id, user_id=...)"
            )
        return self.user_id

    # -- the compare-and-set loop, once for sync and async -----------------------------------
    def _update(
        self, scope: str, update: StateUpdate, attempts: int
    ) -> Steps[Call, dict[str, Any]]:
        """Read, apply ``update``, write if unchanged meanwhile; ``None`` from ``update`` writes nothing."""
        for _ in range(attempts):
            state = yield ("get_" + scope,)
            new = update(dict(state.data))
            if new is None or (yield ("cas_" + scope, state.version, new)):
                return state.data if new is None else new
        raise ConflictError(
            f"session {self.session_id!r}: {scope.replace('_', ' ')} kept changing "
            f"during {attempts} attempts"
        )

    def _call(self, call: Call) -> Any:
        return getattr(self, call[0])(*call[1:])

    async def _acall(self, call: Call) -> Any:
        return await getattr(self, "a" + call[0])(*call[1:])

    def _state(self, version: int, data: bytes | None, what: str = "state") -> SessionState:
        if data is None:
            return SessionState(version, {})
        try:
            return SessionState(version, json.loads(data))
        except ValueError as exc:
            raise CorruptDataError(
                f"session {self.session_id!r}: stored {what} (version {version}) is not valid "
                f"JSON ({exc}); reset it with cas_{what.replace(' ', '_')}(version, {{}})",
                session_id=self.session_id,
            ) from exc

    def __repr__(self) -> str:
        return f"SessionHistory(session_id={self.session_id!r}, user_id={self.user_id!r}, engine={self.engine.kind!r})"

    __str__ = __repr__  # the base class would read the whole history to print it


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    return k


def _dump_state(data: dict[str, Any]) -> bytes:
    if not isinstance(data, dict):
        raise SerializationError(f"session state must be a dict, got {type(data).__name__}")
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"session state cannot be stored as JSON: {exc}; keep it to JSON types"
        ) from exc
