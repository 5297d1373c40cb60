"""Redis-only properties: round trips, key TTLs, hash tags, per-user index, dead servers, own clients.

Round trips are observed by wrapping the engine's own client ``execute_command`` with a counter:
the engine and the server are real, the counter only watches what crosses the wire.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
import services
from conftest import stores_on
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import (
    ConfigurationError,
    EngineUnavailableError,
    InvalidArgumentError,
    SessionMemoryError,
)
from langchain_sessionmem.records import EncodedMessage, SessionKey

redis = pytest.importorskip("redis")

REDIS_ENGINES = [
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("cluster", id="cluster", marks=pytest.mark.cluster),
]


@pytest.fixture(params=REDIS_ENGINES)
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return request.getfixturevalue("redis_cluster_url").replace("redis://", "redis+cluster://")


@pytest.fixture
def make_store(url: str, namespace: str):
    with stores_on(url, namespace) as make:
        yield make


def namespace_keys(store: SessionStore) -> set[str]:
    """Every key of the store's namespace, by SCAN over every node (fine in a test)."""
    return {
        k.decode()
        for k in store.engine.client.scan_iter(match=f"{{{store.namespace}|*", count=1000)
    }


def _command_name(packed) -> str:
    """The first command of a packed request: ``*N\r\n$L\r\nNAME\r\n...`` (bytes, or chunks
    whose first one holds the name)."""
    head = bytes(packed if isinstance(packed, (bytes, bytearray)) else packed[0])
    return head.split(b"\r\n")[2].decode().upper()


class CommandCounter:
    """Records each request written to a Redis connection while it is active: one per round
    trip (a command, a script, or a whole pipeline, named by its first command). The
    connections keep doing their real work.

    It watches redis-py's connections themselves, so it sees the engine's direct connections
    (:mod:`langchain_sessionmem.backends.redis.lanes`) as well as redis-py's command path, on
    a single server and on every node of a cluster.
    """

    def __init__(self, *, is_async: bool = False):
        import redis.asyncio.connection
        import redis.connection

        self.commands: list[str] = []
        cls = (redis.asyncio.connection if is_async else redis.connection).AbstractConnection
        original = cls.send_packed_command
        commands = self.commands

        if is_async:

            async def counting(conn, command, *args, **kwargs):
                commands.append(_command_name(command))
                return await original(conn, command, *args, **kwargs)
        else:

            def counting(conn, command, *args, **kwargs):
                commands.append(_command_name(command))
                return original(conn, command, *args, **kwargs)

        self._restore = lambda: setattr(cls, "send_packed_command", original)
        cls.send_packed_command = counting

    HANDSHAKE = {"HELLO", "CLIENT", "AUTH", "SELECT", "READONLY"}
    """What a new connection sends once before its first command: not part of an operation."""

    def take(self) -> list[str]:
        commands = [c for c in self.commands if c not in self.HANDSHAKE]
        self.commands.clear()
        return commands

    def __enter__(self) -> CommandCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()


# -- round trips ---------------------------------------------------------------------------
def test_tail_and_append_are_one_round_trip_whatever_the_history_length(make_store):
    store = make_store()
    history = store.history("s-cost", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(10)])
    history.tail(1)  # the server has the scripts now
    with CommandCounter() as counter:
        _one_trip_each(history, counter)


