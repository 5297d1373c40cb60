"""Shared fixtures: real engines only (SQLite files, the local Redis, a throwaway Redis Cluster)."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import services  # noqa: E402

# tiktoken cannot download its BPE files here: every test counts with the packaged cl100k_base
# file (set up before any test module loads, so a file run alone counts as in the full suite).
from fakes import ensure_tiktoken_cache  # noqa: E402

ensure_tiktoken_cache()


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


from backends import (  # noqa: E402, F401  (the one list of test backends, re-exported)
    drop_postgres_namespace,
    erase_redis_namespace,
    stores_on,
    url_for,
)


def store_url_for(kind: str, request: pytest.FixtureRequest, tmp_path) -> str:
    return url_for(kind, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path, namespace):
    """A store on a SQLite file or on the local Redis; the test's Redis keys are erased after."""
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as make:
        yield make()
