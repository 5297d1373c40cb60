"""What every engine's saver shares: serde, versions, user scope, TTL, the log cache."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol, maybe_add_typed_methods

from ..errors import ConfigurationError, ThreadOwnershipError
from ..ids import validate_id, validate_user_id
from .base import LogCache, PutPlan, next_version, plan_put
from .serde import default_serde, with_allowlist

STRATEGIES = ("keep_latest", "delete")


def ttl_seconds(ttl: timedelta | float | None) -> float | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if seconds <= 0:
        raise ConfigurationError(f"ttl must be positive, got {ttl!r}")
    return seconds


class SessionSaverBase(BaseCheckpointSaver[str]):
    """Common state of the sessionmem savers.

    ``user_id`` scopes the saver: threads it creates are stamped with that owner, and threads
    owned by anyone else are invisible to reads and refused for writes and deletes. Without a
    ``user_id`` the saver is unscoped (an admin view, and what LangGraph tooling expects).
    ``ttl`` expires a whole thread after that long without a write (or a read, with
    ``refresh_on_read``). ``linear=False`` turns off log-backed list channels.
    """

    def __init__(self, *, namespace: str = "sessionmem", ttl: timedelta | float | None = None,
                 user_id: str | None = None, serde: SerializerProtocol | None = None,
                 linear: bool = True, refresh_on_read: bool = False) -> None:
        super().__init__(serde=serde or default_serde())
        self.namespace = namespace
        self.ttl = ttl_seconds(ttl)
        self.user_id = validate_user_id(user_id)
        self.linear = linear
        self.refresh_on_read = refresh_on_read
        self._logs = LogCache()

    # -- small shared behaviour ---------------------------------------------------------------
    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:  # type: ignore[override]
        return next_version(current)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> SessionSaverBase:
        clone = copy.copy(self)
        clone.serde = maybe_add_typed_methods(with_allowlist(self.serde, extra_allowlist))
        return clone

    def for_user(self, user_id: str | None) -> SessionSaverBase:
        """The same saver (shared connections and cache) scoped to another user."""
        clone = copy.copy(self)
        clone.user_id = validate_user_id(user_id)
        return clone

    def _plan(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
              new_versions: ChannelVersions) -> PutPlan:
        return plan_put(self.serde, self._logs, config, checkpoint, metadata, new_versions, linear=self.linear)

    def _expires(self, now: float) -> float | None:
        return None if self.ttl is None else now + self.ttl

    def _owns(self, owner: str | None) -> bool:
        return self.user_id is None or owner == self.user_id

    def _refuse(self, thread_id: str, action: str) -> ThreadOwnershipError:
        return ThreadOwnershipError(
            f"thread {thread_id!r} belongs to another user: user {self.user_id!r} cannot {action} it"
        )

    @staticmethod
    def _thread_ids(thread_ids: Any) -> list[str]:
        return [validate_id(t, "thread_id") for t in thread_ids]

    @staticmethod
    def _strategy(strategy: str) -> str:
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"unknown prune strategy {strategy!r}: use one of {STRATEGIES}")
        return strategy
