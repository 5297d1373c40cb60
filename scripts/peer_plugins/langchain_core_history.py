"""A stand-in for langchain-core's InMemoryChatMessageHistory: sessionmem's SessionHistory.

Copied by ``scripts/peer_langchain_core.py`` into a temporary copy of langchain-core's unit tests
as ``tests/unit_tests/_sessionmem_peer.py``; the test modules under study rebind
``InMemoryChatMessageHistory`` to :func:`PeerHistory` at their end, so every history their
test bodies build is a SessionHistory from ``store.history()`` on the run's store.
langchain-core's conftest (with its blockbuster guard) stays as it is.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

import langchain_sessionmem
from langchain_sessionmem import SessionHistory, SessionStore

ENGINE = os.environ["SESSIONMEM_PEER_ENGINE"]
TOKEN = os.environ["SESSIONMEM_PEER_TOKEN"]
IGNORE_IDS = os.environ.get("SESSIONMEM_PEER_IGNORE_IDS") == "1"
URLS = {
    "memory": "memory://",
    "sqlite": f"sqlite:///{Path(os.environ['SESSIONMEM_PEER_TMP'], TOKEN + '.db')}",
    "redis": os.environ.get("SESSIONMEM_PEER_REDIS_URL", ""),
    "redis_cluster": os.environ.get("SESSIONMEM_PEER_CLUSTER_URL", ""),
    "postgres": os.environ.get("SESSIONMEM_PEER_POSTGRES_DSN", ""),
}
STORE = SessionStore.from_url(URLS[ENGINE], namespace=TOKEN)
USER_ID = os.environ.get("SESSIONMEM_PEER_USER_ID") or getattr(
    langchain_sessionmem, "ANONYMOUS", None
)


def _no_ids(messages: list[BaseMessage]) -> list[BaseMessage]:
    return [m.model_copy(update={"id": None}) for m in messages]


class _Comparable(SessionHistory):
    """SessionHistory compared by its messages, as pydantic compares InMemoryChatMessageHistory.

    With ``SESSIONMEM_PEER_IGNORE_IDS=1`` (the script's diagnostic second pass) reads drop the
    ids that sessionmem assigns on write, to tell that difference apart from any other.
    """

    if IGNORE_IDS:

        @property
        def messages(self) -> list[BaseMessage]:  # type: ignore[override]
            return _no_ids(super().messages)

        async def aget_messages(self) -> list[BaseMessage]:
            return _no_ids(await super().aget_messages())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionHistory):
            return NotImplemented
        return self.messages == other.messages

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content


def PeerHistory(  # noqa: N802 - it stands in for a class name
    messages: Sequence[BaseMessage] | None = None, **_: Any
) -> SessionHistory:
    """Stands in for ``InMemoryChatMessageHistory(messages=...)``: a new session of the run's
    store from ``store.history()``, seeded with ``messages``."""
    history = STORE.history("s-" + secrets.token_hex(8), user_id=USER_ID)
    if type(history) is SessionHistory:
        history.__class__ = _Comparable  # same layout; adds only equality
    if messages:
        history.add_messages(list(messages))
    return history


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    STORE.close()
