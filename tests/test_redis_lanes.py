"""Direct connections of the Redis engine (backends/redis/lanes.py) against real servers.

Scripts go straight to a connection held per thread (sync) or kept in a per-loop free list
(async). These tests show that what redis-py's command path guarantees still holds: threads never
share a connection, a forked child gets its own, a killed connection is reconnected by the retry
policy, a closed store can be used again, and connections go back to the pool.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading

import pytest
import services
from conftest import stores_on

from langchain_sessionmem import SessionStore
from langchain_sessionmem.records import EncodedMessage, SessionKey

pytestmark = pytest.mark.redis
redis = pytest.importorskip("redis")


def _batch(prefix: str, n: int) -> list[EncodedMessage]:
    return [EncodedMessage(f"{prefix}-{i}", f"{prefix}-{i}".encode()) for i in range(n)]


async def _turns(engine, key: SessionKey, turns: int) -> int:
    """``turns`` async appends of 2 each followed by a tail read; the session's count after."""
    for i in range(turns):
        await engine.aappend(key, _batch(f"{key.session_id}-{i}", 2))
        await engine.atail(key, 4)
    return await engine.acount(key)


def _small_pool_store(redis_url: str, namespace: str, size: int) -> SessionStore:
    """A store whose redis-py pool holds ``size`` connections (``max_connections`` in the URL)."""
    sep = "&" if "?" in redis_url else "?"
    return SessionStore.from_url(f"{redis_url}{sep}max_connections={size}", namespace=namespace)


@pytest.fixture
def store(redis_url: str, namespace: str):
    with stores_on(redis_url, namespace) as make:
        yield make()


def test_threads_each_hold_their_own_connection(store):
    engine = store.engine
    seen: dict[int, object] = {}
    errors: list[BaseException] = []
    all_done = threading.Barrier(8, timeout=60)  # no thread ends (giving its connection back) early

    def work(t: int) -> None:
        try:
            key = SessionKey(f"s-{t % 3}", "alice")  # threads share sessions too
            for i in range(40):
                assert engine.append(key, _batch(f"t{t}-{i}", 2)) == 2
                seqs = [seq for seq, _ in engine.tail(key, 5)]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and len(seqs) >= 2
            seen[t] = engine.connections._lane._conn()[0]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        all_done.wait()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len({id(conn) for conn in seen.values()}) == 8
    counts = [engine.count(SessionKey(f"s-{s}", "alice")) for s in range(3)]
    assert sorted(counts) == sorted([3 * 40 * 2, 3 * 40 * 2, 2 * 40 * 2])
    pool = engine.client.connection_pool
    assert len(pool._in_use_connections) <= 2  # the ended threads gave theirs back


def _child(store: SessionStore, queue) -> None:
    """In the forked child: the store it inherited (and its parent's lane) appends."""
    try:
        queue.put(store.engine.append(SessionKey("s-fork", "alice"), _batch("child", 3)))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        queue.put(repr(exc))


def test_a_forked_child_opens_its_own_connection(store):
    key = SessionKey("s-fork", "alice")
    engine = store.engine
    assert engine.append(key, _batch("parent", 2)) == 2
    parent_conn = engine.connections._lane._conn()[0]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(store, queue))
    child.start()
    assert queue.get(timeout=30) == 3
    child.join(30)
    assert child.exitcode == 0
    assert engine.append(key, _batch("parent-again", 2)) == 2
    assert engine.connections._lane._conn()[0] is parent_conn
    assert engine.count(key) == 7


def test_a_killed_connection_is_reconnected():
    with services.throwaway_redis() as (url, _proc):
        store = SessionStore.from_url(url, namespace="lanes", allow_anonymous=True)
        try:
            engine, key = store.engine, SessionKey("s-kill", "bob")
            assert engine.append(key, _batch("a", 2)) == 2
            admin = redis.Redis.from_url(url)
            assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
            assert engine.append(key, _batch("b", 2)) == 2  # the retry policy reconnects
            assert [seq for seq, _ in engine.tail(key, None)] == [1, 2, 3, 4]
            admin.close()
        finally:
            store.close()


