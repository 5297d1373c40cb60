"""langgraph-checkpoint-conformance 0.0.2 on every engine, for the async and the sync methods."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from langchain_sessionmem.checkpoint import MemoryCheckpointSaver
from langchain_sessionmem.checkpoint.saver import SessionSaverBase

ALL_CAPS = (
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
)


class SyncJudged(SessionSaverBase):
    """An async facade whose every method runs the wrapped saver's SYNC twin in a thread."""

    def __init__(self, inner: SessionSaverBase):
        self.inner = inner
        self.serde = inner.serde

    async def aget_tuple(self, config):
        return await asyncio.to_thread(self.inner.get_tuple, config)

    async def alist(self, config, *, filter=None, before=None, limit=None):
        items = await asyncio.to_thread(
            lambda: list(self.inner.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(self, config, checkpoint, metadata, new_versions):
        return await asyncio.to_thread(self.inner.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config, writes, task_id, task_path=""):
        await asyncio.to_thread(self.inner.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id):
        await asyncio.to_thread(self.inner.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids):
        await asyncio.to_thread(self.inner.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id, target_thread_id):
        await asyncio.to_thread(self.inner.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids, *, strategy="keep_latest"):
        await asyncio.to_thread(self.inner.prune, thread_ids, strategy=strategy)


async def run_conformance(name: str, make: Callable[[], Any], *, sync: bool = False) -> None:
    """Register ``make`` (sync or async callable returning a saver), validate, assert 81/81."""
    unique = f"{name}-{'sync' if sync else 'async'}-{uuid.uuid4().hex[:8]}"

    @checkpointer_test(name=unique)
    async def factory() -> AsyncIterator[Any]:
        saver = make()
        if asyncio.iscoroutine(saver):
            saver = await saver
        yield SyncJudged(saver) if sync else saver

    report = await validate(factory)
    if os.environ.get("SESSIONMEM_CONFORMANCE_REPORT"):
        report.print_report()
    res = report.to_dict()["results"]
    failures = {cap: r.get("failures") for cap, r in res.items() if r.get("failures")}
    assert report.passed_all_base() and report.passed_all(), failures
    assert all(res[c]["detected"] for c in ALL_CAPS), res
    assert sum(r["tests_passed"] for r in res.values()) == 81, res


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_memory_conformance(sync: bool) -> None:
    await run_conformance("sessionmem-memory", MemoryCheckpointSaver, sync=sync)


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_sqlite_file_conformance(sync: bool, tmp_path, namespace: str) -> None:
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver

    path = str(tmp_path / "ckpt.db")
    await run_conformance(
        "sessionmem-sqlite",
        lambda: SqliteCheckpointSaver(path=path, namespace=namespace),
        sync=sync,
    )


async def test_encrypted_memory_and_sqlite_conformance(tmp_path, namespace: str) -> None:
    """The same 81 tests with every stored value sealed (places bind them to their thread)."""
    pytest.importorskip("cryptography")
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver
    from langchain_sessionmem.crypto import Keyring

    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    await run_conformance(
        "sessionmem-memory-encrypted", lambda: MemoryCheckpointSaver(encryption=keyring)
    )
    path = str(tmp_path / "enc.db")
    await run_conformance(
        "sessionmem-sqlite-encrypted",
        lambda: SqliteCheckpointSaver(path=path, namespace=namespace, encryption=keyring),
    )


def _redis_saver(url: str, namespace: str, *, cluster: bool = False) -> Any:
    import redis
    import redis.asyncio as aredis
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster

    from langchain_sessionmem.checkpoint import RedisCheckpointSaver

    if cluster:
        return RedisCheckpointSaver(
            client=RedisCluster.from_url(url),
            aclient=AsyncRedisCluster.from_url(url),
            namespace=namespace,
        )
    return RedisCheckpointSaver(
        client=redis.Redis.from_url(url), aclient=aredis.Redis.from_url(url), namespace=namespace
    )


def _wipe(saver: Any) -> None:
    """Delete every thread this namespace indexed (no KEYS/SCAN needed)."""
    for tid in saver.client.zrange(saver.keys.threads, 0, -1):
        saver.delete_thread(tid.decode())
    saver.client.delete(saver.keys.threads)


@pytest.mark.redis
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_redis_conformance(sync: bool, redis_url: str, namespace: str) -> None:
    saver = _redis_saver(redis_url, namespace)
    try:
        await run_conformance("sessionmem-redis", lambda: saver, sync=sync)
    finally:
        _wipe(saver)
        await saver.connections.aclient.aclose()


@pytest.mark.cluster
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_redis_cluster_conformance(
    sync: bool, redis_cluster_url: str, namespace: str
) -> None:
    saver = _redis_saver(redis_cluster_url, namespace, cluster=True)
    try:
        await run_conformance("sessionmem-redis-cluster", lambda: saver, sync=sync)
    finally:
        _wipe(saver)
        await saver.connections.aclient.aclose()
