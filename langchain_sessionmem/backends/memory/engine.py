"""In-process engine for tests and notebooks: plain dicts behind one lock.

TTL reads the injectable ``clock`` (epoch seconds), so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...records import (
    EncodedMessage,
    Record,
    SessionInfo,
    SessionKey,
    to_datetime,
    to_optional_datetime,
    unique_new,
)
from ..args import (
    check_bytes,
    check_int,
    check_key,
    check_messages,
    check_page,
    check_user,
    decode_cursor,
    encode_cursor,
    micros,
)
from ..base import OffloadedEngine
from .recall import MemoryRecall, SessionIndex


@dataclass
class _Session:
    created_at: float
    updated_at: float
    expires_at: float | None
    messages: list[bytes] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)  # in order, so pop forgets the right ids
    ids: set[str] = field(default_factory=set)
    state_version: int = 0
    state: bytes | None = None
    index: SessionIndex | None = None  # the recall index, once the store keeps one


class MemoryEngine(MemoryRecall, OffloadedEngine):
    """Sessions in process memory; async twins run inline (nothing here blocks)."""

    kind = "memory"
    _offload_inline = True

    def __init__(
        self,
        *,
        ttl: float | None = None,
        refresh_on_read: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self.clock = clock
        self._sessions: dict[SessionKey, _Session] = {}
        self._user_states: dict[str, tuple[int, bytes]] = {}
        self._user_keys: dict[str, bytes] = {}
        self.checkpoints = MemoryCheckpointData()
        self._lock = threading.Lock()
        self._recall_init()

    def _live(self, key: SessionKey, now: float) -> _Session | None:
        session = self._sessions.get(key)
        if session is not None and session.expires_at is not None and session.expires_at <= now:
            self._drop(key)
            return None
        return session

    def _drop(self, key: SessionKey) -> _Session | None:
        """Remove a session with its recall data."""
        session = self._sessions.pop(key, None)
        if session is not None and session.index is not None:
            self._recall_forget(key, session)
        return session

    def _read(self, key: SessionKey) -> _Session | None:
        """The live session for a read, its expiry slid when refresh_on_read."""
        check_key(key)
        now = self.clock()
        session = self._live(key, now)
        if session is not None and self.refresh_on_read and self.ttl is not None:
            session.expires_at = now + self.ttl
        return session

    def _touch(self, key: SessionKey, now: float) -> _Session:
        session = self._live(key, now) or self._sessions.setdefault(key, _Session(now, now, None))
        session.updated_at = now
        session.expires_at = None if self.ttl is None else now + self.ttl
        return session

    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        check_key(key)
        messages = check_messages(messages)
        with self._lock:
            now = self.clock()
            session = self._touch(key, now)
            fresh = unique_new(messages, session.ids)
            first = len(session.messages) + 1
            session.messages.extend(m.data for m in fresh)
            session.message_ids.extend(m.id for m in fresh)
            session.ids.update(m.id for m in fresh)
            if fresh and fresh[0].index is not None:
                self._index_appended(key, session, first, fresh, now)
            return len(fresh)

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        k = None if k is None else check_int(k, "k", low=0)
        with self._lock:
            session = self._read(key)
            if session is None:
                return []
            total = len(session.messages)
            start = 0 if k is None else max(total - k, 0)
            return [(seq + 1, session.messages[seq]) for seq in range(start, total)]

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        start = check_int(start, "start")
        end = None if end is None else check_int(end, "end")
        with self._lock:
            session = self._read(key)
            if session is None:
                return []
            stop = len(session.messages) if end is None else min(end - 1, len(session.messages))
            return [(seq + 1, session.messages[seq]) for seq in range(max(start - 1, 0), stop)]

    def count(self, key: SessionKey) -> int:
        with self._lock:
            session = self._read(key)
            return 0 if session is None else len(session.messages)

    def pop(self, key: SessionKey, n: int) -> list[Record]:
        """Remove the last ``n`` messages atomically (their ids are forgotten); oldest first."""
        check_key(key)
        n = check_int(n, "n", low=0)
        with self._lock:
            now = self.clock()
            session = self._live(key, now)
            if session is None or n == 0:
                return []
            first = max(len(session.messages) - n, 0)
            popped = [
                (seq + 1, session.messages[seq]) for seq in range(first, len(session.messages))
            ]
            session.ids.difference_update(session.message_ids[first:])
            del session.messages[first:], session.message_ids[first:]
            if session.index is not None:
                self._unindex_after(key, session, first)
            self._touch(key, now)
            return popped

    async def apop(self, key: SessionKey, n: int) -> list[Record]:
        return self.pop(key, n)

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        with self._lock:
            session = self._read(key)
            return (0, None) if session is None else (session.state_version, session.state)

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        check_key(key)
        expected, data = check_int(expected_version, "expected_version"), check_bytes(data, "data")
        with self._lock:
            now = self.clock()
            current = self._live(key, now)
            if (0 if current is None else current.state_version) != expected:
                return False
            session = self._touch(key, now)
            session.state_version += 1
            session.state = data
            return True

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        user = check_user(user_id)
        with self._lock:
            return self._user_states.get(user, (0, None))  # type: ignore[arg-type, return-value]

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        user = check_user(user_id)
        expected, data = check_int(expected_version, "expected_version"), check_bytes(data, "data")
        with self._lock:
            version = self._user_states.get(user, (0, b""))[0]  # type: ignore[arg-type]
            if version != expected:
                return False
            self._user_states[user] = (version + 1, data)  # type: ignore[index]
            return True

    def get_user_key(self, user_id: str) -> bytes | None:
        user = check_user(user_id)
        with self._lock:
            return self._user_keys.get(user)  # type: ignore[arg-type]

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        user, wrapped = check_user(user_id), check_bytes(wrapped, "wrapped")
        with self._lock:
            return self._user_keys.setdefault(user, wrapped)  # type: ignore[arg-type]

    def delete_session(self, key: SessionKey) -> bool:
        check_key(key)
        with self._lock:
            return self._live(key, self.clock()) is not None and self._drop(key) is not None

    def list_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        """Live sessions, newest first; ``limit`` / ``after`` (see :meth:`cursor`) page them."""
        user = check_user(user_id, anonymous=True)
        page = check_page(limit, order)
        below = None if after is None else decode_cursor(after)
        with self._lock:
            now = self.clock()
            keys = [k for k in list(self._sessions) if k.user_id == user]
            rows = [  # keyed as a cursor is made (from the listed datetime), so they compare
                ((micros(to_datetime(s.updated_at).timestamp()), k.session_id), k, s)
                for k in keys
                if (s := self._live(k, now)) is not None
            ]
            rows = sorted((r for r in rows if below is None or r[0] < below), reverse=True)
            return [
                SessionInfo(
                    k.session_id,
                    k.user_id,
                    to_datetime(s.created_at),
                    to_datetime(s.updated_at),
                    len(s.messages),
                    to_optional_datetime(s.expires_at),
                )
                for _, k, s in rows[:page]
            ]

    async def alist_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        return self.list_sessions(user_id, limit=limit, after=after, order=order)

    cursor = staticmethod(encode_cursor)
    """``engine.cursor(info)``: the ``after=`` of the page that follows ``info``."""

    def delete_user(self, user_id: str | None) -> int:
        user = check_user(user_id, anonymous=True)
        with self._lock:
            now = self.clock()
            keys = [k for k in list(self._sessions) if k.user_id == user]
            if user is not None:
                self._user_states.pop(user, None)
                self._user_keys.pop(user, None)
            return sum(self._live(k, now) is not None and self._drop(k) is not None for k in keys)

    def purge_expired(self) -> int:
        with self._lock:
            now = self.clock()
            expired = [
                k
                for k, s in self._sessions.items()
                if s.expires_at is not None and s.expires_at <= now
            ]
            for k in expired:
                self._drop(k)
            return len(expired)

    def close(self) -> None:
        """Nothing to release; the data lives as long as the store object."""


class MemoryCheckpointData:
    """The checkpoint threads of one store: shared by its savers, kept beside its sessions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.threads: dict[str, Any] = {}  # thread key -> the saver's record of it
