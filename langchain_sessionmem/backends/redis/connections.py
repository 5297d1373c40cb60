"""Connections to one Redis deployment, shared by the chat-history engine and the checkpointer.

Owns URL parsing (``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``), the sync client,
one asyncio client per event loop (redis-py asyncio clients belong to one loop), the cluster
client's initialisation, and the one place where redis-py errors become typed errors
(:mod:`.failures`) with the password redacted. Requests are plain values
(:class:`Script`, :class:`Cmd`, :class:`Pipe`) so engine and saver logic stays sans-IO.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..._steps import Steps, adrive, drive
from ...errors import ConfigurationError
from .._loops import PerLoop
from ..base import redacted
from .scripts import LuaScript

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster
    from redis.exceptions import NoScriptError
except ImportError as exc:  # the backend is imported only when a Redis store is asked for
    raise ConfigurationError(
        "the Redis backend needs redis-py: pip install 'langchain-sessionmem[redis]'"
    ) from exc

from .failures import MAPPED, typed
from .lanes import AsyncLane, Lane
from .scripts import script

try:  # redis-py >= 7: CLIENT SETINFO metadata; resolved here, once, outside any event loop
    from redis.driver_info import DriverInfo
except ImportError:  # pragma: no cover - older redis-py reads its version once, at import
    DriverInfo = None

CLUSTER_SCHEMES = {"redis+cluster", "rediss+cluster"}


def client_options() -> dict[str, Any]:
    """Options every client this module makes gets.

    redis-py 8 builds the ``CLIENT SETINFO`` library version of each new connection with
    ``importlib.metadata.version("redis")``, a file read, so each asyncio connection opened in an
    event loop made a blocking call there. The version is resolved once (``redis.__version__``, a
    literal) and handed to every connection.
    """
    if DriverInfo is None:
        return {}
    return {"driver_info": DriverInfo(name="redis-py", lib_version=redis.__version__)}


class Script(NamedTuple):
    """One Lua script on keys of one hash tag: one slot, so atomic and one round trip."""

    script: LuaScript
    keys: list[str]
    args: list[Any]


class Cmd(NamedTuple):
    """One Redis command, sent alone or queued in a :class:`Pipe`."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


class Pipe(NamedTuple):
    """Commands sent in one pipeline (a cluster client splits it by slot, so a DEL names one
    key). An empty pipe is not sent and reads as ``[]``. A ``tolerant`` pipe returns a failed
    command's typed error in its place instead of raising it (one damaged record must not hide
    the others). An ``atomic`` pipe is a MULTI / EXEC transaction on keys of one slot: nothing
    runs between its commands, which must be ones whose raw replies need no redis-py callback
    (no options)."""

    cmds: list[Cmd]
    tolerant: bool = False
    atomic: bool = False


Request: TypeAlias = Script | Cmd | Pipe


