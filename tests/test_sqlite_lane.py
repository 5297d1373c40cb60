"""The SQLite lane: async calls on one thread per database, appends queued together committed
together (each still atomic), nested transactions as savepoints, a lane that retires and returns."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.backends.sqlite import lane as lane_module
from langchain_sessionmem.backends.sqlite.connections import SqliteConnections


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[SessionStore]:
    url = f"sqlite:///{tmp_path}/lane.db" if request.param == "file" else "sqlite://"
    with SessionStore.from_url(url, namespace=namespace) as store:
        yield store


def _statements(store: SessionStore) -> list[str]:
    """Statements every connection of the store runs from now on (new ones are traced too)."""
    seen: list[str] = []
    connections = store.engine.connections
    with connections.connection():  # at least one pooled connection exists, traced below
        pass
    for conn in connections._all:
        conn.set_trace_callback(seen.append)
    return seen


async def _hold(store: SessionStore) -> tuple[asyncio.Future, threading.Event]:
    """Keep the lane's thread busy until the event is set: what is queued meanwhile waits."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    held = store.engine.connections.lane().run(hold)
    while not started.is_set():
        await asyncio.sleep(0.001)
    return held, release


async def _queued_behind(store: SessionStore, calls: list) -> list:
    """Run ``calls`` (coroutines) while the lane is held, so they all wait in its queue."""
    held, release = await _hold(store)
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0.05)  # every task has queued its job behind the held one
    release.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_queued_appends_share_one_commit(store: SessionStore) -> None:
    histories = [store.history(f"s{i}", user_id="alice") for i in range(20)]
    for h in histories:
        await h.aadd_messages([HumanMessage("first")])
    statements = _statements(store)
    calls = [
        h.aadd_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}")])
        for i, h in enumerate(histories)
    ]
    assert await _queued_behind(store, calls) == [None] * 20
    verbs = [s.split()[0].upper() for s in statements]
    assert verbs.count("BEGIN") == 1 and verbs.count("COMMIT") == 1, verbs
    assert verbs.count("SAVEPOINT") == 20 and verbs.count("RELEASE") == 20
    for i, h in enumerate(histories):
        entries = await h.atail_entries(10)
        assert [(e.seq, e.message.content) for e in entries] == [
            (1, "first"),
            (2, f"q{i}"),
            (3, f"a{i}"),
        ]


