"""`ListHistory`: the history interface memory strategies read, over an in-process message list.

Why: a strategy is written once against ``tail_entries`` / ``range_entries`` / state CAS. This
class lets the same code run standalone in an LCEL chain (``memory.invoke(messages)``) and on a
LangGraph agent's ``messages``, where there is no store.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from ..codec import StoredMessage
from ..records import SessionState


class ListHistory:
    """A read-mostly view of ``messages`` (positions 1..n) with a versioned state dict."""

    store = None
    user_id: str | None = None

    def __init__(
        self,
        messages: Sequence[BaseMessage],
        state: SessionState | None = None,
        *,
        session_id: str = "local",
    ) -> None:
        self._messages = list(messages)
        self.session_id = session_id
        self._state = state or SessionState(0, {})
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
    def get_state(self) -> SessionState:
        with self._lock:
            return SessionState(self._state.version, copy.deepcopy(self._state.data))

    def cas_state(self, expected_version: int, data: dict[str, Any]) -> bool:
        with self._lock:
            if self._state.version != expected_version:
                return False
            self._state = SessionState(expected_version + 1, copy.deepcopy(data))
            return True

    def update_state(
        self, update: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        while True:
            state = self.get_state()
            new = update(state.data)
            if new is None or self.cas_state(state.version, new):
                return state.data if new is None else new

    @property
    def state(self) -> SessionState:
        return self._state

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

    async def aupdate_state(
        self, update: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        return self.update_state(update)
