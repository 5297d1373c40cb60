"""Shared fixtures: real engines only (SQLite files, the local Redis, a throwaway Redis Cluster)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import services  # noqa: E402

# tiktoken cannot download its BPE files here: point it at the packaged cl100k_base file.
os.environ.setdefault(
    "TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(__file__), ".tiktoken_cache")
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    reason = services.redis_available()
    if reason:
        services.missing(reason)
    return services.REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    with services.throwaway_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    reason = services.postgres_available()
    if reason:
        services.missing(reason)
    return services.POSTGRES_DSN


@pytest.fixture
def namespace() -> str:
    """A fresh key / table prefix so tests never see each other's data."""
    return "t" + uuid.uuid4().hex[:12]


def erase_redis_namespace(url: str, namespace: str) -> None:
    """Delete every key a test wrote under ``namespace`` (SCAN is fine in a test, not in the package)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def store_url_for(kind: str, request: pytest.FixtureRequest, tmp_path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    return request.getfixturevalue("redis_url")


def drop_postgres_namespace(dsn: str, namespace: str) -> None:
    """Drop every table a test made under ``namespace`` (chat, checkpoint and migration tables)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND starts_with(tablename, %s)",
                (namespace + "_",),
            )
        ]
        if names:
            conn.execute("DROP TABLE IF EXISTS " + ", ".join(f'"{n}"' for n in names) + " CASCADE")


@contextmanager
def stores_on(url: str, namespace: str) -> Iterator[Callable[..., Any]]:
    """A maker of stores on ``url`` / ``namespace``; afterwards they are closed and the Redis keys or
    PostgreSQL tables erased."""
    from langchain_sessionmem import SessionStore

    made: list[SessionStore] = []

    def make(**options: Any) -> SessionStore:
        options.setdefault("namespace", namespace)
        options.setdefault("allow_anonymous", True)  # suites test the anonymous namespace too
        made.append(SessionStore.from_url(url, **options))
        return made[-1]

    try:
        yield make
    finally:
        for store in made:
            store.close()
        if url.startswith("redis://"):  # a throwaway cluster goes away by itself
            erase_redis_namespace(url, namespace)
        elif url.startswith(("postgresql://", "postgres://")):
            drop_postgres_namespace(url, namespace)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path, namespace):
    """A store on a SQLite file or on the local Redis; the test's Redis keys are erased after."""
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as make:
        yield make()