def test_a_read_that_slides_the_expiry_is_one_round_trip_too(make_store):
    """refresh_on_read: the tail read and the expiry refresh of every key are one script."""
    clock = [1_000.0]
    store = make_store(ttl=60, refresh_on_read=True, clock=lambda: clock[0])
    history = store.history("s-refresh", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(10)])
    history.tail(1)
    keys = store.engine.keys.touch_keys(SessionKey("s-refresh", "alice"))
    client = store.engine.client
    client.hset(keys[3], "v", 0)  # a state key too, so every key has an expiry to slide
    for key in keys:
        client.pexpire(key, 5_000)
    clock[0] += 30
    with CommandCounter() as counter:
        assert [m.content for m in history.tail(2)] == ["m8", "m9"]
        assert counter.take() == ["EVALSHA"]
    assert all(client.pttl(k) > 50_000 for k in keys), [client.pttl(k) for k in keys]
    expires = int(client.hget(keys[2], "expires"))
    assert expires == 1_030_000 + 60_000
    with CommandCounter() as counter:
        history.add_messages([HumanMessage("q"), AIMessage("a")])
        assert counter.take() == ["EVALSHA"]
        assert [e.seq for e in history.tail_entries(3)] == [10, 11, 12]
        assert counter.take() == ["EVALSHA"]


def _read_command(engine) -> str:
    """What a tail read sends: MULTI (LLEN + LRANGE, EXEC) on the engine's direct connections,
    one script on a cluster client (see backends/redis/lanes.py)."""
    return "MULTI" if engine.connections._lanes else "EVALSHA"


def _one_trip_each(history, counter: CommandCounter) -> None:
    read = _read_command(history.engine)
    for length in (10, 2_000):
        if length > history.count():
            history.add_messages(
                [HumanMessage(f"bulk {i}") for i in range(length - history.count())]
            )
        counter.take()
        tail = history.tail_entries(20 if length > 10 else 5)
        assert counter.take() == [read], length  # LLEN + LRANGE, atomically
        assert len(tail) == (20 if length > 10 else 5)
        assert tail[-1].seq == history.count()
        counter.take()
        history.add_messages([HumanMessage("q"), AIMessage("a")])
        assert counter.take() == ["EVALSHA"]
        assert history.count() == length + 2
        counter.take()

    # reading everything is also one round trip; count is a single LLEN
    history.messages  # noqa: B018
    assert counter.take() == [read]
    history.count()
    assert counter.take() == ["LLEN"]


async def test_async_tail_and_append_are_one_round_trip(make_store):
    store = make_store()
    try:
        history = store.history("s-acost")
        await history.aadd_messages([HumanMessage(f"m{i}") for i in range(500)])
        await history.atail(1)
        with CommandCounter(is_async=True) as counter:
            assert len(await history.atail(20)) == 20
            assert counter.take() == [_read_command(store.engine)]
            await history.aadd_messages([HumanMessage("q"), AIMessage("a")])
            assert counter.take() == ["EVALSHA"]
            assert await history.acount() == 502
            assert counter.take() == ["LLEN"]
    finally:
        await store.aclose()


def test_scripts_are_reloaded_after_a_script_flush(make_store):
    store = make_store()
    history = store.history("s-flush")
    history.add_messages([HumanMessage("before")])
    client = store.engine.client
    if isinstance(client, redis.cluster.RedisCluster):
        for node in client.get_primaries():
            client.execute_command("SCRIPT", "FLUSH", target_nodes=node)
    else:
        client.script_flush()
    history.add_messages([HumanMessage("after")])
    assert [m.content for m in history.tail(2)] == ["before", "after"]


# -- keys ----------------------------------------------------------------------------------
def test_every_key_of_a_session_slides_with_the_ttl(make_store):
    store = make_store(ttl=timedelta(seconds=30))
    history = store.history("s-ttl", user_id="alice")
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    history.cas_state(0, {"summary": "greeting"})
    keys = store.engine.keys.touch_keys(SessionKey("s-ttl", "alice"))
    assert len(keys) == 5 and keys[-1] == store.engine.keys.index("alice")
    client = store.engine.client
    first = [client.pttl(k) for k in keys]
    assert all(0 < ms <= 30_000 for ms in first), dict(zip(keys, first, strict=True))
    time.sleep(0.25)
    aged = [client.pttl(k) for k in keys]
    assert all(ms <= 29_850 for ms in aged), aged
    history.add_messages([HumanMessage("again")])
    refreshed = [client.pttl(k) for k in keys]
    assert all(b >= a + 150 for a, b in zip(aged, refreshed, strict=True)), (
        "a write must push every key's expiry"
    )
    time.sleep(0.25)
    aged = [client.pttl(k) for k in keys]
    history.cas_state(1, {"summary": "updated"})  # a state write slides them too
    refreshed = [client.pttl(k) for k in keys]
    assert all(b >= a + 150 for a, b in zip(aged, refreshed, strict=True)), (aged, refreshed)
    assert set(namespace_keys(store)) == set(keys)


