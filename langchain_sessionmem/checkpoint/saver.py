"""What every engine's saver shares: serde and sealing, versions, user scope, TTL, the log cache."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol, maybe_add_typed_methods

from .._offload import Offload
from ..crypto import Keyring, Sealer
from ..errors import ConfigurationError, InvalidArgumentError, ThreadOwnershipError
from ..ids import validate_id, validate_user_id
from ..records import ThreadInfo
from .config import next_version, split_thread_key, target, thread_key, validate_name
from .linear import LogCache, PutPlan, plan_put
from .serde import default_serde, with_allowlist
from .ttl import Sweeper, parse_ttl, start_sweeper, stop_sweeper
from .values import ValueCodec

STRATEGIES = ("keep_latest", "delete")


class SessionSaverBase(BaseCheckpointSaver[str]):
    """Common state of the sessionmem savers.

    Threads belong to users: a thread's identity is ``(user_id, thread_id)``, stored under
    :func:`~.config.thread_key` wherever a saver used to store the raw thread id, while every
    config and tuple it returns carries the plain ``thread_id`` (LangGraph only ever sees its own
    ids). ``user_id`` scopes the saver (``for_user(uid)`` clones it); ``user_id=None`` is the
    anonymous namespace, not "all users": there is no unscoped view and no user id with a special
    meaning. Bob's ``t-1`` and alice's ``t-1`` are two threads, so nothing ever raises for, lists
    or reveals another user's thread. ``list(None)`` lists the owner's threads; ``list_threads()``
    and ``delete_user_threads()`` cover all of them. Only :meth:`purge_expired` (maintenance)
    spans owners.

    For backend authors: set ``_keyed = True`` and store threads under :meth:`_key`; :meth:`_plan`
    then fills ``PutPlan.key``, and ``TupleAssembler(..., public=self._public)`` turns keys back
    into thread ids. ``_owns``/``_refuse`` remain only for savers not yet keyed.

    ``ttl`` expires a whole thread after that long without a write (or a read, with
    ``refresh_on_read``): a ``timedelta``, seconds, or LangGraph's ``TTLConfig`` dict in minutes
    (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``). On engines without native
    expiry (memory, SQLite) ``sweep_interval_minutes`` starts a daemon thread that calls
    :meth:`purge_expired` that often, stopped by :meth:`close`. ``linear=False`` turns off
    log-backed list channels.

    ``clock`` (a zero-argument callable returning epoch seconds, default ``time.time``) is where
    TTL logic reads the time, so tests move it forward instead of sleeping.

    ``serde`` defaults to LangGraph's own (``JsonPlusSerializer()``: user types come back as
    themselves, as with ``InMemorySaver``); ``strict=True`` admits only safe types plus what
    ``with_allowlist`` adds (see :mod:`.serde`).

    ``encryption`` seals every stored value (checkpoint, channel blobs, pending writes, log items)
    with AES-GCM bound to its place: the owner, the thread key and the record (see
    :mod:`.values`), so a value copied into another thread fails with ``CorruptDataError``. Pass a
    :class:`~langchain_sessionmem.crypto.Keyring` (with ``per_user_keys=True`` also
    ``data_key=lambda owner: bytes | None``, the owner's unwrapped data key, created on first use)
    or any object with ``sealer(owner) -> Sealer`` (what a store passes). Not encrypted, and
    documented as such: checkpoint metadata (plaintext JSON so ``list(filter=...)`` runs in the
    engine), ids, channel names and versions, and log references. A saver with encryption refuses
    unencrypted values; one without it cannot open encrypted ones (``KeyUnavailableError``).
    ``encrypted_serde(...)`` (a LangGraph ``EncryptedSerializer``, not bound to places) keeps
    working as ``serde=``.

    For backend authors: encode and decode through :meth:`_codec` (build it before opening a
    transaction: resolving a per-user key may write it) and pass it wherever ``checkpoint/``
    takes a ``serde``; places use the stored thread key.
    """

    _sweeps = False  # engines whose expired rows stay until purge_expired() runs
    _keyed = False  # threads stored under thread_key(owner, thread_id) (every saver, soon)

    def __init__(
        self,
        *,
        namespace: str = "sessionmem",
        ttl: timedelta | float | Mapping[str, Any] | None = None,
        user_id: str | None = None,
        serde: SerializerProtocol | None = None,
        linear: bool = True,
        refresh_on_read: bool = False,
        encryption: Keyring | Any | None = None,
        data_key: Callable[[str | None], bytes | None] | None = None,
        strict: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(serde=serde or default_serde(strict=strict))
        if isinstance(encryption, Keyring) and encryption.per_user_keys and data_key is None:
            raise ConfigurationError(
                "a Keyring with per_user_keys=True needs data_key=<callable owner -> data key>: "
                "build the saver with store.checkpointer(), which passes the store's keys"
            )
        if encryption is not None and not (
            isinstance(encryption, Keyring) or callable(getattr(encryption, "sealer", None))
        ):
            raise ConfigurationError(
                "encryption= takes a langchain_sessionmem.Keyring({'k1': key}, 'k1'), got "
                f"{type(encryption).__name__}"
            )
        self.encryption = encryption
        self.data_key = data_key
        self.clock: Callable[[], float] = clock or time.time
        self.namespace = namespace
        self.ttl, self.refresh_on_read, self.sweep_interval = parse_ttl(ttl, refresh_on_read)
        self.user_id = validate_user_id(user_id)
        self.linear = linear
        self._logs = LogCache()
        self._core: SessionSaverBase | None = None  # set on clones: the saver that owns the sweeper
        self._sweeper: Sweeper | None = None
        if self.sweep_interval is not None and self._sweeps:
            name = f"sessionmem-ttl-sweep-{namespace}"
            self._sweeper = start_sweeper(self, self.sweep_interval, name)

    def setup(self) -> None:
        """Create what the saver needs in its storage (idempotent); a no-op where nothing is."""

    async def asetup(self) -> None:
        self.setup()

    def purge_expired(self) -> int:
        """Delete expired threads of every owner (engines without native expiry); how many."""
        raise NotImplementedError

    def list_threads(self) -> list[ThreadInfo]:
        """The live threads of this saver's owner, most recently updated first."""
        raise NotImplementedError

    def delete_user_threads(self) -> int:
        """Delete every thread of this saver's owner (checkpoints, blobs, writes, logs,
        indexes); returns how many live threads there were. Part of ``store.delete_user``."""
        raise NotImplementedError

    def _stop_sweeper(self) -> None:
        if self._sweeper is not None:
            stop_sweeper(self._sweeper)
            self._sweeper = None

    def close(self) -> None:
        """Stop the TTL sweeper (engines also release their connections)."""
        self._stop_sweeper()

    async def aclose(self) -> None:
        self.close()

    # -- small shared behaviour ---------------------------------------------------------------
    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:  # type: ignore[override]
        return next_version(current)

    def _clone(self) -> SessionSaverBase:
        clone = copy.copy(self)
        # Clones share the core (connections, sweeper); holding the original keeps its sweeper alive.
        clone._core = self._core or self
        return clone

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> SessionSaverBase:
        clone = self._clone()
        clone.serde = maybe_add_typed_methods(with_allowlist(self.serde, extra_allowlist))
        return clone

    def for_user(self, user_id: str | None) -> SessionSaverBase:
        """The same saver (shared connections and cache) scoped to another user."""
        clone = self._clone()
        clone.user_id = validate_user_id(user_id)
        return clone

    def _sealer(self) -> Sealer | None:
        """The sealer of this saver's owner (``None`` without encryption)."""
        enc = self.encryption
        if enc is None:
            return None
        if not isinstance(enc, Keyring):
            return enc.sealer(self.user_id)  # type: ignore[no-any-return]
        key = self.data_key(self.user_id) if enc.per_user_keys and self.data_key else None
        return Sealer(enc, self.namespace, self.user_id, key)

    def _codec(self) -> ValueCodec:
        """How this saver's owner's values are stored: the serde, sealed when encrypting."""
        return ValueCodec(self.serde, self._sealer())

    def _key(self, thread_id: str) -> str:
        """Where this saver's owner's thread ``thread_id`` is stored."""
        return thread_key(self.user_id, thread_id) if self._keyed else thread_id

    def _public(self, key: str) -> str:
        """The thread id LangGraph knows, from a stored key."""
        return split_thread_key(key)[1] if self._keyed else key

    def _plan(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> PutPlan:
        return plan_put(
            self._codec(),
            self._logs,
            config,
            checkpoint,
            metadata,
            new_versions,
            linear=self.linear,
            key=self._key(target(config).thread_id),
            clock=self.clock,
        )

    def _expires(self, now: float) -> float | None:
        return None if self.ttl is None else now + self.ttl

    def _owns(self, owner: str | None) -> bool:
        """Legacy check of savers whose thread ids are global (not ``_keyed``)."""
        return self.user_id is None or owner == self.user_id

    def _refuse(self, thread_id: str, action: str) -> ThreadOwnershipError:
        """Legacy error of savers whose thread ids are global (not ``_keyed``)."""
        return ThreadOwnershipError(
            f"thread {thread_id!r} belongs to another user: user {self.user_id!r} cannot {action} it"
        )

    @staticmethod
    def _thread_ids(thread_ids: Any) -> list[str]:
        return [validate_id(t, "thread_id") for t in _sequence(thread_ids, "thread ids")]

    @staticmethod
    def _run_ids(run_ids: Any) -> list[str]:
        return [validate_name(str(r), "run id", limit=256) for r in _sequence(run_ids, "run ids")]

    @staticmethod
    def _channels(channels: Any) -> list[str]:
        return [validate_name(c, "channel name") for c in _sequence(channels, "channels")]

    @staticmethod
    def _strategy(strategy: str) -> str:
        if strategy not in STRATEGIES:
            raise ConfigurationError(
                f"unknown prune strategy {strategy!r}: use one of {STRATEGIES}"
            )
        return strategy


class SaverContext:
    """What ``from_conn_string`` returns, as LangGraph's savers do: ``with`` (or ``async with``)
    yields a saver on its own connections and closes it at the end of the block."""

    def __init__(self, make: Callable[[], SessionSaverBase]) -> None:
        self._make = make
        self._saver: SessionSaverBase | None = None

    def __enter__(self) -> Any:
        self._saver = self._make()
        return self._saver

    def __exit__(self, *exc: object) -> None:
        if self._saver is not None:
            self._saver.close()

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        if self._saver is not None:
            await self._saver.aclose()


def _sequence(values: Any, what: str) -> list[Any]:
    """A list of ``values`` (a list, tuple, set... of items; never one str taken letter by letter)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Collection):
        raise InvalidArgumentError(f"{what} must be a list, got {type(values).__name__}")
    return list(values)


class OffloadedSaver(Offload):
    """Async twins for savers whose I/O is local: the sync method, inline or in a worker thread.

    Mixed in before :class:`SessionSaverBase`; the saver defines ``_list`` (a list, not a generator)
    so the async listing runs in one offloaded call.
    """

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._offload(self.get_tuple, config)  # type: ignore[attr-defined]

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        rows = await self._offload(self._list, config, filter, before, limit)  # type: ignore[attr-defined]
        for item in rows:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._offload(self.put, config, checkpoint, metadata, new_versions)  # type: ignore[attr-defined]

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._offload(self.put_writes, config, writes, task_id, task_path)  # type: ignore[attr-defined]

    async def adelete_thread(self, thread_id: str) -> None:
        await self._offload(self.delete_thread, thread_id)  # type: ignore[attr-defined]

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._offload(self.delete_for_runs, run_ids)  # type: ignore[attr-defined]

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._offload(self.copy_thread, source_thread_id, target_thread_id)  # type: ignore[attr-defined]

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._offload(self.prune, thread_ids, strategy=strategy)  # type: ignore[attr-defined]

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return await self._offload(  # type: ignore[attr-defined]
            self.get_delta_channel_history, config=config, channels=channels
        )

    async def athread_info(self, thread_id: str) -> dict[str, Any] | None:
        return await self._offload(self.thread_info, thread_id)  # type: ignore[attr-defined]

    async def apurge_expired(self) -> int:
        return await self._offload(self.purge_expired)  # type: ignore[attr-defined]

    async def asetup(self) -> None:
        await self._offload(self.setup)  # type: ignore[attr-defined]

    async def alist_threads(self) -> list[ThreadInfo]:
        return await self._offload(self.list_threads)  # type: ignore[attr-defined]

    async def adelete_user_threads(self) -> int:
        return await self._offload(self.delete_user_threads)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        self.close()  # type: ignore[attr-defined]


__all__ = ["OffloadedSaver", "SaverContext", "SessionSaverBase", "parse_ttl"]
