"""Every chat-history operation as a plan: a generator of :class:`Query` that receives their rows.

Plans hold the logic once (SQL from :mod:`.statements`, decoding of rows); the engine drives them
sync or async over one pooled connection, in autocommit or as one short transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import InvalidArgumentError, InvalidIdError
from ...records import EncodedMessage, Record, SessionInfo, SessionKey, unique_new
from ..args import check_bytes, check_key, check_user
from ..base import sql_params, stored_user
from .appends import bind
from .queries import BIG, Plan, Query, Run, clamp, hot
from .statements import Statements

__all__ = ["BIG", "Lost", "Plan", "Plans", "Query", "Run", "clamp", "hot"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def check_message_ids(messages: Sequence[EncodedMessage]) -> None:
    """Message ids become TEXT keys: no NUL (PostgreSQL text cannot hold it), whole UTF-8 only."""
    for m in messages:
        bad = "\x00" in m.id
        if not bad:
            try:
                m.id.encode("utf-8")
            except UnicodeEncodeError:
                bad = True
        if bad:
            raise InvalidIdError(
                f"message id {m.id!r} contains a NUL character or a lone surrogate, which "
                "PostgreSQL text cannot store: give the message an id of printable characters"
            )


def encode_cursor(updated_at: datetime, session_id: str) -> str:
    """The opaque ``after=`` cursor of a session page: microseconds since the epoch and the id."""
    delta = _utc(updated_at) - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}:{session_id}"


def decode_cursor(cursor: object) -> tuple[datetime, str]:
    micros, sep, session_id = cursor.partition(":") if isinstance(cursor, str) else ("", "", "")
    try:
        if not sep or not session_id:
            raise ValueError(cursor)
        return EPOCH + timedelta(microseconds=int(micros)), session_id
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            f"after={cursor!r} is not a list_sessions cursor: pass engine.cursor(info) of the "
            "last SessionInfo of the previous page, or None for the first page"
        ) from None


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Lost(Exception):
    """A compare-and-set found another version; raised inside the transaction to roll it back."""


class Plans:
    """Every operation as a plan of queries plus the decoding of their rows; no I/O here."""

    def __init__(
        self,
        sql: Statements,
        ttl: float | None,
        refresh_on_read: bool,
        clock: Callable[[], float] = time.time,
    ):
        self.sql = sql
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def _expires(self, now: datetime) -> datetime | None:
        return None if self.ttl is None else now + timedelta(seconds=self.ttl)

    # -- writes ----------------------------------------------------------------------------
    def append(
        self, key: SessionKey, messages: Sequence[EncodedMessage], *, restart: bool = False
    ) -> Plan[int | None]:
        """Append in one statement (see :mod:`.appends`): the update of a live session, else
        the upsert; ``None`` when the session had expired, so the caller runs the plan again
        with ``restart=True`` in a transaction, which first drops the expired session."""
        check_key(key)
        check_message_ids(messages)
        now = self._now()
        if restart:
            yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        check = not all(m.generated for m in messages)  # ids made by this call need no lookup
        batch = unique_new(messages, frozenset()) if check else messages
        params = sql_params(key, now=now, expires=self._expires(now))
        bind(params, batch)
        appends = self.sql.appends
        if not restart:
            rows = yield hot(appends.sql(len(batch), check, create=False), params, "all")
            if rows:
                return int(rows[0][0])
        rows = yield hot(appends.sql(len(batch), check, create=True), params, "all")
        return int(rows[0][0]) if rows else None

    def pop(self, key: SessionKey, n: int) -> Plan[list[Record]]:
        """Remove the last ``n`` messages in one statement; returns them oldest first."""
        check_key(key)
        if clamp(n, "n") <= 0:
            return []
        now = self._now()
        params = sql_params(key, now=now, expires=self._expires(now), n=clamp(n, "n"))
        rows = yield hot(self.sql.pop, params, "all", binary=True)
        return [(seq, bytes(data)) for seq, data in rows]

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> Plan[bool]:
        """Start the session afresh if it expired, touch it, then swap the state or roll back."""
        check_key(key)
        now = self._now()
        yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        yield Query(self.sql.touch, sql_params(key, now=now, expires=self._expires(now), n=0))
        rows = yield Query(
            self.sql.cas_state,
            sql_params(key, data=data, expected=clamp(expected_version)),
            "all",
        )
        if not rows:
            raise Lost  # rolls the touch back too
        return True

    def delete_session(self, key: SessionKey) -> Plan[bool]:
        check_key(key)
        rows = yield Query(self.sql.delete_session, sql_params(key, now=self._now()), "all")
        return any(live for (live,) in rows)

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> Plan[bool]:
        user, data = check_user(user_id), check_bytes(data, "data")
        sql = self.sql.create_user_state if expected_version == 0 else self.sql.cas_user_state
        params = {"user": user, "data": data, "expected": clamp(expected_version)}
        rows = yield Query(sql, params, "all")
        return bool(rows)

    def get_user_state(self, user_id: str) -> Plan[tuple[int, bytes | None]]:
        rows = yield Query(self.sql.get_user_state, {"user": check_user(user_id)}, "all")
        return (0, None) if not rows else (int(rows[0][0]), bytes(rows[0][1]))

    def get_user_key(self, user_id: str) -> Plan[bytes | None]:
        rows = yield Query(self.sql.get_user_key, {"user": check_user(user_id)}, "all")
        return bytes(rows[0][0]) if rows else None

    def create_user_key(self, user_id: str, wrapped: bytes) -> Plan[bytes]:
        """Insert unless present, then return the stored key: racing creators get one key."""
        user_id, wrapped = check_user(user_id), check_bytes(wrapped, "wrapped")  # type: ignore[assignment]
        for _ in range(3):
            rows = yield Query(
                self.sql.create_user_key, {"user": user_id, "wrapped": wrapped}, "all"
            )
            if rows:
                return bytes(rows[0][0])
            stored = yield from self.get_user_key(user_id)
            if stored is not None:
                return stored  # another writer's key (this statement saw it committed)
        raise AssertionError("unreachable: a user key neither inserted nor found three times")

    def delete_user(self, user_id: str | None) -> Plan[int]:
        user_id = check_user(user_id, anonymous=True)
        if user_id is not None:
            yield Query(self.sql.delete_user_state, {"user": user_id})
            yield Query(self.sql.delete_user_key, {"user": user_id})
        rows = yield Query(
            self.sql.delete_user, {"user": stored_user(user_id), "now": self._now()}, "all"
        )
        return sum(bool(live) for (live,) in rows)

    def purge_expired(self) -> Plan[int]:
        rows = yield Query(self.sql.purge_expired, {"now": self._now()}, "all")
        return int(rows[0][0])

    # -- reads (autocommit; with refresh_on_read the expiry slides in the same statement) ---
    def _read(self, key: SessionKey, sql: str, **extra: Any) -> Plan[list[tuple[Any, ...]]]:
        check_key(key)
        now = self._now()
        params = sql_params(key, now=now, **extra)
        if self.refresh_on_read:
            sql, params["expires"] = self.sql.refreshing[sql], self._expires(now)
        rows = yield hot(sql, params, "all", binary=True)
        return rows

    def tail(self, key: SessionKey, k: int | None) -> Plan[list[Record]]:
        check_key(key)
        if k is not None and clamp(k, "k") <= 0:
            return []
        rows = yield from self._read(key, self.sql.tail, k=None if k is None else clamp(k, "k"))
        rows.reverse()
        return rows  # binary rows: (seq, bytes) tuples already

    def range(self, key: SessionKey, start: int, end: int | None) -> Plan[list[Record]]:
        rows = yield from self._read(
            key,
            self.sql.range,
            start=clamp(start, "start"),
            end=BIG if end is None else clamp(end, "end"),
        )
        return rows

    def count(self, key: SessionKey) -> Plan[int]:
        rows = yield from self._read(key, self.sql.count)
        return int(rows[0][0]) if rows else 0

    def get_state(self, key: SessionKey) -> Plan[tuple[int, bytes | None]]:
        rows = yield from self._read(key, self.sql.get_state)
        if not rows:
            return 0, None
        version, data = rows[0]
        return int(version), None if data is None else bytes(data)

    def list_sessions(
        self, user_id: str | None, limit: int | None, after: str | None
    ) -> Plan[list[SessionInfo]]:
        """The user's live sessions, newest first; ``after`` (a cursor) starts past that row."""
        user_id = check_user(user_id, anonymous=True)
        params: dict[str, Any] = {
            "user": stored_user(user_id),
            "now": self._now(),
            "limit": None if limit is None else max(0, clamp(limit, "limit")),
        }
        sql = self.sql.list_sessions
        if after is not None:
            params["after_at"], params["after_sid"] = decode_cursor(after)
            sql = self.sql.list_sessions_after
        rows = yield hot(sql, params, "all")
        return [
            SessionInfo(
                sid,
                user_id,
                _utc(created),
                _utc(updated),
                int(count),
                None if expires is None else _utc(expires),
            )
            for sid, created, updated, count, expires in rows
        ]
