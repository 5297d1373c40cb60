"""Chat history on plain Redis / Valkey: no modules, no KEYS or SCAN, Cluster safe.

Per session: ``:log`` (list of message bytes), ``:ids`` (hash message id -> seq, for dedup),
``:meta`` (hash of timestamps), ``:state`` (hash of version + data); per user: ``:sessions``
(sorted set by last update), so listing and erasing a user never scan the keyspace (key names:
:mod:`.keys`, scripts: ``lua/``). Every operation is a generator of requests driven by the sync
or the async executor of :class:`RedisConnections`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..._steps import Steps, adrive, drive
from ...errors import CorruptDataError, InvalidArgumentError
from ...records import EncodedMessage, Record, SessionInfo, SessionKey
from .connections import Cmd, Pipe, RedisConnections, Request, Script
from .keys import Keys, escape, unescape
from .listing import (
    check_page,
    decode_cursor,
    encode_cursor,
    info_cmds,
    page_cmds,
    page_entries,
    parse_infos,
)
from .recall import RedisRecall
from .scripts import script

RedisSteps = Steps[Request, Any]
_APPEND, _TAIL_REFRESH = script("append"), script("tail_refresh")
MAX_BOUND = 2**53
"""Larger counts and positions are clamped: Lua numbers are doubles, Redis indexes int64."""


def bound(value: object, name: str, *, low: int | None = None) -> int:
    """An int argument, clamped to what Redis and Lua hold exactly (``low``: the least allowed);
    anything else is refused with :class:`InvalidArgumentError`."""
    if not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low):
        least = "" if low is None else f" of at least {low}"
        raise InvalidArgumentError(f"{name} must be an int{least}, got {value!r:.40}")
    return max(min(value, MAX_BOUND), -MAX_BOUND)


def version_of(value: Any, where: str) -> int:
    """A stored state version, or a CorruptDataError naming where it is stored."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise CorruptDataError(
            f"the state version stored in {where} is {value!r}, not a number: the key was "
            "changed outside this package; delete it to start that state afresh"
        ) from None