def test_without_ttl_no_key_expires(make_store):
    store = make_store()
    history = store.history("s-forever", user_id="alice")
    history.add_messages([HumanMessage("hi")])
    history.cas_state(0, {"x": 1})
    keys = store.engine.keys.touch_keys(SessionKey("s-forever", "alice"))
    assert [store.engine.client.pttl(k) for k in keys] == [-1] * 5


def test_all_keys_of_a_user_share_one_cluster_slot(make_store):
    from redis.crc import key_slot

    store = make_store()
    keys = store.engine.keys
    for user in ("alice", "a:b|c{d}%", None):
        names = [keys.index(user)]
        for sid in ("s1", "s:2", "{s3}"):
            names += keys.session(user, sid)
        assert len({key_slot(n.encode()) for n in names}) == 1, (user, names)
        # and the engine really writes there (on a cluster a cross-slot script would fail)
        store.history("{s3}", user_id=user).add_messages([HumanMessage("x")])
        assert store.history("{s3}", user_id=user).count() == 1


def test_gdpr_erase_leaves_no_key_of_that_user(make_store):
    store = make_store(ttl=timedelta(minutes=5))
    for user in ("alice", "bob"):
        for sid in ("a", "b"):
            history = store.history(sid, user_id=user)
            history.add_messages([HumanMessage(f"{user} {sid}")])
            history.cas_state(0, {"user": user})
    store.history("a").add_messages([HumanMessage("anonymous")])
    before = namespace_keys(store)
    alice_tag = store.engine.keys.tag("alice")
    alice_keys = {k for k in before if k.startswith(alice_tag)}
    assert len(alice_keys) == 9  # 2 sessions x (log, ids, meta, state) + the index

    assert store.delete_user("alice") == 2
    after = namespace_keys(store)
    assert not any(k.startswith(alice_tag) for k in after), after
    assert after == before - alice_keys
    assert [m.content for m in store.history("a", user_id="bob").messages] == ["bob a"]


async def test_async_gdpr_erase(make_store):
    store = make_store()
    try:
        for sid in ("a", "b", "c"):
            await store.history(sid, user_id="alice").aadd_messages([HumanMessage(sid)])
        await store.history("a", user_id="bob").aadd_messages([HumanMessage("bob")])
        assert await store.adelete_user("alice") == 3
        tag = store.engine.keys.tag("alice")
        assert not any(k.startswith(tag) for k in namespace_keys(store))
        assert await store.history("a", user_id="bob").acount() == 1
    finally:
        await store.aclose()


def test_expired_sessions_leave_the_index(make_store):
    store = make_store(ttl=timedelta(seconds=0.5))
    store.history("old", user_id="alice").add_messages([HumanMessage("old")])
    time.sleep(0.3)
    store.history("new", user_id="alice").add_messages(
        [HumanMessage("new")]
    )  # keeps the index alive
    time.sleep(0.3)  # "old" has expired, "new" has about 0.2 s left
    client = store.engine.client
    index = store.engine.keys.index("alice")
    assert client.zcard(index) == 2  # the expired entry is still indexed ...
    assert [s.session_id for s in store.list_sessions("alice")] == ["new"]
    assert client.zcard(index) == 1  # ... until a listing drops it
    assert store.delete_user("alice") == 1  # only live sessions count


