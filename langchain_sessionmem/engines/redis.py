"""Production engine on plain Redis / Valkey: no modules, no KEYS or SCAN, Cluster safe.

Every key of a user's sessions shares one hash tag, ``{<namespace>|<user>}``, so each operation
is one Lua script or one command on one slot: atomic on a single server and on Redis Cluster.
Per session: ``:log`` (list of message bytes), ``:ids`` (hash message id -> seq, for dedup),
``:meta`` (hash of timestamps), ``:state`` (hash of version + data); per user: ``:sessions``
(sorted set by last update), so listing and erasing a user never scan the keyspace.
The sync and async executors share every builder and decoder below.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..codec import EncodedMessage
from ..errors import ConfigurationError, EngineUnavailableError

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import NoScriptError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # the engine is imported only when a Redis store is asked for
    raise ConfigurationError(
        "the Redis engine needs redis-py: pip install 'langchain-sessionmem[redis]'"
    ) from exc
from .base import Record, SessionInfo, SessionKey, redacted, to_datetime

_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A", "|": "%7C"})

# Refreshes a session's metadata, its user's index and the sliding TTL of all its keys.
# KEYS: log, ids, meta, state, index. ARGV[1..3]: now_ms, ttl_ms (0 = none), encoded session id.
_TOUCH = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HSETNX', KEYS[3], 'created', now)
redis.call('HSET', KEYS[3], 'updated', now)
redis.call('ZADD', KEYS[5], now, ARGV[3])
if ttl > 0 then
  redis.call('HSET', KEYS[3], 'expires', now + ttl)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
else
  redis.call('HDEL', KEYS[3], 'expires')
end
"""

# ARGV[4..]: pairs of (message id, bytes). Returns {appended, length}.
_APPEND = (
    """
local n = redis.call('LLEN', KEYS[1])
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], n + 1) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    n = n + 1
    added = added + 1
  end
end
"""
    + _TOUCH
    + """
return {added, n}
"""
)

# ARGV[4..5]: expected version, data. Returns 1 when written, 0 when another version won.
_CAS_STATE = (
    """
local v = tonumber(redis.call('HGET', KEYS[4], 'v') or '0')
if v ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[4], 'v', v + 1, 'data', ARGV[5])
"""
    + _TOUCH
    + """
return 1
"""
)

# Slides the expiry of a live session on a read (refresh_on_read), without marking it updated.
# KEYS: log, ids, meta, state, index. ARGV[1..2]: now_ms, ttl_ms (0 = no refresh).
_REFRESH = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if ttl > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'expires', now + ttl)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
"""

# ARGV[3]: k (negative = all). Returns {length, items} so items get their seq.
_TAIL = (
    _REFRESH
    + """
local n = redis.call('LLEN', KEYS[1])
local k = tonumber(ARGV[3])
local start = 0
if k >= 0 then start = math.max(n - k, 0) end
if k == 0 then return {n, {}} end
return {n, redis.call('LRANGE', KEYS[1], start, -1)}
"""
)

# KEYS: index, then 4 keys per session; ARGV: encoded session ids. Returns sessions removed.
_DELETE = """
local removed = 0
for i = 1, #ARGV do
  local base = 1 + (i - 1) * 4
  if redis.call('DEL', KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]) > 0 then
    removed = removed + 1
  end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return removed