async def test_an_append_that_fails_in_a_group_is_rolled_back_alone(store: SessionStore) -> None:
    """A trigger aborts one append after its session row was touched: that append leaves no
    trace (not even the reserved positions) and the others of its transaction are stored."""
    sql = store.engine.sql
    messages = sql.insert_message.split('"')[1]
    with store.engine.connections.connection() as conn:
        conn.execute(
            f'CREATE TRIGGER "boom" BEFORE INSERT ON "{messages}" '
            "WHEN instr(NEW.data, 'boom') > 0 BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        )
    histories = [store.history(f"s{i}", user_id="alice") for i in range(6)]
    for h in histories:
        await h.aadd_messages([HumanMessage("first")])
    calls = [
        h.aadd_messages([HumanMessage("boom" if i == 2 else f"q{i}"), AIMessage(f"a{i}")])
        for i, h in enumerate(histories)
    ]
    results = await _queued_behind(store, calls)
    assert isinstance(results[2], sqlite3.IntegrityError) and "boom refused" in str(results[2])
    assert [r for i, r in enumerate(results) if i != 2] == [None] * 5
    for i, h in enumerate(histories):
        texts = [m.content for m in await h.atail(10)]
        assert texts == (["first"] if i == 2 else ["first", f"q{i}", f"a{i}"])
    await histories[2].aadd_messages([HumanMessage("again")])
    assert [e.seq for e in await histories[2].atail_entries(10)] == [1, 2]  # no gap


async def test_a_group_keeps_dedup_within_and_across_appends(store: SessionStore) -> None:
    history = store.history("s", user_id="alice")
    same = [HumanMessage("hi", id="m-1"), AIMessage("hello", id="m-2")]
    calls = [history.aadd_messages(same) for _ in range(5)]
    assert await _queued_behind(store, calls) == [None] * 5
    assert [(e.seq, e.message.id) for e in await history.atail_entries(10)] == [
        (1, "m-1"),
        (2, "m-2"),
    ]


async def test_reads_and_other_calls_run_on_the_lane(store: SessionStore) -> None:
    history = store.history("s", user_id="alice")
    seen: set[str] = set()
    engine = store.engine
    original = engine.tail

    def tail(*args: object) -> object:
        seen.add(threading.current_thread().name)
        return original(*args)

    engine.tail = tail  # type: ignore[method-assign]
    try:
        await history.aadd_messages([HumanMessage("x")])
        assert [m.content for m in await history.atail(5)] == ["x"]
    finally:
        del engine.tail
    assert seen == {engine.connections.lane().name}
    assert await history.acount() == 1 and (await history.aget_state()).version == 0


async def test_a_cancelled_call_does_not_stop_the_lane(store: SessionStore) -> None:
    history = store.history("s", user_id="alice")
    held, release = await _hold(store)
    append = asyncio.ensure_future(history.aadd_messages([HumanMessage("late")]))
    await asyncio.sleep(0.01)
    append.cancel()
    release.set()
    await held
    with pytest.raises(asyncio.CancelledError):
        await append
    await history.aadd_messages([HumanMessage("next")])
    assert [m.content for m in await history.atail(5)] == ["late", "next"]  # it still ran


async def test_the_lane_retires_when_idle_and_comes_back(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lane_module, "IDLE_SECONDS", 0.05)
    lane = store.engine.connections.lane()
    await lane.run(lambda: None)  # a thread that already waits with the short timeout
    history = store.history("s", user_id="alice")
    await history.aadd_messages([HumanMessage("one")])
    for _ in range(100):
        if not any(t.name == lane.name for t in threading.enumerate()):
            break
        await asyncio.sleep(0.02)
    assert not any(t.name == lane.name for t in threading.enumerate())
    await history.aadd_messages([HumanMessage("two")])
    assert [m.content for m in await history.atail(5)] == ["one", "two"]


async def test_errors_reach_the_caller(store: SessionStore) -> None:
    def fail() -> None:
        raise ValueError("from the lane")

    with pytest.raises(ValueError, match="from the lane"):
        await store.engine.connections.lane().run(fail)
    assert await store.engine.connections.lane().run(lambda a, b=0: a + b, (1,), {"b": 2}) == 3


def test_a_transaction_inside_another_is_a_savepoint(tmp_path: Path) -> None:
    connections = SqliteConnections(str(tmp_path / "nest.db"))
    try:
        with connections.transaction() as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
        with connections.transaction() as outer:
            outer.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(RuntimeError), connections.transaction() as inner:
                assert inner is outer
                inner.execute("INSERT INTO t VALUES (2)")
                raise RuntimeError("undo the inner block only")
            with connections.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (3)")
            assert outer.in_transaction
        with connections.connection() as conn:
            assert [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
            assert not conn.in_transaction
        with pytest.raises(RuntimeError), connections.transaction() as outer:
            outer.execute("INSERT INTO t VALUES (4)")
            raise RuntimeError("undo everything")
        with connections.connection() as conn:
            assert [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
    finally:
        connections.close()


async def test_a_closed_store_refuses_async_work(tmp_path: Path, namespace: str) -> None:
    from langchain_sessionmem.errors import ConfigurationError

    store = SessionStore.from_url(f"sqlite:///{tmp_path}/closed.db", namespace=namespace)
    history = store.history("s", user_id="alice")
    await history.aadd_messages([HumanMessage("x")])
    store.close()
    with pytest.raises(ConfigurationError, match="closed"):
        await history.aadd_messages([HumanMessage("y")])
    with pytest.raises(ConfigurationError, match="closed"):
        await history.atail(5)


async def test_a_group_rolled_back_by_sqlite_fails_the_appends_it_held(store: SessionStore) -> None:
    """When SQLite itself ends the group's transaction (as on a full disk), the appends before
    that point are lost and say so; the ones after it run in transactions of their own."""
    connections = store.engine.connections

    def crash() -> None:
        with connections.connection() as conn:
            conn.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL / SQLITE_IOERR
        raise sqlite3.OperationalError("database or disk is full")

    histories = [store.history(f"s{i}", user_id="alice") for i in range(4)]
    lane = connections.lane()
    held, release = await _hold(store)
    before = [asyncio.ensure_future(h.aadd_messages([HumanMessage("x")])) for h in histories[:2]]
    await asyncio.sleep(0.02)
    crashed = lane.run(crash, grouped=True)
    await asyncio.sleep(0.02)
    after = [asyncio.ensure_future(h.aadd_messages([HumanMessage("y")])) for h in histories[2:]]
    await asyncio.sleep(0.05)
    release.set()
    await held
    for task in before:
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            await task
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        await crashed
    assert await asyncio.gather(*after) == [None, None]
    assert [await h.acount() for h in histories] == [0, 0, 1, 1]


def test_writers_of_one_process_take_turns_and_a_failed_one_lets_go(tmp_path: Path) -> None:
    """A second writer waits for the first and runs as soon as the first one ends, raised or
    not (it queues in the process; SQLite's busy handler would poll in millisecond sleeps)."""
    connections = SqliteConnections(str(tmp_path / "turns.db"), busy_timeout=10.0)
    try:
        with connections.transaction() as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
        inside, leave, order = threading.Event(), threading.Event(), []

        def first() -> None:
            with pytest.raises(RuntimeError), connections.transaction() as conn:
                conn.execute("INSERT INTO t VALUES (1)")
                inside.set()
                leave.wait(5)
                order.append("first ends")
                raise RuntimeError("rolled back")

        def second() -> None:
            with connections.transaction() as conn:
                order.append("second begins")
                conn.execute("INSERT INTO t VALUES (2)")

        one = threading.Thread(target=first)
        one.start()
        inside.wait(5)
        two = threading.Thread(target=second)
        two.start()
        two.join(0.2)
        assert two.is_alive() and order == []  # waiting for the first writer
        leave.set()
        one.join(5)
        two.join(5)
        assert order == ["first ends", "second begins"]
        with connections.connection() as conn:
            assert [r[0] for r in conn.execute("SELECT x FROM t")] == [2]
    finally:
        connections.close()


async def test_reads_queued_between_appends_do_not_split_the_group(store: SessionStore) -> None:
    histories = [store.history(f"s{i}", user_id="alice") for i in range(8)]
    for h in histories:
        await h.aadd_messages([HumanMessage("first")])
    statements = _statements(store)
    calls: list = []
    for i, h in enumerate(histories):
        calls += [h.atail(5), h.aadd_messages([AIMessage(f"a{i}")])]
    results = await _queued_behind(store, calls)
    verbs = [s.split()[0].upper() for s in statements]
    assert verbs.count("BEGIN") == 1 and verbs.count("COMMIT") == 1, verbs
    assert [[m.content for m in r] for r in results[0::2]] == [["first"]] * 8  # concurrent reads
    assert [[m.content for m in await h.atail(5)] for h in histories] == [
        ["first", f"a{i}"] for i in range(8)
    ]