async def test_async_a_killed_connection_is_reconnected():
    with services.throwaway_redis() as (url, _proc):
        store = SessionStore.from_url(url, namespace="lanes", allow_anonymous=True)
        try:
            engine, key = store.engine, SessionKey("s-akill", "bob")
            assert await engine.aappend(key, _batch("a", 2)) == 2
            admin = redis.Redis.from_url(url)
            assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
            await asyncio.sleep(0.1)  # the loop sees the hang-up (an idle connection would)
            assert await engine.aappend(key, _batch("b", 2)) == 2
            assert len(await engine.atail(key, None)) == 4
            admin.close()
        finally:
            await store.aclose()


async def test_async_sessions_at_once_reuse_a_few_connections(store):
    engine = store.engine
    sessions = (_turns(engine, SessionKey(f"s-{s}", "carol"), 10) for s in range(32))
    assert await asyncio.gather(*sessions) == [20] * 32
    lane = engine.connections._loop_lanes.get()
    assert 1 <= len(lane._free) <= 32
    await store.aclose()  # gives them back to the pool, then closes the loop's client
    assert lane._free == []


def test_a_closed_store_can_be_used_again(store):
    engine, key = store.engine, SessionKey("s-reopen", "dave")
    assert engine.append(key, _batch("a", 1)) == 1
    store.close()
    assert engine.append(key, _batch("b", 1)) == 1  # a new client and lane
    assert engine.count(key) == 2


async def test_async_bursts_beyond_the_pool_wait_for_a_connection(redis_url, namespace):
    """Idle lane connections are checked out of the pool: with a pool of 6, 40 sessions' scripts
    at once and 40 checkpoint puts (pipelines, outside the lane) beside them all complete."""
    store = _small_pool_store(redis_url, namespace, 6)
    saver = store.checkpointer(user_id="erin")
    try:
        engine = store.engine

        async def thread(t: int) -> str:
            from langgraph.checkpoint.base import empty_checkpoint

            config = {"configurable": {"thread_id": f"burst-{t}", "checkpoint_ns": ""}}
            done = await saver.aput(config, empty_checkpoint(), {"step": t}, {})
            return done["configurable"]["checkpoint_id"]

        counts, ids = await asyncio.gather(
            asyncio.gather(
                *(_turns(engine, SessionKey(f"s-burst-{s}", "erin"), 5) for s in range(40))
            ),
            asyncio.gather(*(thread(t) for t in range(40))),
        )
        assert counts == [10] * 40
        assert len(set(ids)) == 40
        lane = engine.connections._loop_lanes.get()
        assert len(lane._free) <= 3  # half the pool at most stays checked out while idle
    finally:
        await store.aclose()


def test_more_threads_than_the_pool_share_it(redis_url, namespace):
    """Threads hold lane connections only up to half the pool: 10 live threads on a pool of 4,
    taking turns (one request in flight, as a plain redis-py client needs), append, read and put
    checkpoints; before, each thread kept one and the fifth found the pool empty."""
    from langgraph.checkpoint.base import empty_checkpoint

    store = _small_pool_store(redis_url, namespace, 4)
    saver = store.checkpointer(user_id="frank")
    errors: list[BaseException] = []
    all_done = threading.Barrier(10, timeout=60)  # every thread stays alive (holding) to the end
    one_at_a_time = threading.Lock()

    def work(t: int) -> None:
        try:
            with one_at_a_time:
                run(t)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        all_done.wait()

    def run(t: int) -> None:
        key = SessionKey(f"s-threads-{t}", "frank")
        for i in range(5):
            assert store.engine.append(key, _batch(f"{t}-{i}", 2)) == 2
            assert len(store.engine.tail(key, 3)) == 3 or i == 0
            config = {"configurable": {"thread_id": f"threads-{t}", "checkpoint_ns": ""}}
            saver.put(config, empty_checkpoint(), {"step": i}, {})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(10)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[:2]
        assert all(
            store.engine.count(SessionKey(f"s-threads-{t}", "frank")) == 10 for t in range(10)
        )
    finally:
        store.close()