def test_listing_and_erasing_never_scan_the_keyspace():
    with services.throwaway_redis() as (url, _proc):
        store = SessionStore.from_url(url, namespace="app", allow_anonymous=True)
        for user in ("alice", "bob"):
            for i in range(5):
                store.history(f"s{i}", user_id=user).add_messages([HumanMessage("x")])
        client = store.engine.client
        client.config_resetstat()
        assert len(store.list_sessions("alice")) == 5
        assert store.delete_user("alice") == 5
        assert store.delete_session("s1", user_id="bob") is True
        stats = client.info("commandstats")
        store.close()
    used = {name.removeprefix("cmdstat_") for name in stats}
    assert used, stats
    assert not used & {"scan", "keys"}, used
    assert "zrevrange" in used or "zrange" in used


# -- a dead server -------------------------------------------------------------------------
def _assert_unavailable(exc: BaseException, port: int) -> None:
    assert isinstance(exc, EngineUnavailableError)
    assert isinstance(exc, SessionMemoryError) and isinstance(exc, ConnectionError)
    message = str(exc)
    assert f"127.0.0.1:{port}" in message, message
    assert "s3cret" not in message and "s3cret" not in repr(exc.args)
    assert "***" in message


def test_dead_server_raises_engine_unavailable_without_the_password():
    with services.throwaway_redis() as (url, proc):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        store = SessionStore.from_url(url, namespace="app", allow_anonymous=True)
        store.history("s").add_messages([HumanMessage("stored before the crash")])
        assert store.history("s").count() == 1
        proc.kill()
        proc.wait()

        secret = SessionStore.from_url(
            f"redis://:s3cret@127.0.0.1:{port}/0", namespace="app", allow_anonymous=True
        )
        history = secret.history("s", user_id="alice")
        calls = [
            lambda: history.messages,
            lambda: history.tail(5),
            lambda: history.count(),
            lambda: history.add_messages([HumanMessage("lost?")]),
            lambda: history.get_state(),
            lambda: history.cas_state(0, {}),
            lambda: secret.list_sessions("alice"),
            lambda: secret.delete_session("s", user_id="alice"),
            lambda: secret.delete_user("alice"),
        ]
        for call in calls:
            with pytest.raises(EngineUnavailableError) as info:
                call()
            _assert_unavailable(info.value, port)
        with pytest.raises(EngineUnavailableError, match=f"127.0.0.1:{port}"):
            store.history("s").messages  # noqa: B018 - the store that wrote before the crash
        secret.close()
        store.close()


async def test_dead_server_async():
    with services.throwaway_redis() as (url, proc):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        proc.kill()
        proc.wait()
        store = SessionStore.from_url(f"redis://:s3cret@127.0.0.1:{port}/0", allow_anonymous=True)
        history = store.history("s", user_id="alice")
        calls = [
            history.aget_messages,
            lambda: history.atail(3),
            history.acount,
            lambda: history.aadd_messages([HumanMessage("x")]),
            history.aget_state,
            lambda: store.alist_sessions("alice"),
            lambda: store.adelete_user("alice"),
        ]
        for call in calls:
            with pytest.raises(EngineUnavailableError) as info:
                await call()
            _assert_unavailable(info.value, port)
        await store.aclose()


# -- your own clients ----------------------------------------------------------------------
@pytest.mark.redis
async def test_from_client_sync_and_async(redis_url, namespace):
    import redis.asyncio

    client = redis.Redis.from_url(redis_url)
    aclient = redis.asyncio.Redis.from_url(redis_url)
    try:
        store = SessionStore.from_client(
            client,
            aclient=aclient,
            namespace=namespace,
            ttl=timedelta(minutes=1),
            allow_anonymous=True,
        )
        history = store.history("s", user_id="alice")
        history.add_messages([HumanMessage("sync write")])
        await history.aadd_messages([AIMessage("async write")])
        assert [m.content for m in await history.aget_messages()] == ["sync write", "async write"]
        assert [m.content for m in history.messages] == ["sync write", "async write"]
        # the same data is visible to a URL-built store on the same namespace
        by_url = SessionStore.from_url(redis_url, namespace=namespace, allow_anonymous=True)
        assert by_url.history("s", user_id="alice").count() == 2
        by_url.close()
        # closing the store leaves the caller's clients open
        store.close()
        await store.aclose()
        assert client.ping() is True
        assert await aclient.ping() is True
        assert 0 < client.pttl(store.engine.keys.session("alice", "s")[0]) <= 60_000
    finally:
        for key in client.scan_iter(match=f"{{{namespace}|*"):
            client.delete(key)
        client.close()
        await aclient.aclose()


