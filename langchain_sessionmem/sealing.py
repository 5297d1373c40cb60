"""Per-owner encryption for a store: its keyring plus each user's data key, fetched once per process.

With ``Keyring(per_user_keys=True)`` a user's data key lives wrapped in the engine (created on
first use, race-free through ``create_user_key``) and unwrapped keys are cached here, so a turn
costs no extra round trip after the first. Histories and savers ask :class:`DataKeys` for a
:class:`~langchain_sessionmem.crypto.Sealer` bound to their owner, sync or async; the sealer of
an owner is built once and shares the store's cache of opened messages
(:class:`~langchain_sessionmem.opened.OpenedCache`), which ``forget`` empties for that owner.
"""

from __future__ import annotations

from typing import Any

from ._steps import Steps, adrive, drive
from .crypto import DataKeyCache, Keyring, Sealer
from .opened import OpenedCache

Call = tuple[Any, ...]  # (engine method name, *args)
MAX_SEALERS = 4096


class DataKeys:
    """Sealers for the owners of one namespace on one engine."""

    def __init__(self, engine: Any, namespace: str, keyring: Keyring):
        self.engine = engine
        self.namespace = namespace
        self.keyring = keyring
        self._cache = DataKeyCache()
        self._sealers: dict[str | None, Sealer] = {}
        size = keyring.opened_cache_bytes
        self.opened = OpenedCache(max_bytes=size) if size else None

    def _data_key(self, owner: str | None) -> Steps[Call, bytes | None]:
        if not self.keyring.per_user_keys or owner is None:
            return None  # the keyring's own key (anonymous data has no owner to shred)
        cached = self._cache.get(self.namespace, owner)
        if cached is not None:
            return cached
        wrapped = yield ("get_user_key", owner)
        if wrapped is None:
            _, fresh = self.keyring.new_data_key(self.namespace, owner)
            wrapped = yield ("create_user_key", owner, fresh)  # a racing writer's key wins
        key = self.keyring.unwrap(wrapped, self.namespace, owner)
        self._cache.put(self.namespace, owner, key)
        return key

    def _call(self, call: Call) -> Any:
        return getattr(self.engine, call[0])(*call[1:])

    async def _acall(self, call: Call) -> Any:
        return await getattr(self.engine, "a" + call[0])(*call[1:])

    def data_key(self, owner: str | None) -> bytes | None:
        """The owner's data key (``None``: the keyring encrypts directly)."""
        return drive(self._data_key(owner), self._call)

    async def adata_key(self, owner: str | None) -> bytes | None:
        return await adrive(self._data_key(owner), self._acall)

    def _keep(self, owner: str | None, key: bytes | None) -> Sealer:
        sealer = Sealer(self.keyring, self.namespace, owner, key, self.opened)
        sealers = self._sealers
        if len(sealers) >= MAX_SEALERS:  # oldest first; its opened values age out of the cache
            sealers.pop(next(iter(sealers), None), None)
        sealers[owner] = sealer
        return sealer

    def sealer(self, owner: str | None) -> Sealer:
        sealer = self._sealers.get(owner)
        return sealer if sealer is not None else self._keep(owner, self.data_key(owner))

    async def asealer(self, owner: str | None) -> Sealer:
        sealer = self._sealers.get(owner)
        return sealer if sealer is not None else self._keep(owner, await self.adata_key(owner))

    def forget(self, owner: str) -> None:
        """Drop the owner's cached key, sealer and opened values (after the owner was erased:
        its wrapped key is gone, and so must be every way to read its data in this process)."""
        self._sealers.pop(owner, None)
        self._cache.drop(self.namespace, owner)
        if self.opened is not None:
            self.opened.drop_owner(owner)