"""

_SUFFIXES = ("log", "ids", "meta", "state")
_SHA = {
    source: hashlib.sha1(source.encode()).hexdigest()
    for source in (_APPEND, _CAS_STATE, _TAIL, _DELETE, _REFRESH)
}


def _escape(value: str) -> str:
    return value.translate(_ESCAPES)


def _unescape(value: str) -> str:
    return unquote(value)  # exact inverse: every literal "%" was escaped


class Keys:
    """Key names of one namespace; no I/O."""

    def __init__(self, namespace: str):
        self.namespace = namespace

    def tag(self, user_id: str | None) -> str:
        return (
            "{" + self.namespace + "|" + ("" if user_id is None else "u=" + _escape(user_id)) + "}"
        )

    def index(self, user_id: str | None) -> str:
        return f"{self.tag(user_id)}:sessions"

    def session(self, user_id: str | None, session_id: str) -> list[str]:
        prefix = f"{self.tag(user_id)}:s:{_escape(session_id)}:"
        return [prefix + suffix for suffix in _SUFFIXES]

    def touch_keys(self, key: SessionKey) -> list[str]:
        return [*self.session(key.user_id, key.session_id), self.index(key.user_id)]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in {"redis+cluster", "rediss+cluster"}


class RedisEngine:
    kind = "redis"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        aclient: Any = None,
        namespace: str = "sessionmem",
        ttl: float | None = None,
        refresh_on_read: bool = False,
    ):
        if url is None and client is None and aclient is None:
            raise ConfigurationError("RedisEngine needs a url or a client")
        self.url = url
        self.ttl = ttl
        self.refresh_on_read = refresh_on_read and ttl is not None
        self.keys = Keys(namespace)
        self._client = client
        self._aclient = aclient
        # redis.asyncio connections belong to one event loop: with a URL, each loop gets its own client.
        self._loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._owns_clients = url is not None

    # -- clients ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The sync client (``redis.Redis`` or ``redis.cluster.RedisCluster``), made on first use."""
        if self._client is None:
            self._client = self._make_client(use_asyncio=False)
        return self._client

    @property
    def aclient(self) -> Any:
        """The asyncio client matching :attr:`client`, made on first use in each event loop."""
        if self._aclient is not None:
            return self._aclient
        loop = asyncio.get_running_loop()
        if loop not in self._loop_clients:
            self._loop_clients[loop] = self._make_client(use_asyncio=True)
        return self._loop_clients[loop]

    def _make_client(self, *, use_asyncio: bool) -> Any:
        if self.url is None:
            raise ConfigurationError(
                "this store was built from a single Redis client; pass both client= and aclient= "
                "to SessionStore.from_client to use sync and async methods"
            )
        if _is_cluster_url(self.url):
            parts = urlsplit(self.url)
            plain = urlunsplit(parts._replace(scheme=parts.scheme.replace("+cluster", "")))
            cluster = (
                redis.asyncio.cluster.RedisCluster if use_asyncio else redis.cluster.RedisCluster
            )
            return cluster.from_url(plain)
        return (redis.asyncio.Redis if use_asyncio else redis.Redis).from_url(self.url)

    @property
    def _where(self) -> str:
        return redacted(self.url) if self.url else "the given Redis client"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise EngineUnavailableError(
                f"cannot reach Redis at {self._where}: {exc}. Check that the server is running "
                "and the URL is right; nothing was written by this call unless it had already reached the server"
            ) from exc

    # -- builders (shared by the sync and async twins) -------------------------------------
    def _touch_args(self, key: SessionKey) -> list[Any]:
        ttl_ms = 0 if self.ttl is None else max(int(self.ttl * 1000), 1)
        return [int(time.time() * 1000), ttl_ms, _escape(key.session_id)]

    def _append_call(
        self, key: SessionKey, messages: Sequence[EncodedMessage]
    ) -> tuple[str, list, list]:
        args = self._touch_args(key)
        for message in messages:
            args += [message.id, message.data]
        return _APPEND, self.keys.touch_keys(key), args

    def _read_args(self) -> list[Any]:
        """now and the TTL to slide to on a read: 0 unless refresh_on_read."""
        ttl_ms = max(int(self.ttl * 1000), 1) if self.refresh_on_read and self.ttl else 0
        return [int(time.time() * 1000), ttl_ms]

    def _tail_call(self, key: SessionKey, k: int | None) -> tuple[str, list, list]:
        return _TAIL, self.keys.touch_keys(key), [*self._read_args(), -1 if k is None else k]

    def _refresh_call(self, key: SessionKey) -> tuple[str, list, list] | None:
        """The extra round trip that slides a session after a plain read, when refresh_on_read."""
        return (
            (_REFRESH, self.keys.touch_keys(key), self._read_args())
            if self.refresh_on_read
            else None
        )

    def _cas_call(self, key: SessionKey, expected: int, data: bytes) -> tuple[str, list, list]:
        return _CAS_STATE, self.keys.touch_keys(key), [*self._touch_args(key), expected, data]

    def _delete_call(
        self, user_id: str | None, encoded_ids: Sequence[str]
    ) -> tuple[str, list, list]:
        keys = [self.keys.index(user_id)]
        for encoded in encoded_ids:
            keys += self.keys.session(user_id, _unescape(encoded))
        return _DELETE, keys, list(encoded_ids)

    @staticmethod
    def _tail_records(result: Any) -> list[Record]:
        length, items = result
        first = int(length) - len(items) + 1
        return [(first + i, item) for i, item in enumerate(items)]

    def _meta_commands(self, pipe: Any, user_id: str | None, encoded_ids: Sequence[str]) -> None:
        for encoded in encoded_ids:
            log, _, meta, _ = self.keys.session(user_id, _unescape(encoded))
            pipe.hmget(meta, "created", "updated", "expires")
            pipe.llen(log)

    @staticmethod
    def _infos(
        user_id: str | None, encoded_ids: Sequence[Any], replies: list[Any]
    ) -> tuple[list[SessionInfo], list[Any]]:
        infos, stale = [], []
        for i, encoded in enumerate(encoded_ids):
            (created, updated, expires), count = replies[2 * i], replies[2 * i + 1]
            if created is None:
                stale.append(encoded)
                continue
            infos.append(
                SessionInfo(
                    _unescape(encoded.decode() if isinstance(encoded, bytes) else encoded),
                    user_id,
                    to_datetime(float(created) / 1000),
                    to_datetime(float(updated) / 1000),
                    int(count),
                    None if expires is None else to_datetime(float(expires) / 1000),
                )
            )
        return infos, stale

    @staticmethod
    def _text(values: Sequence[Any]) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else v for v in values]

    # -- sync executor ---------------------------------------------------------------------
    def _run(self, call: tuple[str, list, list]) -> Any:
        """EVALSHA, falling back to EVAL (which caches the script) on a server that lacks it."""
        source, keys, args = call
        with self._guard():
            try:
                return self.client.evalsha(_SHA[source], len(keys), *keys, *args)
            except NoScriptError:
                return self.client.eval(source, len(keys), *keys, *args)

    def append(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return int(self._run(self._append_call(key, messages))[0])

    def _refreshed(self, key: SessionKey, value: Any) -> Any:
        if (call := self._refresh_call(key)) is not None:
            self._run(call)
        return value

    def tail(self, key: SessionKey, k: int | None) -> list[Record]:
        return self._tail_records(self._run(self._tail_call(key, k)))

    @staticmethod
    def _lrange_bounds(start: int, end: int | None) -> tuple[int, int] | None:
        """LRANGE indexes of positions ``[start, end)``; ``None`` when empty (a stop of -1 means "to the end")."""
        first = max(start, 1)
        if end is not None and end <= first:
            return None
        return first - 1, -1 if end is None else end - 2

    def range(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        if (bounds := self._lrange_bounds(start, end)) is None:
            return []
        with self._guard():
            items = self.client.lrange(self.keys.session(key.user_id, key.session_id)[0], *bounds)
        return self._refreshed(key, [(bounds[0] + 1 + i, item) for i, item in enumerate(items)])

    def count(self, key: SessionKey) -> int:
        with self._guard():
            count = int(self.client.llen(self.keys.session(key.user_id, key.session_id)[0]))
        return self._refreshed(key, count)

    def get_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        with self._guard():
            version, data = self.client.hmget(
                self.keys.session(key.user_id, key.session_id)[3], "v", "data"
            )
        return self._refreshed(key, (int(version or 0), data))

    def cas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return bool(self._run(self._cas_call(key, expected_version, data)))

    def delete_session(self, key: SessionKey) -> bool:
        return bool(self._run(self._delete_call(key.user_id, [_escape(key.session_id)])))

    def _session_ids(self, user_id: str | None) -> list[str]:
        with self._guard():
            return self._text(self.client.zrevrange(self.keys.index(user_id), 0, -1))

    def list_sessions(self, user_id: str | None) -> list[SessionInfo]:
        encoded = self._session_ids(user_id)
        if not encoded:
            return []
        with self._guard():
            pipe = self.client.pipeline(transaction=False)
            self._meta_commands(pipe, user_id, encoded)
            infos, stale = self._infos(user_id, encoded, pipe.execute())
            if stale:
                self.client.zrem(self.keys.index(user_id), *stale)
        return infos

    def delete_user(self, user_id: str | None) -> int:
        removed = 0
        while encoded := self._session_ids(user_id):  # sessions created meanwhile are erased too
            removed += int(self._run(self._delete_call(user_id, encoded)))
        return removed

    def purge_expired(self) -> int:
        """Redis expires keys natively; stale index entries are dropped when a user is listed."""
        return 0

    def close(self) -> None:
        if self._owns_clients and self._client is not None:
            self._client.close()
            self._client = None

    # -- async executor --------------------------------------------------------------------
    async def _ready(self) -> Any:
        """The asyncio client, with a cluster client's nodes discovered before its first command.

        redis-py's asyncio ``RedisCluster`` fails (``'NoneType' object has no attribute 'writelines'``)
        when many tasks send the first commands of a fresh client at once; ``initialize()`` is locked
        and idempotent, so every task awaits it first.
        """
        client = self.aclient
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            with self._guard():
                await client.initialize()
        return client

    async def _arun(self, call: tuple[str, list, list]) -> Any:
        source, keys, args = call
        client = await self._ready()
        with self._guard():
            try:
                return await client.evalsha(_SHA[source], len(keys), *keys, *args)
            except NoScriptError:
                return await client.eval(source, len(keys), *keys, *args)

    async def aappend(self, key: SessionKey, messages: Sequence[EncodedMessage]) -> int:
        return int((await self._arun(self._append_call(key, messages)))[0])

    async def _arefreshed(self, key: SessionKey, value: Any) -> Any:
        if (call := self._refresh_call(key)) is not None:
            await self._arun(call)
        return value

    async def atail(self, key: SessionKey, k: int | None) -> list[Record]:
        return self._tail_records(await self._arun(self._tail_call(key, k)))

    async def arange(self, key: SessionKey, start: int, end: int | None) -> list[Record]:
        if (bounds := self._lrange_bounds(start, end)) is None:
            return []
        client = await self._ready()
        with self._guard():
            items = await client.lrange(self.keys.session(key.user_id, key.session_id)[0], *bounds)
        return await self._arefreshed(
            key, [(bounds[0] + 1 + i, item) for i, item in enumerate(items)]
        )

    async def acount(self, key: SessionKey) -> int:
        client = await self._ready()
        with self._guard():
            count = int(await client.llen(self.keys.session(key.user_id, key.session_id)[0]))
        return await self._arefreshed(key, count)

    async def aget_state(self, key: SessionKey) -> tuple[int, bytes | None]:
        client = await self._ready()
        with self._guard():
            version, data = await client.hmget(
                self.keys.session(key.user_id, key.session_id)[3], "v", "data"
            )
        return await self._arefreshed(key, (int(version or 0), data))

    async def acas_state(self, key: SessionKey, expected_version: int, data: bytes) -> bool:
        return bool(await self._arun(self._cas_call(key, expected_version, data)))

    async def adelete_session(self, key: SessionKey) -> bool:
        return bool(await self._arun(self._delete_call(key.user_id, [_escape(key.session_id)])))

    async def _asession_ids(self, user_id: str | None) -> list[str]:
        client = await self._ready()
        with self._guard():
            return self._text(await client.zrevrange(self.keys.index(user_id), 0, -1))

    async def alist_sessions(self, user_id: str | None) -> list[SessionInfo]:
        encoded = await self._asession_ids(user_id)
        if not encoded:
            return []
        client = await self._ready()
        with self._guard():
            pipe = client.pipeline(transaction=False)
            self._meta_commands(pipe, user_id, encoded)
            infos, stale = self._infos(user_id, encoded, await pipe.execute())
            if stale:
                await client.zrem(self.keys.index(user_id), *stale)
        return infos

    async def adelete_user(self, user_id: str | None) -> int:
        removed = 0
        while encoded := await self._asession_ids(user_id):
            removed += int(await self._arun(self._delete_call(user_id, encoded)))
        return removed

    async def apurge_expired(self) -> int:
        return 0

    async def aclose(self) -> None:
        """Close this event loop's client (and the sync client)."""
        if self._owns_clients:
            client = self._loop_clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.aclose()
        self.close()
