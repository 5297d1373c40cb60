"""Every chat-history operation as a plan: a generator of :class:`Query` that receives their rows.

Plans hold the logic once (SQL from :mod:`.statements`, decoding of rows); the engine drives them
sync or async over one pooled connection, in autocommit or as one short transaction.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from ...records import EncodedMessage, Record, SessionInfo, SessionKey, unique_new
from ..base import sql_params, stored_user
from .statements import Statements

T = TypeVar("T")
Fetch = Literal["none", "all"]


@dataclass(frozen=True)
class Query:
    """One statement of a plan; ``fetch="all"`` returns its rows to the plan."""

    sql: str
    params: dict[str, Any] | tuple[Any, ...] | None = None
    fetch: Fetch = "none"


Plan = Generator[Query, Any, T]
"""A generator of queries receiving their rows: one operation's logic, for sync and async."""


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Lost(Exception):
    """A compare-and-set found another version; raised inside the transaction to roll it back."""


class Plans:
    """Every operation as a plan of queries plus the decoding of their rows; no I/O here."""

    def __init__(self, sql: Statements, ttl: float | None, refresh_on_read: bool):
        self.sql = sql
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None

    def _expires(self, now: datetime) -> datetime | None:
        return None if self.ttl is None else now + timedelta(seconds=self.ttl)

    def schema(self) -> Plan[None]:
        yield Query(self.sql.schema_lock)
        for statement in self.sql.schema:
            yield Query(statement)

    # -- writes ----------------------------------------------------------------------------
    def append(
        self, key: SessionKey, messages: Sequence[EncodedMessage], *, restart: bool = False
    ) -> Plan[int | None]:
        """Appends in one statement; ``None`` when the session had expired, so the caller runs the
        plan again with ``restart=True`` in a transaction, which first drops the expired session."""
        now = _now()
        if restart:
            yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        fresh = list(messages)
        if not all(m.generated for m in messages):  # ids made by this call need no lookup
            rows = yield Query(
                self.sql.known_ids, sql_params(key, now=now, ids=[m.id for m in messages]), "all"
            )
            fresh = unique_new(messages, {row[0] for row in rows})
        rows = yield Query(
            self.sql.append,
            sql_params(
                key,
                now=now,
                expires=self._expires(now),
                n=len(fresh),
                ids=[m.id for m in fresh],
                datas=[m.data for m in fresh],
            ),
            "all",
        )
        return len(fresh) if rows[0][0] else None

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> Plan[bool]:
        """Start the session afresh if it expired, touch it, then swap the state or roll back."""
        now = _now()
        yield Query(self.sql.drop_expired_one, sql_params(key, now=now))
        yield Query(self.sql.touch, sql_params(key, now=now, expires=self._expires(now), n=0))
        rows = yield Query(
            self.sql.cas_state, sql_params(key, data=data, expected=expected_version), "all"
        )
        if not rows:
            raise Lost  # rolls the touch back too
        return True

    def delete_session(self, key: SessionKey) -> Plan[bool]:
        rows = yield Query(self.sql.delete_session, sql_params(key, now=_now()), "all")
        return any(live for (live,) in rows)

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> Plan[bool]:
        sql = self.sql.create_user_state if expected_version == 0 else self.sql.cas_user_state
        rows = yield Query(
            sql, {"user": user_id, "data": data, "expected": expected_version}, "all"
        )
        return bool(rows)

    def get_user_state(self, user_id: str) -> Plan[tuple[int, bytes | None]]:
        rows = yield Query(self.sql.get_user_state, {"user": user_id}, "all")
        return (0, None) if not rows else (int(rows[0][0]), bytes(rows[0][1]))

    def delete_user(self, user_id: str | None) -> Plan[int]:
        if user_id is not None:
            yield Query(self.sql.delete_user_state, {"user": user_id})
        rows = yield Query(
            self.sql.delete_user, {"user": stored_user(user_id), "now": _now()}, "all"
        )
        return sum(bool(live) for (live,) in rows)

    def purge_expired(self) -> Plan[int]:
        rows = yield Query(self.sql.purge_expired, {"now": _now()}, "all")
        return int(rows[0][0])

    # -- reads (autocommit; with refresh_on_read the expiry slides in the same round trip) -
    def _read(self, key: SessionKey, sql: str, **extra: Any) -> Plan[list[tuple[Any, ...]]]:
        now = _now()
        if self.refresh_on_read and self.ttl is not None:
            yield Query(self.sql.refresh, sql_params(key, now=now, expires=self._expires(now)))
        rows = yield Query(sql, sql_params(key, now=now, **extra), "all")
        return rows

    def tail(self, key: SessionKey, k: int | None) -> Plan[list[Record]]:
        rows = yield from self._read(key, self.sql.tail, k=k)
        rows.reverse()
        return [(seq, bytes(data)) for seq, data in rows]

    def range(self, key: SessionKey, start: int, end: int | None) -> Plan[list[Record]]:
        rows = yield from self._read(
            key, self.sql.range, start=start, end=2**62 if end is None else end
        )
        return [(seq, bytes(data)) for seq, data in rows]

    def count(self, key: SessionKey) -> Plan[int]:
        rows = yield from self._read(key, self.sql.count)
        return int(rows[0][0]) if rows else 0

    def get_state(self, key: SessionKey) -> Plan[tuple[int, bytes | None]]:
        rows = yield from self._read(key, self.sql.get_state)
        if not rows:
            return 0, None
        version, data = rows[0]
        return int(version), None if data is None else bytes(data)

    def list_sessions(self, user_id: str | None) -> Plan[list[SessionInfo]]:
        rows = yield Query(
            self.sql.list_sessions, {"user": stored_user(user_id), "now": _now()}, "all"
        )
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
