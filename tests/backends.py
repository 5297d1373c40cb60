"""The one list of test backends: names, URL factories, cleanup, and helpers to damage storage.

Suites parametrize over :func:`params` and build URLs with :func:`url_for`, so adding a backend to
the package means adding one entry here, and every suite that runs "on every engine" picks it up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class TestBackend:
    """A backend as the suites see it: how to get its URL, and its pytest marks."""

    name: str
    url: Callable[[pytest.FixtureRequest, Any], str]  # (request, tmp_path) -> store URL
    marks: tuple[Any, ...] = ()


def _fixture(name: str) -> Callable[[pytest.FixtureRequest, Any], str]:
    return lambda request, tmp_path: request.getfixturevalue(name)


BACKENDS: dict[str, TestBackend] = {
    b.name: b
    for b in (
        TestBackend("memory", lambda request, tmp_path: "memory://"),
        TestBackend("sqlite", lambda request, tmp_path: f"sqlite:///{tmp_path / 'sessions.db'}"),
        TestBackend("sqlite-mem", lambda request, tmp_path: "sqlite://"),
        TestBackend("redis", _fixture("redis_url"), (pytest.mark.redis,)),
        TestBackend(
            "cluster",
            lambda request, tmp_path: request.getfixturevalue("redis_cluster_url").replace(
                "redis://", "redis+cluster://"
            ),
            (pytest.mark.cluster,),
        ),
        TestBackend("postgres", _fixture("postgres_dsn"), (pytest.mark.postgres,)),
    )
}
"""Every backend the suites know; ``sqlite-mem`` is SQLite's in-memory database."""

EVERY = ("memory", "sqlite", "redis", "cluster", "postgres")
"""The backends a behaviour suite runs on (one per engine, the cluster included)."""


def params(*names: str) -> list[Any]:
    """``pytest.param`` per backend name (default: :data:`EVERY`), with the backend's marks."""
    return [pytest.param(n, id=n, marks=BACKENDS[n].marks) for n in (names or EVERY)]


def url_for(name: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return BACKENDS[name].url(request, tmp_path)


# -- cleanup -------------------------------------------------------------------------------------
def erase_redis_namespace(url: str, namespace: str) -> None:
    """Delete every key a test wrote under ``namespace`` (SCAN is fine in a test, not in the package)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


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
    """A maker of stores on ``url`` / ``namespace``; afterwards they are closed and the Redis keys
    or PostgreSQL tables erased (a throwaway cluster goes away by itself)."""
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
        if url.startswith("redis://"):
            erase_redis_namespace(url, namespace)
        elif url.startswith(("postgresql://", "postgres://")):
            drop_postgres_namespace(url, namespace)


# -- damaging storage ----------------------------------------------------------------------------
def corrupt_message(store: Any, kind: str, user: str, sid: str, seq: int, garbage: bytes) -> None:
    """Overwrite the stored bytes of message ``seq`` directly in the engine, bypassing the codec."""
    from langchain_sessionmem.records import SessionKey

    engine = getattr(store.engine, "_engine", store.engine)  # unwrap telemetry instrumentation
    ns = store.namespace
    if kind == "memory":
        engine._sessions[SessionKey(sid, user)].messages[seq - 1] = garbage
    elif kind.startswith("sqlite"):
        with engine.connections.connection() as conn:
            cur = conn.execute(
                f'UPDATE "{ns}_messages" SET data = ? WHERE seq = ? AND session_pk = '
                f'(SELECT id FROM "{ns}_sessions" WHERE user_id = ? AND session_id = ?)',
                (garbage, seq, user, sid),
            )
            assert cur.rowcount == 1
    elif kind == "postgres":
        with engine.connections.connection() as conn:
            cur = conn.execute(
                f'UPDATE "{ns}_messages" SET data = %s WHERE seq = %s AND session_pk = '
                f'(SELECT id FROM "{ns}_sessions" WHERE user_id = %s AND session_id = %s)',
                (garbage, seq, user, sid),
            )
            assert cur.rowcount == 1
    else:
        log = engine.keys.session(user, sid)[0]
        engine.client.lset(log, seq - 1, garbage)
