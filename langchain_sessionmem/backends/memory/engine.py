"""In-process engine for tests and notebooks: plain dicts behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
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
from ..base import OffloadedEngine


@dataclass
class _Session:
    created_at: float
    updated_at: float
    expires_at: float | None
    messages: list[bytes] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    state_version: int = 0
    state: bytes | None = None


class MemoryEngine(OffloadedEngine):
    """Sessions in process memory; async twins run inline (nothing here blocks)."""

    kind = "memory"
    _offload_inline = True

    def __init__(self, *, ttl: float | None = None, refresh_on_read: bool = False):
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self._sessions: dict[SessionKey, _Session] = {}
        self._user_states: dict[str, tuple[int, bytes]] = {}
        self._user_keys: dict[str, bytes] = {}
        self.checkpoints = MemoryCheckpointData()
        self._lock = threading.Lock()

    def _live(self, key: SessionKey, now: float) -> _Session | None:
        session = self._sessions.get(key)
        if session is not None and session.expires_at is not None and session.expires_at <= now:
            del self._sessions[key]
            return None
        return session

    def _read(self, key: SessionKey, now: float) -> _Session | None:
        """The live session for a read, its expiry slid when refresh_on_read."""
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
        with self._lock:
            session = self._touch(key, time.time())
            fresh = unique_new(messages, session.ids)
            session.messages.extend(m.data for m in fresh)
            session.ids.update(m.id for m in fresh)
            return len(fresh)

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        with self._lock:
            session = self._read(key, time.time())
            if session is None:
                return []
            total = len(session.messages)
            start = 0 if k is None else max(total - k, 0)
            return [(seq + 1, session.messages[seq]) for seq in range(start, total)]

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        with self._lock:
            session = self._read(key, time.time())
            if session is None:
                return []
            stop = len(session.messages) if end is None else min(end - 1, len(session.messages))
            return [(seq + 1, session.messages[seq]) for seq in range(max(start - 1, 0), stop)]

    def count(self, key: SessionKey) -> int:
        with self._lock:
            session = self._read(key, time.time())
            return 0 if session is None else len(session.messages)

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        with self._lock:
            session = self._read(key, time.time())
            return (0, None) if session is None else (session.state_version, session.state)

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        with self._lock:
            now = time.time()
            current = self._live(key, now)
            if (0 if current is None else current.state_version) != expected_version:
                return False
            session = self._touch(key, now)
            session.state_version += 1
            session.state = data
            return True

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        with self._lock:
            return self._user_states.get(user_id, (0, None))

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        with self._lock:
            version = self._user_states.get(user_id, (0, b""))[0]
            if version != expected_version:
                return False
            self._user_states[user_id] = (version + 1, data)
            return True

    def get_user_key(self, user_id: str) -> bytes | None:
        with self._lock:
            return self._user_keys.get(user_id)

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        with self._lock:
            return self._user_keys.setdefault(user_id, bytes(wrapped))

    def delete_session(self, key: SessionKey) -> bool:
        with self._lock:
            return self._live(key, time.time()) is not None and self._sessions.pop(key) is not None

    def list_sessions(self, user_id: str | None) -> list[SessionInfo]:
        with self._lock:
            now = time.time()
            keys = [k for k in list(self._sessions) if k.user_id == user_id]
            rows = [(k, s) for k in keys if (s := self._live(k, now)) is not None]
            return [
                SessionInfo(
                    k.session_id,
                    k.user_id,
                    to_datetime(s.created_at),
                    to_datetime(s.updated_at),
                    len(s.messages),
                    to_optional_datetime(s.expires_at),
                )
                for k, s in sorted(rows, key=lambda row: row[1].updated_at, reverse=True)
            ]

    def delete_user(self, user_id: str | None) -> int:
        with self._lock:
            now = time.time()
            keys = [k for k in list(self._sessions) if k.user_id == user_id]
            if user_id is not None:
                self._user_states.pop(user_id, None)
                self._user_keys.pop(user_id, None)
            return sum(
                self._live(k, now) is not None and self._sessions.pop(k) is not None for k in keys
            )

    def purge_expired(self) -> int:
        with self._lock:
            now = time.time()
            expired = [
                k
                for k, s in self._sessions.items()
                if s.expires_at is not None and s.expires_at <= now
            ]
            for k in expired:
                del self._sessions[k]
            return len(expired)

    def close(self) -> None:
        """Nothing to release; the data lives as long as the store object."""


class MemoryCheckpointData:
    """The checkpoint threads of one store: shared by its savers, kept beside its sessions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.threads: dict[str, Any] = {}  # thread id -> the saver's record of it