def check_url(url: str) -> str:
    """``url`` if redis-py will connect where it says, else a ConfigurationError with the fix.

    redis-py silently takes database 0 for a path that is not a number (``redis://host/x``), and
    Redis Cluster has database 0 only; a number the server lacks is reported by the server on
    connect (see :mod:`.failures`).
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a Redis URL must be a str, got {type(url).__name__}")
    parts = urlsplit(url)
    shown = redacted(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigurationError(
            f"the port in {shown} is not a number: use e.g. redis://host:6379/0"
        ) from None
    dbs = parse_qs(parts.query).get("db", [])
    if parts.scheme != "unix" and parts.path.strip("/"):
        dbs.append(parts.path.strip("/"))
    for db in dbs:
        if not db.isdigit():
            raise ConfigurationError(
                f"the database in {shown} is {db!r}, not a number: use a database number, "
                "e.g. redis://host:6379/0 (a default server has 0-15)"
            )
        if parts.scheme in CLUSTER_SCHEMES and int(db) != 0:
            raise ConfigurationError(
                f"Redis Cluster has only database 0, {shown} asks for {db}: drop '/{db}' from "
                "the URL and use a namespace to keep applications apart"
            )
    return url


class RedisConnections:
    """Sync and per-loop asyncio clients for a URL, or the caller's own clients (never closed here)."""

    def __init__(self, url: str | None = None, *, client: Any = None, aclient: Any = None):
        if url is None and client is None and aclient is None:
            raise ConfigurationError("Redis connections need a url or a client")
        self.url = None if url is None else check_url(url)
        self._client = client
        self._aclient = aclient
        self._owns_clients = url is not None
        self._loop_clients: PerLoop[Any] = PerLoop(lambda: self._make(use_asyncio=True))
        self._lanes = url is not None and urlsplit(url).scheme not in CLUSTER_SCHEMES
        """Scripts go through :mod:`.lanes` (clients made here, not for a cluster)."""
        self._lane: Lane | None = None
        self._loop_lanes: PerLoop[AsyncLane] = PerLoop(lambda: AsyncLane(self.aclient))

    # -- clients ---------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return redacted(self.url) if self.url else "the given Redis client"

    @property
    def client(self) -> Any:
        """The sync client (``redis.Redis`` or ``redis.cluster.RedisCluster``), made on first use."""
        if self._client is None:
            self._client = self._make(use_asyncio=False)
            if self._lanes:
                self._lane = Lane(self._client)
        return self._client

    @property
    def aclient(self) -> Any:
        """The running loop's asyncio client (the given one, or one made for this loop)."""
        if self._aclient is not None:
            return self._aclient
        return self._loop_clients.get()

    def _make(self, *, use_asyncio: bool) -> Any:
        if self.url is None:
            raise ConfigurationError(
                "this store was built from a single Redis client; pass both client= and aclient= "
                "to SessionStore.from_client to use sync and async methods"
            )
        parts = urlsplit(self.url)
        if parts.scheme in CLUSTER_SCHEMES:
            plain = urlunsplit(parts._replace(scheme=parts.scheme.replace("+cluster", "")))
            cluster = (
                redis.asyncio.cluster.RedisCluster if use_asyncio else redis.cluster.RedisCluster
            )
            return cluster.from_url(plain, **client_options())
        return (redis.asyncio.Redis if use_asyncio else redis.Redis).from_url(
            self.url, **client_options()
        )

    async def ready(self) -> Any:
        """The asyncio client, with a cluster client's nodes discovered before its first command.

        redis-py's asyncio ``RedisCluster`` fails (``'NoneType' object has no attribute
        'writelines'``) when many tasks send the first commands of a fresh client at once;
        ``initialize()`` is locked and idempotent, so every task awaits it first.
        """
        client = self.aclient
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            with self.guard():
                await client.initialize()
        return client

    # -- errors ----------------------------------------------------------------------------
    @contextmanager
    def guard(self, request: Request | None = None) -> Iterator[None]:
        """Any redis-py failure raises a typed error (:mod:`.failures`) naming the server."""
        try:
            yield
        except MAPPED as exc:
            raise typed(exc, self.where, request) from exc

    def _replies(self, request: Pipe, replies: list[Any]) -> list[Any]:
        """A tolerant pipe's replies with each failure as its typed error."""
        return [
            typed(r, self.where, Pipe([cmd])) if isinstance(r, Exception) else r
            for cmd, r in zip(request.cmds, replies, strict=True)
        ]

    # -- executors -------------------------------------------------------------------------
    def send(self, request: Request) -> Any:
        """Run one request on the sync client and return its reply."""
        if isinstance(request, Script):  # the hot path: no context manager, a lane if any
            try:
                lane = self._lane
                if lane is None:
                    client = self.client  # made on first use, with its lane when it gets one
                    lane = self._lane
                call = _splat(client.execute_command) if lane is None else lane.call
                return _run_script(call, request)
            except MAPPED as exc:
                raise typed(exc, self.where, request) from exc
        if isinstance(request, Pipe) and not request.cmds:
            return []  # nothing to send (and no client to make)
        with self.guard(request):
            client = self.client
            if isinstance(request, Pipe) and request.atomic:
                if self._lane is not None:
                    return _exec_reply(self._lane.call(*_transaction(request))[-1])
                return _run_script(_splat(client.execute_command), _as_script(request))
            if isinstance(request, Cmd):
                return getattr(client, request.name)(*request.args, **(request.kwargs or {}))
            if request.tolerant:
                replies = _queue(client, request.cmds).execute(raise_on_error=False)
                return self._replies(request, replies)
            return _queue(client, request.cmds).execute()

    async def asend(self, request: Request) -> Any:
        """Run one request on the running loop's asyncio client and return its reply."""
        if self._lanes and (isinstance(request, Script) or getattr(request, "atomic", False)):
            try:
                call = self._loop_lanes.get().call
                if isinstance(request, Script):
                    return await _arun_script(call, request)
                return _exec_reply((await call(*_transaction(request)))[-1])  # type: ignore[arg-type]
            except MAPPED as exc:
                raise typed(exc, self.where, request) from exc
        if isinstance(request, Pipe) and not request.cmds:
            return []
        client = await self.ready()
        # with lanes, the loop's sends share the lane's bound on connections checked out
        slots = self._loop_lanes.get().slots if self._lanes else nullcontext()
        async with slots:
            return await self._asend_on(client, request)

    async def _asend_on(self, client: Any, request: Request) -> Any:
        with self.guard(request):
            if isinstance(request, Script):
                return await _arun_script(_asplat(client.execute_command), request)
            if isinstance(request, Pipe) and request.atomic:  # (redis-py's asyncio cluster
                # transactions queue commands on a thread of their own, blocking the loop)
                return await _arun_script(_asplat(client.execute_command), _as_script(request))
            if isinstance(request, Cmd):
                return await getattr(client, request.name)(*request.args, **(request.kwargs or {}))
            if request.tolerant:
                replies = await _queue(client, request.cmds).execute(raise_on_error=False)
                return self._replies(request, replies)
            return await _queue(client, request.cmds).execute()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync client this object made (a given client stays its owner's)."""
        if self._owns_clients and self._client is not None:
            self._lane = None
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the running loop's client (and the sync client) when this object made them."""
        if self._owns_clients:
            lane = self._loop_lanes.pop()
            if lane is not None:
                await lane.aclose()
            client = self._loop_clients.pop()
            if client is not None:
                await client.aclose()
        self.close()


def _splat(execute: Any) -> Any:
    """``execute_command`` as a lane's ``call``: commands given as sequences, a list of replies."""
    return lambda *commands: [execute(*args) for args in commands]


def _asplat(execute: Any) -> Any:
    async def call(*commands: Any) -> list[Any]:
        return [await execute(*args) for args in commands]

    return call


def _run_script(call: Any, request: Script) -> Any:
    """Run a script with ``call``, which sends commands given as sequences and returns their
    replies: a lane's, or the client's own path."""
    return drive(_script_steps(request), call)


async def _arun_script(call: Any, request: Script) -> Any:
    return await adrive(_script_steps(request), call)


def _script_steps(request: Script) -> Steps[tuple[Any, ...], Any]:
    """EVALSHA, falling back to EVAL (which caches the script) on a server that lacks it."""
    lua, keys, args = request
    try:
        return (yield ("EVALSHA", lua.sha, len(keys), *keys, *args))[0]
    except NoScriptError:
        return (yield ("EVAL", lua.source, len(keys), *keys, *args))[0]


def _transaction(request: Pipe) -> list[tuple[Any, ...]]:
    """An atomic pipe as the commands a lane writes: MULTI, the pipe's commands, EXEC."""
    return [("MULTI",), *((cmd.name.upper(), *cmd.args) for cmd in request.cmds), ("EXEC",)]


def _as_script(request: Pipe) -> Script:
    """An atomic pipe as one call of ``lua/atomic.lua``, where no lane writes MULTI / EXEC."""
    args: list[Any] = []
    for cmd in request.cmds:
        args += [cmd.name, len(cmd.args) - 1, *cmd.args[1:]]
    return Script(_ATOMIC, [cmd.args[0] for cmd in request.cmds], args)


_ATOMIC = script("atomic")


def _exec_reply(replies: Any) -> list[Any]:
    """EXEC's replies, or the first command error among them raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return list(replies)


def _queue(client: Any, cmds: list[Cmd]) -> Any:
    """A pipeline of ``client`` (sync or async) with ``cmds`` queued: queueing does no I/O."""
    pipe = client.pipeline(transaction=False)
    for cmd in cmds:
        getattr(pipe, cmd.name)(*cmd.args, **(cmd.kwargs or {}))
    return pipe
