"""PostgreSQL-only properties: indexed bounded reads, no idle-in-transaction connections, pools,
a clear error for an unreachable server, your own psycopg pools."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from datetime import datetime, timezone

import psycopg
import pytest
from conftest import drop_postgres_namespace, stores_on
from langchain_core.messages import AIMessage, HumanMessage
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from langchain_sessionmem import SessionStore
from langchain_sessionmem.backends.postgres.connections import describe
from langchain_sessionmem.errors import (
    ConfigurationError,
    EngineUnavailableError,
    InvalidArgumentError,
    InvalidIdError,
)

pytestmark = pytest.mark.postgres


def _url(dsn: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{dsn}{'&' if '?' in dsn else '?'}{query}" if query else dsn


@pytest.fixture
def make_store(postgres_dsn, namespace):
    # the namespace doubles as application_name, so pg_stat_activity shows only this test's backends
    with stores_on(_url(postgres_dsn, application_name=namespace), namespace) as make:
        yield make


def _backends(dsn: str, application_name: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()


# -- one indexed query per bounded read -------------------------------------------------------
def _plan(store: SessionStore, sql: str, **params) -> str:
    with store.engine.connections.connection() as conn:
        return "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params))


def test_bounded_reads_use_indexes_on_realistic_data(make_store, namespace):
    store = make_store()
    for s in range(
        250
    ):  # 5,000 messages across 250 sessions, so a scan would be the planner's loss
        store.history(f"s{s}", user_id=f"u{s % 10}").add_messages(
            [HumanMessage(f"message {i} of session {s} " + "x" * 200) for i in range(20)]
        )
    with store.engine.connections.connection() as conn:
        conn.execute(f'ANALYZE "{namespace}_sessions"')
        conn.execute(f'ANALYZE "{namespace}_messages"')
        assert conn.execute(f'SELECT count(*) FROM "{namespace}_messages"').fetchone()[0] == 5000
    sql = store.engine.sql
    key = {"user": "u7", "sid": "s17", "now": datetime.now(timezone.utc)}
    rows = {"i1": "a", "d1": b"x", "i2": "b", "d2": b"y", "expires": None}
    arrays = {"ids": ["a"] * 20, "datas": [b"x"] * 20, "expires": None}
    plans = {
        "tail": _plan(store, sql.tail, k=20, **key),
        "range": _plan(store, sql.range, start=5, end=15, **key),
        # an append of given ids probes the (session_pk, message_id) index, in rows or arrays
        "known ids, rows": _plan(store, sql.appends.sql(2, True, create=False), **rows, **key),
        "known ids, arrays": _plan(store, sql.appends.sql(20, True, create=True), **arrays, **key),
    }
    for name, plan in plans.items():
        assert (
            f'Seq Scan on "{namespace}_messages"' not in plan
            and f"Seq Scan on {namespace}_messages" not in plan
        ), (name, plan)
        assert "_messages" in plan and ("Index Scan" in plan or "Index Only Scan" in plan), (
            name,
            plan,
        )
    assert f"Index Scan Backward using {namespace}_messages_pkey" in plans["tail"], plans["tail"]
    assert "Sort" not in plans["tail"], plans[
        "tail"
    ]  # the index order is the answer: no sort of the history
    assert "Limit" in plans["tail"]
    history = store.history("s17", user_id="u7")
    assert [m.content.split(" ")[1] for m in history.tail(3)] == ["17", "18", "19"]


# -- connections ----------------------------------------------------------------------------
def test_no_connection_is_left_idle_in_transaction(make_store, postgres_dsn, namespace):
    store = make_store(refresh_on_read=True, ttl=60)
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("hi"), AIMessage("hello", id="ai-1")])
    history.add_messages([AIMessage("hello", id="ai-1")])  # the dedup lookup path
    history.tail(5), history.count(), history.get_state()
    assert history.cas_state(0, {"n": 1}) is True
    assert history.cas_state(0, {"n": 2}) is False  # a lost compare-and-set rolls back
    store.list_sessions("alice")
    # a failing statement gives its connection back clean
    with (
        pytest.raises(psycopg.errors.UndefinedTable),
        store.engine.connections.connection() as conn,
    ):
        conn.execute("SELECT * FROM no_such_table")

    async def async_calls() -> None:
        await history.aadd_messages([HumanMessage("async")])
        await history.atail(2)
        await history.acas_state(1, {"n": 3})
        await history.acas_state(1, {"n": 4})
        states = {state for _, state in _backends(postgres_dsn, namespace)}
        assert states == {"idle"}, states
        await store.aclose()

    asyncio.run(async_calls())
    deadline = time.monotonic() + 3  # the server notices closed connections a moment later
    while (backends := _backends(postgres_dsn, namespace)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends == [], backends  # closing the store closed its pools


def test_pool_reuses_connections(make_store, postgres_dsn, namespace):
    store = make_store()
    history = store.history("s")
    for i in range(30):
        history.add_messages([HumanMessage(f"m{i}")])
        history.tail(10)
    pids = set()
    for _ in range(10):
        with store.engine.connections.connection() as conn:
            pids.add(conn.info.backend_pid)
    # 70 sequential calls, one or two connections (the pool may grow by one while it opens)
    backends = {pid for pid, _ in _backends(postgres_dsn, namespace)}
    assert pids <= backends and 1 <= len(backends) <= 2, (pids, backends)

    def writer(w: int) -> None:
        for i in range(20):
            store.history("busy").add_messages([HumanMessage(f"w{w}-{i}")])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.history("busy").count() == 320
    assert 1 <= len(_backends(postgres_dsn, namespace)) <= 10  # bounded by the pool's max_size


def test_async_pool_per_event_loop(make_store):
    store = make_store()
    engine = store.engine

    async def calls() -> object:
        history = store.history("s")
        await asyncio.gather(*(history.aadd_messages([HumanMessage(f"m{i}")]) for i in range(20)))
        pool = await engine.connections.apool()
        assert pool is await engine.connections.apool()  # one pool for the loop, made once
        assert await history.acount() % 20 == 0
        return pool

    first = asyncio.run(calls())
    second = asyncio.run(calls())  # another loop: another pool
    assert first is not second
    assert store.history("s").count() == 40


def test_concurrent_appends_with_the_same_explicit_id_store_it_once(make_store):
    store = make_store()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def retry(w: int) -> None:
        history = store.history("s")
        barrier.wait()
        try:
            for i in range(10):
                history.add_messages(
                    [HumanMessage(f"turn {i}", id=f"h-{i}"), AIMessage(f"w{w}", id=f"a-{w}-{i}")]
                )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=retry, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    messages = store.history("s").messages
    assert sorted(m.id for m in messages if isinstance(m, HumanMessage)) == sorted(
        f"h-{i}" for i in range(10)
    )
    assert len(messages) == 10 + 80
    assert [e.seq for e in store.history("s").range_entries(1, None)] == list(range(1, 91))


def test_text_ids_of_any_shape(make_store):
    store = make_store()
    odd = ["not-a-uuid", "ticket/42:chat", "ünïcødé 会话", "x" * 200]
    for sid in odd:
        store.history(sid, user_id="alice@example.com").add_messages([HumanMessage(sid)])
    assert sorted(s.session_id for s in store.list_sessions("alice@example.com")) == sorted(odd)
    for sid in odd:
        assert store.history(sid, user_id="alice@example.com").messages[0].content == sid


# -- URLs, conninfo, pools of your own ---------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_names_the_url_without_its_password():
    url = f"postgresql://app:hunter2@127.0.0.1:{_closed_port()}/chat"
    store = SessionStore.from_url(url, allow_anonymous=True)  # lazy: nothing is connected yet
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError) as info:
        store.history("s").add_messages([HumanMessage("hi")])
    message = str(info.value)
    assert "hunter2" not in message and "postgresql://app:***@127.0.0.1" in message, message
    assert isinstance(info.value, ConnectionError)

    async def async_call() -> None:
        with pytest.raises(EngineUnavailableError, match=r"app:\*\*\*@") as ainfo:
            await store.history("s").aget_messages()
        assert "hunter2" not in str(ainfo.value)

    asyncio.run(async_call())
    assert time.monotonic() - started < 5
    store.close()


def test_describe_hides_passwords():
    assert describe("postgres://u:pw@h/db") == "postgres://u:***@h/db"
    described = describe("host=h dbname=db password=pw")
    assert "pw" not in described and "host=h" in described


def test_postgres_scheme_and_conninfo(postgres_dsn, namespace):
    with psycopg.connect(postgres_dsn) as conn:
        info = conn.info
        conninfo = f"host={info.host} port={info.port} dbname={info.dbname} user={info.user}"
    try:
        with SessionStore.from_url(
            postgres_dsn.replace("postgresql://", "postgres://"),
            namespace=namespace,
            allow_anonymous=True,
        ) as a:
            a.history("s").add_messages([HumanMessage("via postgres://")])
        with SessionStore.from_conninfo(
            conninfo, namespace=namespace, max_size=2, allow_anonymous=True
        ) as b:
            assert b.history("s").messages[0].content == "via postgres://"
            assert repr(b) == f"SessionStore(engine='postgres', namespace={namespace!r}, ttl=None)"
    finally:
        drop_postgres_namespace(postgres_dsn, namespace)


def test_long_namespace_is_a_configuration_error(postgres_dsn):
    with pytest.raises(ConfigurationError, match="too long for PostgreSQL"):
        SessionStore.from_url(postgres_dsn, namespace="n" * 48, allow_anonymous=True)


def test_from_pool_uses_your_pools_and_leaves_them_open(postgres_dsn, namespace):
    # a pool of non-autocommit connections: the engine switches them for its calls, then restores them
    pool = ConnectionPool(postgres_dsn, min_size=1, max_size=2, open=True)
    try:
        store = SessionStore.from_pool(pool, namespace=namespace, ttl=60, allow_anonymous=True)
        history = store.history("s", user_id="alice")
        history.add_messages([HumanMessage("one"), AIMessage("two")])
        assert [m.content for m in history.tail(1)] == ["two"]

        async def async_only() -> None:
            with pytest.raises(ConfigurationError, match="apool="):
                await history.aget_messages()
            store.close()
            with pool.connection() as conn:
                assert conn.autocommit is False
                assert (
                    conn.execute(f'SELECT count(*) FROM "{namespace}_messages"').fetchone()[0] == 2
                )
            apool = AsyncConnectionPool(
                postgres_dsn, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
            )
            await apool.open()
            astore = SessionStore.from_pool(apool, namespace=namespace, allow_anonymous=True)
            with pytest.raises(ConfigurationError, match="pool="):
                astore.history("s", user_id="alice").messages  # noqa: B018
            ahistory = astore.history("s", user_id="alice")
            await ahistory.aadd_messages([HumanMessage("three")])
            assert [m.content for m in await ahistory.aget_messages()] == ["one", "two", "three"]
            await astore.aclose()
            async with apool.connection() as conn:  # still open
                await conn.execute("SELECT 1")
            await apool.close()

        asyncio.run(async_only())
    finally:
        pool.close()
        drop_postgres_namespace(postgres_dsn, namespace)


def test_from_pool_needs_a_pool():
    with pytest.raises(ConfigurationError, match="psycopg_pool"):
        SessionStore.from_pool(allow_anonymous=True)


def test_concurrent_schema_creation(postgres_dsn, namespace):
    stores = [
        SessionStore.from_url(postgres_dsn, namespace=namespace, allow_anonymous=True)
        for _ in range(6)
    ]
    errors: list[BaseException] = []

    def first_write(store: SessionStore, i: int) -> None:
        try:
            store.history(f"s{i}").add_messages([HumanMessage(json.dumps(i))])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(s, i)) for i, s in enumerate(stores)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(stores[0].list_sessions()) == 6
    finally:
        for store in stores:
            store.close()
        drop_postgres_namespace(postgres_dsn, namespace)


# -- pop, pages, user keys, hostile input (CONTRACTS §3, §5, §7) ----------------------------
def test_pop_removes_the_last_messages_atomically(make_store):
    store = make_store()
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}", id=f"id-{i}") for i in range(5)])
    popped = history.pop(2)
    assert [m.content for m in popped] == ["m3", "m4"]
    assert history.count() == 3
    history.add_messages([HumanMessage("again", id="id-4")])  # the popped id is free again
    assert [e.seq for e in history.range_entries(1, None)] == [1, 2, 3, 4]
    assert [m.content for m in history.messages] == ["m0", "m1", "m2", "again"]
    assert history.pop(0) == [] and [m.content for m in history.pop(10)] == [
        "m0",
        "m1",
        "m2",
        "again",
    ]
    assert history.count() == 0

    async def async_pop() -> list[str]:
        await history.aadd_messages([HumanMessage("x"), AIMessage("y")])
        return [m.content for m in await history.apop(1)]

    assert asyncio.run(async_pop()) == ["y"]


def test_list_sessions_pages_with_a_cursor(make_store):
    store = make_store()
    for i in range(7):
        store.history(f"s{i}", user_id="pager").add_messages([HumanMessage(f"m{i}")])
    engine = store.engine
    everything = engine.list_sessions("pager")
    pages, after = [], None
    while True:
        page = engine.list_sessions("pager", limit=3, after=after)
        if not page:
            break
        pages.append([s.session_id for s in page])
        after = engine.cursor(page[-1])
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [sid for p in pages for sid in p] == [s.session_id for s in everything]
    assert [s.session_id for s in everything] == [f"s{i}" for i in reversed(range(7))]

    async def first_async_page() -> list[str]:
        return [s.session_id for s in await engine.alist_sessions("pager", limit=2)]

    assert asyncio.run(first_async_page()) == ["s6", "s5"]
    with pytest.raises(InvalidArgumentError):
        engine.list_sessions("pager", after="not a cursor")
    with pytest.raises(ConfigurationError):
        engine.list_sessions("pager", order="random")


def test_racing_creators_get_one_user_key(make_store):
    engine = make_store().engine
    barrier = threading.Barrier(8)
    got: list[bytes] = []

    def create(i: int) -> None:
        barrier.wait()
        got.append(engine.create_user_key("keyed", f"key-{i}".encode()))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and engine.get_user_key("keyed") == got[0]
    assert asyncio.run(engine.aget_user_key("nobody")) is None
    engine.delete_user("keyed")
    assert engine.get_user_key("keyed") is None


def test_hostile_values_get_typed_errors(make_store):
    from langchain_sessionmem.records import EncodedMessage, SessionKey

    store = make_store()
    engine, key = store.engine, SessionKey("s", "alice")
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("one"), HumanMessage("two")])
    assert len(engine.tail(key, 2**70)) == 2  # a huge k reads everything instead of failing
    assert [seq for seq, _ in engine.range(key, -(2**70), 2**70)] == [1, 2]
    assert engine.pop(key, 2**70) and engine.count(key) == 0
    with pytest.raises(InvalidIdError, match="control character"):
        engine.append(key, [EncodedMessage("bad\x00id", b"{}")])
    with pytest.raises(InvalidIdError):
        engine.append(key, [EncodedMessage("\ud800", b"{}")])
    with pytest.raises(InvalidIdError, match="surrogate"):
        engine.count(SessionKey("\udfff", "alice"))
    with pytest.raises(InvalidArgumentError):
        engine.tail(key, "5")  # type: ignore[arg-type]
