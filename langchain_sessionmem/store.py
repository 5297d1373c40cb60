"""`SessionStore`: the one object that owns an engine, its namespace, TTL policy and limits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import backends
from ._steps import Call, Steps, acall, adrive, call, drive
from .backends.base import Engine
from .codec import DEFAULT_MAX_MESSAGE_BYTES
from .crypto import Keyring
from .errors import ConfigurationError
from .history import HistoryContext, OnCorrupt, SessionHistory
from .ids import ANONYMOUS, MISSING, resolve_user_id, validate_id, validate_user_id
from .instrument import instrumented
from .recall_index import RecallIndex
from .records import SessionInfo, SessionKey, ThreadInfo, ttl_seconds
from .sealing import DataKeys

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class SessionStore:
    """Session memory on one engine. Build it with :meth:`from_url`, :meth:`from_client` (Redis)
    or :meth:`from_pool` (PostgreSQL).

    Sessions and checkpointer threads are identified by ``(user_id, ...)``: what one user wrote
    cannot be read, listed, changed or deleted through another user id. Every call names its
    user; ``user_id=ANONYMOUS`` (or a store built with ``allow_anonymous=True``) uses the shared
    anonymous namespace on purpose.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        namespace: str = "sessionmem",
        ttl: timedelta | float | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        on_corrupt: OnCorrupt = "raise",
        allow_anonymous: bool = False,
        encryption: Keyring | None = None,
        key_store: SessionStore | None = None,
        recall: bool | RecallIndex = False,
    ):
        if on_corrupt not in ("raise", "skip"):
            raise ConfigurationError(f"on_corrupt must be 'raise' or 'skip', got {on_corrupt!r}")
        if max_message_bytes <= 0:
            raise ConfigurationError(f"max_message_bytes must be positive, got {max_message_bytes}")
        self.engine = instrumented(engine)  # metrics and spans, while telemetry is enabled
        self.namespace = namespace
        self._ttl_seconds = ttl_seconds(ttl)
        self.max_message_bytes = max_message_bytes
        self.on_corrupt: OnCorrupt = on_corrupt
        self.allow_anonymous = allow_anonymous
        if encryption is not None and not isinstance(encryption, Keyring):
            raise ConfigurationError(
                "encryption= takes a langchain_sessionmem.Keyring({'k1': key}, 'k1'), "
                f"got {type(encryption).__name__}"
            )
        if key_store is not None and (encryption is None or not encryption.per_user_keys):
            raise ConfigurationError(
                "key_store= holds per-user data keys: pass encryption=Keyring(..., "
                "per_user_keys=True) too"
            )
        self.encryption = encryption
        self.key_store = key_store  # where wrapped user keys live (default: this store's engine)
        key_engine = engine if key_store is None else key_store.engine
        self._keys = None if encryption is None else DataKeys(key_engine, namespace, encryption)
        self._savers: list[Any] = []
        self._checkpointer: Any = None
        self.recall = _recall_index(recall)
        """The store's :class:`RecallIndex` (``None``: no index is kept, nothing is paid)."""
        if self.recall is not None:
            self.recall.bind(self)

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
        """``memory://``, ``sqlite://`` (in-memory), ``sqlite:///file.db``, ``redis://``,
        ``rediss://``, ``redis+cluster://`` (Redis Cluster), ``unix://``, ``postgresql://``.

        ``namespace`` prefixes every table or key so several apps can share one server. ``ttl``
        slides on every write; with ``refresh_on_read=True`` reads of a session slide it too.
        Backend options (``busy_timeout``, ``min_size``, ...) go to the backend; the rest to the store.
        """
        _check_namespace(namespace)
        engine = backends.open_engine(
            url, namespace=namespace, ttl=ttl_seconds(ttl), options=options
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

        The store makes a sync pool on first sync use (``min_size``, ``max_size``,
        ``pool_timeout``) and reuses up to ``max_size`` asyncio connections per event loop.
        """
        _check_namespace(namespace)
        engine = backends.load("postgres").open_engine(
            conninfo, namespace=namespace, ttl=ttl_seconds(ttl), options=options
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

        _check_namespace(namespace)
        if isinstance(pool, AsyncConnectionPool):
            pool, apool = None, pool
        if pool is None and apool is None:
            raise ConfigurationError(
                "from_pool needs a psycopg_pool pool: from_pool(ConnectionPool(conninfo))"
            )
        engine = backends.load("postgres").from_pools(  # type: ignore[attr-defined]
            pool, apool, namespace=namespace, ttl=ttl_seconds(ttl), options=options
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
        """Use your own redis-py client(s): ``redis.Redis`` / ``RedisCluster`` and/or asyncio twins.

        An asyncio client passed as ``client`` is taken as ``aclient``. With one client only, the
        other flavour of methods raises :class:`ConfigurationError`.
        """
        _check_namespace(namespace)
        if client is not None and type(client).__module__.startswith("redis.asyncio"):
            client, aclient = None, client
        if client is None and aclient is None:
            raise ConfigurationError(
                "from_client needs a redis-py client: from_client(redis.Redis(...))"
            )
        engine = backends.load("redis").from_clients(  # type: ignore[attr-defined]
            client, aclient, namespace=namespace, ttl=ttl_seconds(ttl), options=options
        )
        return cls(engine, namespace=namespace, ttl=ttl, **options)

    # -- sessions --------------------------------------------------------------------------
    def _user(self, user_id: Any, where: str) -> str | None:
        return resolve_user_id(user_id, allow_anonymous=self.allow_anonymous, where=where)

    def history(self, session_id: str, *, user_id: Any = MISSING) -> SessionHistory:
        """The chat history of one session of one user (a ``BaseChatMessageHistory``)."""
        validate_id(session_id, "session_id")
        user_id = self._user(user_id, f"store.history({session_id!r})")
        context = HistoryContext(
            self.engine, self.max_message_bytes, self.on_corrupt, self._keys, self.recall
        )
        return SessionHistory(context, session_id, user_id=user_id)

    def backfill_recall(self, user_id: Any = MISSING) -> int:
        """Index (and embed) the user's stored sessions now; returns how many messages were
        indexed. Without it they are indexed in the background when a recall first reads them."""
        if self.recall is None:
            raise ConfigurationError("this store keeps no recall index: pass recall=True")
        return self.recall.backfill(self._user(user_id, "backfill_recall()"))

    def history_factory(self, *, user_id: Any = None) -> Callable[..., SessionHistory]:
        """A ``get_session_history`` for LangChain's ``RunnableWithMessageHistory``.

        Called as ``factory(session_id)`` (the default config) or
        ``factory(session_id=..., user_id=...)`` (with ``history_factory_config``). ``user_id``
        here fixes the user for every call.
        """
        fixed_user = validate_user_id(user_id)

        def get_session_history(session_id: str, user_id: Any = MISSING) -> SessionHistory:
            if fixed_user is not None and user_id not in (MISSING, None, fixed_user):
                raise ConfigurationError(
                    f"this history factory is bound to user {fixed_user!r}; "
                    f"it cannot open a session of {user_id!r}"
                )
            return self.history(
                session_id, user_id=fixed_user if fixed_user is not None else user_id
            )

        return get_session_history

    def list_sessions(
        self, user_id: Any = MISSING, *, limit: int | None = None, after: str | None = None
    ) -> list[SessionInfo]:
        """The live sessions of ``user_id``, most recently updated first.

        Page with ``limit`` and ``after=store.cursor(page[-1])``; an empty page is the end.
        """
        return self.engine.list_sessions(
            self._user(user_id, "list_sessions()"), limit=limit, after=after
        )

    async def alist_sessions(
        self, user_id: Any = MISSING, *, limit: int | None = None, after: str | None = None
    ) -> list[SessionInfo]:
        return await self.engine.alist_sessions(
            self._user(user_id, "alist_sessions()"), limit=limit, after=after
        )

    def cursor(self, info: SessionInfo) -> str:
        """The ``after=`` of the page that follows the row ``info`` of :meth:`list_sessions`."""
        return str(self.engine.cursor(info))  # type: ignore[attr-defined]

    def delete_session(self, session_id: str, *, user_id: Any = MISSING) -> bool:
        """Delete one session with its state; ``False`` when there was none."""
        return self.engine.delete_session(self._key(session_id, user_id))

    async def adelete_session(self, session_id: str, *, user_id: Any = MISSING) -> bool:
        return await self.engine.adelete_session(self._key(session_id, user_id))

    def _key(self, session_id: str, user_id: Any) -> SessionKey:
        user = self._user(user_id, f"delete_session({session_id!r})")
        return SessionKey(validate_id(session_id, "session_id"), user)

    def delete_user(self, user_id: str) -> int:
        """Erase everything of ``user_id`` (a GDPR erase): checkpointer threads, sessions, the
        per-user state and the user's data key; returns how many sessions were deleted.

        What an erase guarantees per engine is in docs/security.md (SQLite overwrites the freed
        pages and truncates its WAL; Redis AOF/RDB rewrites and PostgreSQL VACUUM are the
        operator's).
        """
        return drive(self._erase(validate_id(user_id, "user_id")), call)

    async def adelete_user(self, user_id: str) -> int:
        return await adrive(self._erase(validate_id(user_id, "user_id")), acall)

    def _erase(self, user: str) -> Steps[Call, int]:
        """Threads first, then sessions, user state and data key (the engine compacts last)."""
        saver = self._erasing_saver(user)
        if saver is not None:
            yield (saver, "delete_user_threads")
        deleted = yield (self.engine, "delete_user", user)
        if self.key_store is not None:  # the only copy of the user's key: shred it
            yield (self.key_store.engine, "delete_user", user)
        if self._keys is not None:
            self._keys.forget(user)
        return int(deleted)

    def _erasing_saver(self, user: str) -> Any:
        """The store's checkpointer for ``user``, or ``None`` where the backend has none."""
        try:
            saver = self.checkpointer(user_id=user)
        except ConfigurationError:
            return None
        return saver if hasattr(saver, "delete_user_threads") else None

    def list_threads(self, user_id: Any = MISSING) -> list[ThreadInfo]:
        """The checkpointer threads of ``user_id``, most recently updated first."""
        user = self._user(user_id, "list_threads()")
        return self.checkpointer(user_id=user if user is not None else ANONYMOUS).list_threads()  # type: ignore[attr-defined,no-any-return]

    async def alist_threads(self, user_id: Any = MISSING) -> list[ThreadInfo]:
        user = self._user(user_id, "alist_threads()")
        saver = self.checkpointer(user_id=user if user is not None else ANONYMOUS)
        return await saver.alist_threads()  # type: ignore[attr-defined,no-any-return]

    def purge_expired(self) -> int:
        """Delete expired sessions on engines without native expiry; returns how many."""
        return self.engine.purge_expired()

    async def apurge_expired(self) -> int:
        return await self.engine.apurge_expired()

    # -- LangGraph -------------------------------------------------------------------------
    def checkpointer(self, *, user_id: Any = MISSING, **options: Any) -> BaseCheckpointSaver:
        """A LangGraph checkpointer on this store's engine, namespace and TTL, scoped to ``user_id``.

        Calls without options share one saver (connections, caches, in-memory data); options
        such as ``ttl={"default_ttl": 60, "refresh_on_read": True}`` build another. The store
        closes them all.
        """
        scope = self._user(user_id, "checkpointer()")
        if not options and self._checkpointer is not None:
            return self._checkpointer.for_user(scope)  # type: ignore[no-any-return]
        saver = backends.open_saver(self.engine, **self._saver_options(options))
        self._savers.append(saver)
        if not options:
            self._checkpointer = saver
        return saver.for_user(scope)  # type: ignore[no-any-return]

    def _saver_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The store's namespace and TTL; a ``TTLConfig`` without ``default_ttl`` takes the store's."""
        merged: dict[str, Any] = {"namespace": self.namespace, "ttl": self.ttl, **options}
        if self._keys is not None:
            merged.setdefault("encryption", self._keys)
        ttl = options.get("ttl")
        if isinstance(ttl, Mapping) and ttl.get("default_ttl") is None and self.ttl is not None:
            merged["ttl"] = {**ttl, "default_ttl": self.ttl.total_seconds() / 60}
        return merged

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        drive(self._closing(), call)

    async def aclose(self) -> None:
        await adrive(self._closing(), acall)

    def _closing(self) -> Steps[Call, None]:
        """Queued recall indexing (bounded), the checkpointers this store made, then the engine."""
        if self.recall is not None:
            yield (self.recall, "drain")
        for saver in self._savers:
            yield (saver, "close")
        yield (self.engine, "close")

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"SessionStore(engine={self.engine.kind!r}, namespace={self.namespace!r}, "
            f"ttl={self.ttl!r})"
        )


def _recall_index(recall: bool | RecallIndex) -> RecallIndex | None:
    if isinstance(recall, RecallIndex):
        return recall
    if recall is True:
        return RecallIndex()
    if recall is False or recall is None:
        return None
    raise ConfigurationError(
        f"recall= takes True, False or a RecallIndex(embeddings=...), got {type(recall).__name__}"
    )


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ConfigurationError(
            f"namespace {namespace!r} is not usable as a key / table prefix: use 1-64 characters "
            "from letters, digits, '_', '.', '-' (e.g. namespace='myapp')"
        )
