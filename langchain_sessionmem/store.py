"""`SessionStore`: the one object that owns an engine, its namespace, TTL policy and limits."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .codec import DEFAULT_MAX_MESSAGE_BYTES
from .engines.base import Engine, SessionInfo, SessionKey, ttl_seconds
from .errors import ConfigurationError
from .ids import validate_id, validate_user_id

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from .history import SessionHistory

_POSTGRES_OPTIONS = ("refresh_on_read", "min_size", "max_size", "pool_timeout")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
OnCorrupt = Literal["raise", "skip"]


def _sqlite_path(url: str) -> str:
    """SQLAlchemy's convention: sqlite:// is in-memory, sqlite:///rel.db and sqlite:////abs.db are files."""
    rest = url[len("sqlite://") :]
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    return rest[1:]


class SessionStore:
    """Session memory on one engine. Build it with :meth:`from_url`, :meth:`from_client` (Redis)
    or :meth:`from_pool` (PostgreSQL).

    Sessions are identified by ``(user_id, session_id)``; a session written for one user cannot
    be read, listed, changed or deleted through another user id.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        on_corrupt: OnCorrupt = "raise",
    ):
        if on_corrupt not in ("raise", "skip"):
            raise ConfigurationError(f"on_corrupt must be 'raise' or 'skip', got {on_corrupt!r}")
        if max_message_bytes <= 0:
            raise ConfigurationError(f"max_message_bytes must be positive, got {max_message_bytes}")
        self.engine = engine
        self.namespace = namespace
        self._ttl_seconds = ttl_seconds(ttl)
        self.max_message_bytes = max_message_bytes
        self.on_corrupt: OnCorrupt = on_corrupt
        self._savers: list[Any] = []
        self._checkpointer: Any = None

    @property
    def ttl(self) -> timedelta | None:
        """How long a session lives after its last write; ``None`` keeps sessions forever."""
        return None if self._ttl_seconds is None else timedelta(seconds=self._ttl_seconds)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        **options: Any,
    ) -> SessionStore:
        """``memory://``, ``sqlite://`` (in-memory), ``sqlite:///file.db``, ``redis://``, ``rediss://``,
        ``redis+cluster://`` (Redis Cluster), ``unix://``, ``postgresql://`` / ``postgres://``.

        ``namespace`` prefixes every table or key so several apps can share one server. ``ttl``
        slides on every write; with ``refresh_on_read=True`` reads of a session slide it too.
        """
        _check_namespace(namespace)
        seconds = ttl_seconds(ttl)
        scheme = urlsplit(url).scheme if "://" in url else ""
        if scheme == "memory":
            from .engines.memory import MemoryEngine

            engine: Engine = MemoryEngine(ttl=seconds, **_pop(options, "refresh_on_read"))
        elif scheme == "sqlite":
            from .engines.sqlite import SqliteEngine

            engine = SqliteEngine(
                _sqlite_path(url),
                namespace=namespace,
                ttl=seconds,
                **_pop(options, "busy_timeout", "refresh_on_read"),
            )
        elif scheme in {"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"}:
            from .engines.redis import RedisEngine

            engine = RedisEngine(
                url, namespace=namespace, ttl=seconds, **_pop(options, "refresh_on_read")
            )
        elif scheme in {"postgresql", "postgres"}:
            return cls.from_conninfo(url, namespace=namespace, ttl=ttl, **options)
        else:
            raise ConfigurationError(
                f"unsupported store URL {url!r}: use memory://, sqlite:///path.db, sqlite://, "
                "redis://host:6379/0, rediss://..., redis+cluster://host:port or postgresql://user@host/db"
            )
        return cls(engine, namespace=namespace, ttl=ttl, **options)

    @classmethod
    def from_conninfo(
        cls,
        conninfo: str,
        *,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        **options: Any,
    ) -> SessionStore:
        """PostgreSQL from a libpq conninfo: a ``postgresql://`` URL or ``"host=... dbname=..."``.

        The engine makes a sync pool on first sync use (``min_size``, ``max_size``, ``pool_timeout``)
        and reuses up to ``max_size`` asyncio connections per event loop.
        """
        from .engines.postgres import PostgresEngine

        _check_namespace(namespace)
        engine = PostgresEngine(
            conninfo, namespace=namespace, ttl=ttl_seconds(ttl), **_pop(options, *_POSTGRES_OPTIONS)
        )
        return cls(engine, namespace=namespace, ttl=ttl, **options)

    @classmethod
    def from_pool(
        cls,
        pool: Any = None,
        *,
        apool: Any = None,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        **options: Any,
    ) -> SessionStore:
        """PostgreSQL through your own ``psycopg_pool`` pools: a ``ConnectionPool`` and/or an
        ``AsyncConnectionPool`` (one passed as ``pool`` is taken as ``apool``).

        With one pool only, the other flavour of methods raises :class:`ConfigurationError`. The
        store never closes your pools.
        """
        from psycopg_pool import AsyncConnectionPool

        from .engines.postgres import PostgresEngine

        _check_namespace(namespace)
        if isinstance(pool, AsyncConnectionPool):
            pool, apool = None, pool
        if pool is None and apool is None:
            raise ConfigurationError(
                "from_pool needs a psycopg_pool pool: from_pool(ConnectionPool(conninfo))"
            )
        engine = PostgresEngine(
            pool=pool,
            apool=apool,
            namespace=namespace,
            ttl=ttl_seconds(ttl),
            **_pop(options, "refresh_on_read"),
        )
        return cls(engine, namespace=namespace, ttl=ttl, **options)

    @classmethod
    def from_client(
        cls,
        client: Any = None,
        *,
        aclient: Any = None,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        **options: Any,
    ) -> SessionStore:
        """Use your own redis-py client(s): a ``redis.Redis`` / ``RedisCluster`` and/or their asyncio twins.

        An asyncio client passed as ``client`` is taken as ``aclient``. With one client only, the
        other flavour of methods raises :class:`ConfigurationError`.
        """
        from .engines.redis import RedisEngine

        _check_namespace(namespace)
        if client is not None and type(client).__module__.startswith("redis.asyncio"):
            client, aclient = None, client
        if client is None and aclient is None:
            raise ConfigurationError(
                "from_client needs a redis-py client: from_client(redis.Redis(...))"
            )
        engine = RedisEngine(
            client=client,
            aclient=aclient,
            namespace=namespace,
            ttl=ttl_seconds(ttl),
            **_pop(options, "refresh_on_read"),
        )
        return cls(engine, namespace=namespace, ttl=ttl, **options)

    # -- sessions --------------------------------------------------------------------------
    def history(self, session_id: str, user_id: str | None = None) -> SessionHistory:
        """The chat history of one session of one user (a ``BaseChatMessageHistory``)."""
        from .history import SessionHistory

        return SessionHistory(self, session_id, user_id=user_id)

    def history_factory(self, *, user_id: str | None = None) -> Callable[..., SessionHistory]:
        """A ``get_session_history`` for LangChain's ``RunnableWithMessageHistory``.

        Called as ``factory(session_id)`` (the default config) or ``factory(session_id=..., user_id=...)``
        (with ``history_factory_config``). ``user_id`` here fixes the user for every call.
        """
        fixed_user = validate_user_id(user_id)

        def get_session_history(session_id: str, user_id: str | None = None) -> SessionHistory:
            if fixed_user is not None and user_id not in (None, fixed_user):
                raise ConfigurationError(
                    f"this history factory is bound to user {fixed_user!r}; it cannot open a session of {user_id!r}"
                )
            return self.history(
                session_id, user_id=fixed_user if fixed_user is not None else user_id
            )

        return get_session_history

    def list_sessions(self, user_id: str | None = None) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (``None``: anonymous sessions), newest first."""
        return self.engine.list_sessions(validate_user_id(user_id))

    async def alist_sessions(self, user_id: str | None = None) -> list[SessionInfo]:
        return await self.engine.alist_sessions(validate_user_id(user_id))

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        """Delete one session with its state; ``False`` when there was none."""
        return self.engine.delete_session(_key(session_id, user_id))

    async def adelete_session(self, session_id: str, user_id: str | None = None) -> bool:
        return await self.engine.adelete_session(_key(session_id, user_id))

    def delete_user(self, user_id: str) -> int:
        """Erase every session of ``user_id`` (a GDPR erase); returns how many were deleted."""
        return self.engine.delete_user(validate_id(user_id, "user_id"))

    async def adelete_user(self, user_id: str) -> int:
        return await self.engine.adelete_user(validate_id(user_id, "user_id"))

    def purge_expired(self) -> int:
        """Delete expired sessions on engines without native expiry; returns how many."""
        return self.engine.purge_expired()

    async def apurge_expired(self) -> int:
        return await self.engine.apurge_expired()

    # -- LangGraph -------------------------------------------------------------------------
    def checkpointer(self, *, user_id: str | None = None, **options: Any) -> BaseCheckpointSaver:
        """A LangGraph checkpointer on this store's engine, namespace and TTL, scoped to ``user_id``.

        Calls without options share one saver (connections, caches, in-memory data); options such
        as ``ttl={"default_ttl": 60, "refresh_on_read": True}`` build another. The store closes them all.
        """
        from .checkpoint import checkpointer_for

        scope = validate_user_id(user_id)
        if not options and self._checkpointer is not None:
            return self._checkpointer.for_user(scope)
        saver = checkpointer_for(self, **options)
        self._savers.append(saver)
        if not options:
            self._checkpointer = saver
        return saver.for_user(scope)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        for saver in self._savers:
            saver.close()
        self.engine.close()

    async def aclose(self) -> None:
        for saver in self._savers:
            await saver.aclose()
        await self.engine.aclose()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"SessionStore(engine={self.engine.kind!r}, namespace={self.namespace!r}, ttl={self.ttl!r})"


def _key(session_id: str, user_id: str | None) -> SessionKey:
    return SessionKey(validate_id(session_id, "session_id"), validate_user_id(user_id))


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ConfigurationError(
            f"namespace {namespace!r} is not usable as a key / table prefix: use 1-64 characters "
            "from letters, digits, '_', '.', '-' (e.g. namespace='myapp')"
        )


def _pop(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: options.pop(name) for name in names if name in options}
