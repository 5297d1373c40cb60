"""LangGraph's checkpointer fixtures with sessionmem savers beside InMemorySaver.

Copied by ``scripts/peer_langgraph.py`` into a temporary copy of LangGraph's tests as
``tests/_sessionmem_peer.py`` and imported at the end of their ``conftest.py``, so these fixtures
replace ``sync_checkpointer`` / ``async_checkpointer``. Only sessionmem's public API is used.
Tests that take no checkpointer are deselected: the run is about savers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from tests.conftest_checkpointer import _checkpointer_memory

import langchain_sessionmem
from langchain_sessionmem import SessionStore

SAVERS = os.environ["SESSIONMEM_PEER_SAVERS"].split(",")  # "memory" is upstream's InMemorySaver
TOKEN = os.environ["SESSIONMEM_PEER_TOKEN"]
TMP = Path(os.environ["SESSIONMEM_PEER_TMP"])
URLS = {
    "sessionmem_memory": "memory://",
    "sessionmem_sqlite": None,  # a fresh file per test, below
    "sessionmem_redis": os.environ.get("SESSIONMEM_PEER_REDIS_URL", ""),
    "sessionmem_redis_cluster": os.environ.get("SESSIONMEM_PEER_CLUSTER_URL", ""),
    "sessionmem_postgres": os.environ.get("SESSIONMEM_PEER_POSTGRES_DSN", ""),
}
CHECKPOINTER_FIXTURES = ("sync_checkpointer", "async_checkpointer")
# whose saver: a user id, or the anonymous namespace (LangGraph's tests are single-tenant)
USER_ID = os.environ.get("SESSIONMEM_PEER_USER_ID") or getattr(
    langchain_sessionmem, "ANONYMOUS", None
)


def _store(name: str) -> SessionStore:
    # a namespace per test keeps tests apart on a shared server; secrets, not uuid4 (tests mock it)
    namespace = f"{TOKEN}-{secrets.token_hex(4)}"
    if name == "sessionmem_sqlite":
        return SessionStore.from_url(f"sqlite:///{TMP / (namespace + '.db')}", namespace=namespace)
    return SessionStore.from_url(URLS[name], namespace=namespace)


@contextmanager
def _upstream(name: str) -> Iterator[BaseCheckpointSaver]:
    if name != "memory":
        raise NotImplementedError(f"unknown checkpointer {name!r}")
    with _checkpointer_memory() as saver:
        yield saver


@pytest.fixture(scope="function", params=SAVERS)
def sync_checkpointer(request: pytest.FixtureRequest) -> Iterator[BaseCheckpointSaver]:
    name = request.param
    if name not in URLS:
        with _upstream(name) as saver:
            yield saver
        return
    store = _store(name)
    try:
        yield store.checkpointer(user_id=USER_ID)
    finally:
        store.close()


@pytest.fixture(scope="function", params=SAVERS)
async def async_checkpointer(request: pytest.FixtureRequest) -> AsyncIterator[BaseCheckpointSaver]:
    name = request.param
    if name not in URLS:
        with _upstream(name) as saver:
            yield saver
        return
    store = _store(name)
    try:
        yield store.checkpointer(user_id=USER_ID)
    finally:
        await store.aclose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the tests that run on a checkpointer fixture."""
    kept, dropped = [], []
    for item in items:
        names = getattr(item, "fixturenames", ())
        (kept if any(f in names for f in CHECKPOINTER_FIXTURES) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
