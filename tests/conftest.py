"""Shared fixtures: real engines only (SQLite files, the local Redis, a throwaway Redis Cluster)."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import services  # noqa: E402

# tiktoken cannot download its BPE files here: point it at the packaged cl100k_base file.
os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(__file__), ".tiktoken_cache"))


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


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path, namespace):
    """A store on a SQLite file or on the local Redis; the test's Redis keys are erased after."""
    from langchain_sessionmem import SessionStore

    url = store_url_for(request.param, request, tmp_path)
    store = SessionStore.from_url(url, namespace=namespace)
    yield store
    store.close()
    if request.param == "redis":
        erase_redis_namespace(url, namespace)
