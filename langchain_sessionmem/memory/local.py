"""`ListHistory`: the :class:`~.ops.History` strategies read, over an in-process message list.

Why: a strategy is written once against ``tail_entries`` / ``range_entries`` / state CAS. This
class lets the same code run standalone in an LCEL chain (``memory.invoke(messages)``) and on a
LangGraph agent's ``messages``, where there is no store.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from ..codec import StoredMessage
from ..records import SessionState
from .ops import StateUpdate


class ListHistory:
    """A read-mostly view of ``messages`` (positions 1..n) with versioned session and user state."""

    def __init__(
        self,
        messages: Sequence[BaseMessage],
        state: SessionState | None = None,
        *,
        session_id: str = "local",
        user_id: str | None = None,
        user_state: SessionState | None = None,
    ) -> None:
        self._messages = list(messages)
        self.session_id = session_id
        self.user_id = user_id
        self._states = {"state": state or SessionState(0, {}), "user": user_state or SessionState()}
        self._lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------
    def tail_entries(self, k: int) -> list[StoredMessage]:
        start = max(0, len(self._messages) - k)
        return [StoredMessage(i + 1, m) for i, m in enumerate(self._messages[start:], start)]

    def range_entries(self, start_seq: int, end_seq: int | None = None) -> list[StoredMessage]:
        end = len(self._messages) + 1 if end_seq is None else min(end_seq, len(self._messages) + 1)
        return [StoredMessage(s, self._messages[s - 1]) for s in range(max(1, start_seq), end)]

    def count(self) -> int:
        return len(self._messages)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self._messages.extend(messages)

    @property
    def messages(self) -> list[BaseMessage]:
        return list(self._messages)

    # -- state ---------------------------------------------------------------------------
    def _get(self, scope: str) -> SessionState:
        with self._lock:
            state = self._states[scope]
            return SessionState(state.version, copy.deepcopy(state.data))

    def _cas(self, scope: str, expected_version: int, data: dict[str, Any]) -> bool:
        with self._lock:
            if self._states[scope].version != expected_version:
                return False
            self._states[scope] = SessionState(expected_version + 1, copy.deepcopy(data))
            return True

    def _update(self, scope: str, update: StateUpdate) -> dict[str, Any]:
        while True:
            state = self._get(scope)
            new = update(state.data)
            if new is None or self._cas(scope, state.version, new):
                return state.data if new is None else new

    def get_state(self) -> SessionState:
        return self._get("state")

    def cas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return self._cas("state", expected_version, data)

    def update_state(self, update: StateUpdate) -> dict[str, Any]:
        return self._update("state", update)

    def get_user_state(self) -> SessionState:
        return self._get("user")

    def cas_user_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return self._cas("user", expected_version, data)

    def update_user_state(self, update: StateUpdate) -> dict[str, Any]:
        return self._update("user", update)

    @property
    def state(self) -> SessionState:
        """The current session state (not a copy)."""
        return self._states["state"]

    @property
    def user_state(self) -> SessionState:
        """The current user state (not a copy)."""
        return self._states["user"]

    # -- async twins: nothing here blocks ------------------------------------------------
    async def atail_entries(self, k: int) -> list[StoredMessage]:
        return self.tail_entries(k)

    async def arange_entries(
        self, start_seq: int, end_seq: int | None = None
    ) -> list[StoredMessage]:
        return self.range_entries(start_seq, end_seq)

    async def acount(self) -> int:
        return self.count()

    async def aget_state(self) -> SessionState:
        return self.get_state()

    async def acas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        return self.cas_state(expected_version, data)

    async def aupdate_state(self, update: StateUpdate) -> dict[str, Any]:
        return self.update_state(update)

    async def aget_user_state(self) -> SessionState:
        return self.get_user_state()

    async def aupdate_user_state(self, update: StateUpdate) -> dict[str, Any]:
        return self.update_user_state(update)