@pytest.mark.redis
async def test_from_client_with_one_client_only(redis_url, namespace):
    import redis.asyncio

    aclient = redis.asyncio.Redis.from_url(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        async_only = SessionStore.from_client(
            aclient, namespace=namespace, allow_anonymous=True
        )  # taken as aclient
        await async_only.history("s").aadd_messages([HumanMessage("x")])
        assert await async_only.history("s").acount() == 1
        with pytest.raises(ConfigurationError, match="aclient="):
            async_only.history("s").messages  # noqa: B018

        sync_only = SessionStore.from_client(client, namespace=namespace, allow_anonymous=True)
        assert sync_only.history("s").count() == 1
        with pytest.raises(ConfigurationError, match="aclient="):
            await sync_only.history("s").aget_messages()
        with pytest.raises(ConfigurationError, match="redis-py client"):
            SessionStore.from_client(None, allow_anonymous=True)
        with pytest.raises(ConfigurationError, match="namespace"):
            SessionStore.from_client(client, namespace="bad name", allow_anonymous=True)
    finally:
        for key in client.scan_iter(match=f"{{{namespace}|*"):
            client.delete(key)
        client.close()
        await aclient.aclose()


@pytest.mark.cluster
def test_from_client_with_a_cluster_client(redis_cluster_url):
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(redis_cluster_url)
    try:
        store = SessionStore.from_client(
            client, namespace="c" + uuid.uuid4().hex[:8], allow_anonymous=True
        )
        for user in ("alice", "bob", None):
            store.history("s", user_id=user).add_messages([HumanMessage(str(user))])
        assert [m.content for m in store.history("s", user_id="bob").messages] == ["bob"]
        assert store.delete_user("alice") == 1
        assert store.history("s").count() == 1
    finally:
        client.close()


def test_many_loops_one_store(make_store):
    """A store used from several event loops in turn (e.g. asyncio.run per request) keeps working."""
    store = make_store()

    async def write(i: int):
        await store.history("s").aadd_messages([HumanMessage(f"loop {i}")])
        return await store.history("s").acount()

    assert [asyncio.run(write(i)) for i in range(3)] == [1, 2, 3]
    assert [m.content for m in store.history("s").messages] == ["loop 0", "loop 1", "loop 2"]


def test_a_burst_beyond_the_pool_waits_for_connections(make_store):
    """344 concurrent calls on one loop (redis-py's pools hold 100): none fails, all are stored."""
    store = make_store()

    async def burst() -> list[int]:
        async def one(i: int) -> int:
            history = store.history(f"s{i % 7}")
            await history.aadd_messages([HumanMessage(f"m{i}")])
            return len(await history.atail(3))

        return await asyncio.gather(*(one(i) for i in range(344)))

    assert all(n >= 1 for n in asyncio.run(burst()))
    assert sum(store.history(f"s{i}").count() for i in range(7)) == 344


# -- pop, pages, clock (CONTRACTS §7, §8) ------------------------------------------------------
def _messages(n: int, prefix: str = "m") -> list:
    from langchain_sessionmem.records import EncodedMessage

    return [EncodedMessage(f"{prefix}{i}", f"{prefix}{i}".encode()) for i in range(1, n + 1)]


def test_pop_removes_the_last_messages_and_forgets_their_ids(make_store):
    store = make_store()
    engine, key = store.engine, SessionKey("s-pop", "alice")
    assert engine.append(key, _messages(5)) == 5
    assert engine.pop(key, 0) == []  # the server has the script now
    with CommandCounter() as counter:
        assert engine.pop(key, 2) == [(4, b"m4"), (5, b"m5")]
        assert counter.take() == ["EVALSHA"]  # one script: LRANGE + LTRIM + HDEL of the ids
    assert engine.count(key) == 3
    assert engine.append(key, _messages(5)) == 2  # m4, m5 are new again; m1..m3 still known
    assert [seq for seq, _ in engine.tail(key, None)] == [1, 2, 3, 4, 5]
    assert engine.pop(key, 0) == [] and engine.count(key) == 5
    assert [seq for seq, _ in engine.pop(key, 99)] == [1, 2, 3, 4, 5]
    assert engine.count(key) == 0 and engine.append(key, _messages(1)) == 1
    missing = SessionKey("never-written", "alice")
    assert engine.pop(missing, 3) == []
    assert not any("never-written" in k for k in namespace_keys(store))


def test_a_bulk_append_frees_its_arguments_on_the_server():
    """A batch of thousands of messages leaves no megabytes of Lua garbage for the next scripts
    of every client to collect in steps; ids, seqs and dedup are as for any batch."""
    with services.throwaway_redis() as (url, _proc):
        store = SessionStore.from_url(url, namespace="bulk", allow_anonymous=True)
        try:
            engine, key = store.engine, SessionKey("s-bulk", "alice")
            # distinct bytes (Lua interns equal strings), and one id repeated inside the batch
            batch = [EncodedMessage(f"m{i}", b"%05d" % i + b"x" * 2_000) for i in range(3_000)]
            batch.insert(1_500, EncodedMessage("m7", b"repeated"))
            assert engine.append(key, batch) == 3_000
            assert engine.client.info("memory")["used_memory_lua"] < 2_000_000
            assert engine.append(key, _messages(2, prefix="m") + _messages(1, "n")) == 1
            assert engine.count(key) == 3_001
            assert engine.tail(key, 2) == [(3_000, b"02999" + b"x" * 2_000), (3_001, b"n1")]
            assert [seq for seq, _ in engine.pop(key, 2)] == [3_000, 3_001]
            assert engine.append(key, [EncodedMessage("m2999", b"again")]) == 1
        finally:
            store.close()


def test_pop_forgets_ids_written_before_back_references(make_store):
    """Sessions written by earlier versions have no seq -> id fields: pop still forgets ids."""
    store = make_store()
    engine, key = store.engine, SessionKey("s-old", "bob")
    engine.append(key, _messages(4))
    ids = engine.keys.session("bob", "s-old")[1]
    client = engine.client
    client.hdel(ids, *[f for f in client.hkeys(ids) if f.startswith(b"\0")])
    assert [data for _, data in engine.pop(key, 2)] == [b"m3", b"m4"]
    assert sorted(client.hkeys(ids)) == [b"m1", b"m2"]
    assert engine.append(key, _messages(4)) == 2


async def test_async_pop(make_store):
    store = make_store()
    try:
        engine, key = store.engine, SessionKey("s-apop", "carol")
        await engine.aappend(key, _messages(3))
        assert await engine.apop(key, 1) == [(3, b"m3")]
        assert await engine.acount(key) == 2
    finally:
        await store.aclose()


class Clock:
    """A clock tests move by hand (epoch seconds)."""

    def __init__(self, at: float = 1_700_000_000.0):
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_list_sessions_pages_with_a_cursor(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    engine = store.engine
    for i in range(9):
        if i % 3 == 0:
            clock.at += 1  # three sessions per millisecond: ties ordered by id
        store.history(f"s{i}", user_id="dave").add_messages([HumanMessage(f"m{i}")])
    everything = engine.list_sessions("dave")
    assert len(everything) == 9 and engine.list_sessions("dave", limit=None) == everything
    for size in (1, 2, 3, 4, 9, 10):
        pages, after = [], None
        while page := engine.list_sessions("dave", limit=size, after=after):
            assert len(page) <= size
            pages += page
            after = engine.cursor(page[-1])
        assert [s.session_id for s in pages] == [s.session_id for s in everything], size
    assert engine.list_sessions("dave", limit=0) == []
    rest = engine.list_sessions("dave", after=engine.cursor(everything[3]))
    assert rest == everything[4:]
    # an entry whose session is gone does not end a page early
    engine.client.delete(*engine.keys.session("dave", everything[1].session_id))
    page = engine.list_sessions("dave", limit=3)
    assert [s.session_id for s in page] == [everything[i].session_id for i in (0, 2, 3)]


async def test_async_pages_and_bad_page_arguments(make_store):
    store = make_store()
    try:
        engine = store.engine
        for i in range(3):
            await store.history(f"p{i}", user_id="erin").aadd_messages([HumanMessage("x")])
        first = await engine.alist_sessions("erin", limit=2)
        rest = await engine.alist_sessions("erin", limit=2, after=engine.cursor(first[-1]))
        assert len(first) == 2 and len(rest) == 1
        assert {s.session_id for s in first + rest} == {"p0", "p1", "p2"}
        for bad in ("nonsense", "12", 5, ":x"):
            with pytest.raises(InvalidArgumentError, match="cursor"):
                await engine.alist_sessions("erin", after=bad)
        for limit in (-1, "2", 1.5):
            with pytest.raises(InvalidArgumentError, match="limit"):
                await engine.alist_sessions("erin", limit=limit)
        with pytest.raises(ConfigurationError, match="order"):
            await engine.alist_sessions("erin", order="created_asc")
    finally:
        await store.aclose()


def test_timestamps_come_from_the_injected_clock(make_store):
    clock = Clock(1_800_000_000.25)
    store = make_store(clock=clock, ttl=timedelta(hours=1))
    history = store.history("s-clock", user_id="frank")
    history.add_messages([HumanMessage("first")])
    clock.at += 60
    history.add_messages([HumanMessage("a minute later")])
    (info,) = store.list_sessions("frank")
    assert info.created_at.timestamp() == pytest.approx(1_800_000_000.25)
    assert info.updated_at.timestamp() == pytest.approx(1_800_000_060.25)
    assert info.expires_at.timestamp() == pytest.approx(1_800_003_660.25)


# -- URLs ----------------------------------------------------------------------------------------
@pytest.mark.redis
def test_a_wrong_database_in_the_url_says_the_fix(redis_url):
    base = redis_url.rsplit("/", 1)[0]
    with pytest.raises(ConfigurationError, match="not a number"):
        SessionStore.from_url(f"{base}/x", allow_anonymous=True)
    with pytest.raises(ConfigurationError, match="not a number"):
        SessionStore.from_url(f"{base}/0?db=one", allow_anonymous=True)
    with pytest.raises(ConfigurationError, match="only database 0"):
        SessionStore.from_url(base.replace("redis://", "redis+cluster://") + "/3")
    with pytest.raises(ConfigurationError, match="port"):
        SessionStore.from_url("redis://127.0.0.1:sixthousand/0", allow_anonymous=True)
    store = SessionStore.from_url(f"{base}/99", allow_anonymous=True)
    try:
        with pytest.raises(ConfigurationError, match="no such database.*redis://host:6379/0"):
            store.list_sessions()
        with pytest.raises(ConfigurationError, match="no such database"):
            store.checkpointer().get_tuple({"configurable": {"thread_id": "t"}})
    finally:
        store.close()


@pytest.mark.redis
async def test_a_wrong_database_async(redis_url):
    store = SessionStore.from_url(redis_url.rsplit("/", 1)[0] + "/99", allow_anonymous=True)
    try:
        with pytest.raises(ConfigurationError, match="no such database"):
            await store.history("s").aget_messages()
    finally:
        await store.aclose()