class RedisEngine(RedisRecall):
    """Sessions on Redis through :class:`RedisConnections` (its own clients, or the caller's)."""

    kind = "redis"

    def __init__(
        self,
        connections: RedisConnections,
        *,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.connections = connections
        self.clock = clock
        """Epoch seconds for timestamps and expiry (tests move it instead of sleeping)."""
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self.keys = Keys(namespace)

    @property
    def client(self) -> Any:
        """The sync client (for tests and tools that inspect the raw keys)."""
        return self.connections.client

    def _sync(self, steps: RedisSteps) -> Any:
        return drive(steps, self.connections.send)

    async def _async(self, steps: RedisSteps) -> Any:
        return await adrive(steps, self.connections.asend)

    # -- request builders (no I/O) ---------------------------------------------------------
    def _ttl_ms(self) -> int:
        return 0 if self.ttl is None else max(int(self.ttl * 1000), 1)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _touch_args(self, key: SessionKey) -> list[Any]:
        return [self._now_ms(), self._ttl_ms(), escape(key.session_id)]

    def _read_args(self) -> list[Any]:
        """now and the TTL to slide to on a read: 0 unless refresh_on_read."""
        return [self._now_ms(), self._ttl_ms() if self.refresh_on_read else 0]

    def _refreshed(self, key: SessionKey, value: Any) -> RedisSteps:
        """``value``, after sliding the session's expiry when refresh_on_read (one more trip)."""
        if self.refresh_on_read:
            yield Script(script("session_refresh"), self.keys.touch_keys(key), self._read_args())
        return value

    # -- messages --------------------------------------------------------------------------
    def _append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> RedisSteps:
        if messages and messages[0].index is not None:  # the store keeps a recall index
            return (yield from self._recall_append(key, messages))
        args = self._touch_args(key)
        for message in messages:
            args.append(message.id)
            args.append(message.data)
        reply = yield Script(_APPEND, self.keys.touch_keys(key), args)
        return int(reply[0])

    def _tail(self, key: SessionKey, k: int | None) -> RedisSteps:
        """The length and the last ``k`` items in one round trip, atomically: LLEN + LRANGE in
        MULTI / EXEC (no script: Lua would copy every item twice), or the refresh script."""
        count = -1 if k is None else bound(k, "k", low=0)
        keys = self.keys.touch_keys(key)
        if self.refresh_on_read:
            length, items = yield Script(_TAIL_REFRESH, keys, [*self._read_args(), count])
        elif count == 0:
            length, items = (yield Cmd("llen", (keys[0],))), []
        else:
            read = Cmd("lrange", (keys[0], 0 if count < 0 else -count, -1))
            length, items = yield Pipe([Cmd("llen", (keys[0],)), read], atomic=True)
        first = int(length) - len(items) + 1
        return [(first + i, item) for i, item in enumerate(items)]

    def _range(self, key: SessionKey, start: int, end: int | None) -> RedisSteps:
        first = max(bound(start, "start"), 1)
        end = None if end is None else bound(end, "end")
        if end is not None and end <= first:
            return []
        log = self.keys.session(key.user_id, key.session_id)[0]
        items = yield Cmd("lrange", (log, first - 1, -1 if end is None else end - 2))
        return (
            yield from self._refreshed(key, [(first + i, item) for i, item in enumerate(items)])
        )

    def _pop(self, key: SessionKey, n: int) -> RedisSteps:
        """The last ``n`` messages, removed in one script that also forgets their ids."""
        args = [*self._touch_args(key), bound(n, "n", low=0)]
        keep, items = yield Script(script("pop"), self.keys.touch_keys(key), args)
        return [(int(keep) + 1 + i, item) for i, item in enumerate(items)]

    def _count(self, key: SessionKey) -> RedisSteps:
        count = yield Cmd("llen", (self.keys.session(key.user_id, key.session_id)[0],))
        return (yield from self._refreshed(key, int(count)))

    # -- state -----------------------------------------------------------------------------
    def _get_state(self, key: SessionKey) -> RedisSteps:
        state = self.keys.session(key.user_id, key.session_id)[3]
        version, data = yield Cmd("hmget", (state, "v", "data"))
        return (yield from self._refreshed(key, (version_of(version, state), data)))

    def _cas_state(self, key: SessionKey, expected: int, data: bytes) -> RedisSteps:
        args = [*self._touch_args(key), bound(expected, "expected_version", low=0), data]
        return bool((yield Script(script("cas_state"), self.keys.touch_keys(key), args)))

    def _get_user_state(self, user_id: str) -> RedisSteps:
        state = self.keys.user_state(user_id)
        version, data = yield Cmd("hmget", (state, "v", "data"))
        return version_of(version, state), data

    def _cas_user_state(self, user_id: str, expected: int, data: bytes) -> RedisSteps:
        keys = [self.keys.user_state(user_id)]
        return bool(
            (
                yield Script(
                    script("cas_user_state"),
                    keys,
                    [bound(expected, "expected_version", low=0), data, self._ttl_ms()],
                )
            )
        )

    def _get_user_key(self, user_id: str) -> RedisSteps:
        return (yield Cmd("get", (self.keys.user_key(user_id),)))

    def _create_user_key(self, user_id: str, wrapped: bytes) -> RedisSteps:
        return (yield Script(script("user_key_create"), [self.keys.user_key(user_id)], [wrapped]))

    # -- sessions --------------------------------------------------------------------------
    def _delete(self, user_id: str | None, encoded_ids: Sequence[str]) -> RedisSteps:
        keys = [self.keys.index(user_id)]
        for encoded in encoded_ids:
            keys += self.keys.session(user_id, unescape(encoded))
        return int((yield Script(script("delete_sessions"), keys, list(encoded_ids))))

    def _session_ids(self, user_id: str | None) -> RedisSteps:
        ids = yield Cmd("zrevrange", (self.keys.index(user_id), 0, -1))
        return [v.decode() if isinstance(v, bytes) else v for v in ids]

    def _list_sessions(
        self, user_id: str | None, limit: int | None, after: str | None, order: str
    ) -> RedisSteps:
        """Pages of the index, each read with its sessions' metadata in one pipeline, until
        ``limit`` live sessions (expired and damaged entries do not count)."""
        limit = check_page(limit, order)
        position = None if after is None else decode_cursor(after)
        index, found = self.keys.index(user_id), []
        while limit is None or len(found) < limit:
            want = None if limit is None else limit - len(found)
            entries = page_entries((yield Pipe(page_cmds(index, want, position))), position, want)
            encoded = [member.decode() for member, _ in entries]
            replies = yield Pipe(info_cmds(self.keys, user_id, encoded), tolerant=True)
            infos, stale = parse_infos(user_id, encoded, replies)
            found += infos
            if stale:
                yield Cmd("zrem", (index, *stale))
            if want is None or len(entries) < want:
                break
            position = (entries[-1][1], entries[-1][0])
        return found

    @staticmethod
    def cursor(info: SessionInfo) -> str:
        """The ``after=`` of the page that follows ``info`` (the last row of a page)."""
        return encode_cursor(info)

    def _delete_user(self, user_id: str | None) -> RedisSteps:
        removed = 0
        while encoded := (yield from self._session_ids(user_id)):  # new sessions are erased too
            removed += yield from self._delete(user_id, encoded)
        yield Pipe(
            [
                Cmd("delete", (self.keys.user_state(user_id),)),
                Cmd("delete", (self.keys.user_key(user_id),)),
            ]
        )
        yield from self._recall_erase(user_id)
        return removed

    # -- sync and async entry points -------------------------------------------------------
    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return self._sync(self._append(key, messages))

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return await self._async(self._append(key, messages))

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        return self._sync(self._tail(key, k))

    async def atail(self, key: SessionKey, k: int | None) -> list[Record]:
        return await self._async(self._tail(key, k))

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return self._sync(self._range(key, start, end))

    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        return await self._async(self._range(key, start, end))

    def count(self, key: SessionKey) -> int:
        return self._sync(self._count(key))

    async def acount(self, key: SessionKey) -> int:
        return await self._async(self._count(key))

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return self._sync(self._get_state(key))

    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        return await self._async(self._get_state(key))

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return self._sync(self._cas_state(key, expected_version, data))

    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return await self._async(self._cas_state(key, expected_version, data))

    def get_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        return self._sync(self._get_user_state(user_id))

    async def aget_user_state(self, user_id: str) -> tuple[int, bytes | None]:
        return await self._async(self._get_user_state(user_id))

    def cas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        return self._sync(self._cas_user_state(user_id, expected_version, data))

    async def acas_user_state(self, user_id: str, expected_version: int, data: bytes) -> bool:
        return await self._async(self._cas_user_state(user_id, expected_version, data))

    def get_user_key(self, user_id: str) -> bytes | None:
        return self._sync(self._get_user_key(user_id))

    async def aget_user_key(self, user_id: str) -> bytes | None:
        return await self._async(self._get_user_key(user_id))

    def create_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        return self._sync(self._create_user_key(user_id, wrapped))

    async def acreate_user_key(self, user_id: str, wrapped: bytes) -> bytes:
        return await self._async(self._create_user_key(user_id, wrapped))

    def delete_session(self, key: SessionKey) -> bool:
        return bool(self._sync(self._delete(key.user_id, [escape(key.session_id)])))

    async def adelete_session(self, key: SessionKey) -> bool:
        return bool(await self._async(self._delete(key.user_id, [escape(key.session_id)])))

    def list_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        """Live sessions, newest first; ``limit`` / ``after`` (see :meth:`cursor`) page them."""
        return self._sync(self._list_sessions(user_id, limit, after, order))

    async def alist_sessions(
        self,
        user_id: str | None,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: str = "updated_desc",
    ) -> list[SessionInfo]:
        return await self._async(self._list_sessions(user_id, limit, after, order))

    def pop(self, key: SessionKey, n: int) -> list[Record]:
        """Remove and return the last ``n`` messages atomically (their ids are forgotten)."""
        return self._sync(self._pop(key, n))

    async def apop(self, key: SessionKey, n: int) -> list[Record]:
        return await self._async(self._pop(key, n))

    def delete_user(self, user_id: str | None) -> int:
        """Erase the user's sessions, per-user state and data key. The bytes may survive in the
        server's AOF / RDB files until they are rewritten: that is the operator's (BGREWRITEAOF,
        new snapshots, the retention of backups)."""
        return self._sync(self._delete_user(user_id))

    async def adelete_user(self, user_id: str | None) -> int:
        return await self._async(self._delete_user(user_id))

    def purge_expired(self) -> int:
        """Redis expires keys natively; stale index entries are dropped when a user is listed."""
        return 0

    async def apurge_expired(self) -> int:
        return 0

    def close(self) -> None:
        self.connections.close()

    async def aclose(self) -> None:
        await self.connections.aclose()
