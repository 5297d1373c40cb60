"""langgraph-checkpoint-conformance 0.0.2 on PostgreSQL: the async methods, and the sync ones
through an async facade; each run in a namespace of its own, its tables dropped before and after."""

from __future__ import annotations

import os
import uuid

import pytest
from postgres_helpers import drop_namespace
from test_checkpoint_conformance import run_conformance

from langchain_sessionmem import SessionStore
from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_postgres_conformance(sync: bool, postgres_dsn: str) -> None:
    namespace = "cf" + uuid.uuid4().hex[:10]  # a per-run prefix: no table shared with another run
    drop_namespace(postgres_dsn, namespace)
    saver = PostgresCheckpointSaver(conninfo=postgres_dsn, namespace=namespace)
    try:
        await run_conformance("sessionmem-postgres", lambda: saver, sync=sync)
    finally:
        await saver.aclose()
        saver.close()
        drop_namespace(postgres_dsn, namespace)


async def test_postgres_store_checkpointer_conformance(postgres_dsn: str) -> None:
    """The saver of ``SessionStore.from_url(...).checkpointer()``, on the store's own pools."""
    namespace = "cs" + uuid.uuid4().hex[:10]
    url = postgres_dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    store = SessionStore.from_url(url, namespace=namespace)
    try:

        async def make() -> PostgresCheckpointSaver:
            return store.checkpointer(user_id="conformance-user")

        await run_conformance("sessionmem-postgres-store", make)
    finally:
        await store.aclose()
        drop_namespace(postgres_dsn, namespace)


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_postgres_encrypted_conformance(sync: bool, postgres_dsn: str) -> None:
    """The same 81 tests with every stored value sealed at its place (copy_thread re-seals)."""
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring

    namespace = "ce" + uuid.uuid4().hex[:10]
    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    saver = PostgresCheckpointSaver(conninfo=postgres_dsn, namespace=namespace, encryption=keyring)
    try:
        await run_conformance("sessionmem-postgres-encrypted", lambda: saver, sync=sync)
    finally:
        await saver.aclose()
        saver.close()
        drop_namespace(postgres_dsn, namespace)
