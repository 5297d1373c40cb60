"""SQLite-only properties: indexed bounded reads, WAL, processes on one file, a free event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
import time
from collections import defaultdict

import pytest
import sqlite_worker
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import ConfigurationError, EngineUnavailableError


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path, namespace):
    url = f"sqlite:///{tmp_path}/s.db" if request.param == "file" else "sqlite://"
    with SessionStore.from_url(url, namespace=namespace, allow_anonymous=True) as store:
        yield store


@pytest.fixture
def file_store(tmp_path, namespace):
    with SessionStore.from_url(
        f"sqlite:///{tmp_path}/s.db", namespace=namespace, allow_anonymous=True
    ) as store:
        yield store


def _plan(store: SessionStore, sql: str, **params) -> list[str]:
    with store.engine.connections.connection() as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def test_bounded_reads_use_indexes_not_scans(store):
    sql = store.engine.sql
    key = {"user": "alice", "sid": "s", "now": time.time()}
    plans = {
        "tail": _plan(store, sql.tail, k=20, **key),
        "range": _plan(store, sql.range, start=5, end=25, **key),
        "count": _plan(store, sql.count, **key),
        "get_state": _plan(store, sql.get_state, **key),
        "list_sessions": _plan(store, sql.list_sessions, user="alice", now=time.time(), limit=-1),
    }
    for name, plan in plans.items():
        assert plan, name
        assert not any(step.startswith("SCAN") for step in plan), (name, plan)
    for name in ("tail", "range"):
        assert any("_messages USING PRIMARY KEY (session_pk=?" in step for step in plans[name]), (
            plans[name]
        )
        assert not any("TEMP B-TREE" in step for step in plans[name]), plans[
            name
        ]  # no sort of the history
        assert any("(user_id=? AND session_id=?)" in step for step in plans[name]), plans[name]


def _vm_steps(store: SessionStore, call) -> int:
    """How many SQLite virtual-machine instructions ``call`` costs on the engine's connection."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with store.engine.connections.connection() as conn:
        conn.set_progress_handler(count, 1)
        try:
            call()
        finally:
            conn.set_progress_handler(None, 1)
    return steps


def test_tail_work_does_not_grow_with_the_history(store):
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(20)])
    short = _vm_steps(store, lambda: history.tail(10))
    history.add_messages([HumanMessage(f"m{i}") for i in range(20, 5_000)])
    long = _vm_steps(store, lambda: history.tail(10))
    assert short > 0
    assert long <= short * 1.5, (short, long)  # a scan would be ~250x more
    whole = _vm_steps(store, lambda: history.messages)
    assert whole > long * 20  # the counter does see the size of the work
    # and one statement per tail
    statements: list[str] = []
    with store.engine.connections.connection() as conn:
        conn.set_trace_callback(statements.append)
        try:
            assert len(history.tail(10)) == 10
        finally:
            conn.set_trace_callback(None)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT"), statements


def test_append_is_one_transaction(store):
    history = store.history("s")
    history.add_messages([HumanMessage("warm up")])
    statements: list[str] = []
    with store.engine.connections.connection() as conn:
        conn.set_trace_callback(statements.append)
        try:
            history.add_messages([HumanMessage("q"), AIMessage("a")])
        finally:
            conn.set_trace_callback(None)
    verbs = [s.split()[0].upper() for s in statements]
    assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT", verbs
    assert verbs.count("BEGIN") == 1 and verbs.count("COMMIT") == 1


def test_file_uses_wal(file_store, tmp_path):
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_two_processes_append_to_one_file(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    SessionStore.from_url(url, allow_anonymous=True).close()  # create the schema once
    processes, turns = 2, 40
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    workers = [
        ctx.Process(target=sqlite_worker.append_turns, args=(url, w, turns, start))
        for w in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        with SessionStore.from_url(
            url, allow_anonymous=True
        ) as store:  # this process writes at the same time
            history = store.history("shared", user_id="alice")
            start.wait(60)
            for i in range(turns):
                history.add_messages([HumanMessage(f"p9 {i}"), AIMessage(f"re: p9 {i}")])
    finally:
        for worker in workers:
            worker.join(120)
    assert [w.exitcode for w in workers] == [0] * processes
    with SessionStore.from_url(url, allow_anonymous=True) as store:
        history = store.history("shared", user_id="alice")
        writers = processes + 1
        assert history.count() == 2 * writers * turns
        texts = [m.content for m in history.messages]
        assert len(texts) == 2 * writers * turns
        order = defaultdict(list)
        for i in range(0, len(texts), 2):
            assert texts[i + 1] == f"re: {texts[i]}"
            writer, n = texts[i][1:].split()
            order[writer].append(int(n))
        assert order == {w: list(range(turns)) for w in ("0", "1", "9")}
        assert [e.seq for e in history.range_entries(1)] == list(range(1, len(texts) + 1))


async def test_async_calls_do_not_block_the_event_loop(file_store, tmp_path):
    """While another connection holds the write lock, an async append waits off the loop."""
    history = file_store.history("s")
    await history.aadd_messages([HumanMessage("first")])
    locked, release = threading.Event(), threading.Event()

    def hold_write_lock():
        conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(5)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    locked.wait(5)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    append = asyncio.create_task(history.aadd_messages([HumanMessage("second")]))
    await asyncio.sleep(0.3)
    assert not append.done()  # it is waiting for the lock ...
    assert ticks >= 10  # ... and the loop kept running meanwhile
    release.set()
    await asyncio.wait_for(append, 5)
    ticking.cancel()
    holder.join()
    assert [m.content for m in await history.aget_messages()] == ["first", "second"]


def test_unopenable_database_is_engine_unavailable(tmp_path):
    missing_dir = tmp_path / "no" / "such" / "dir" / "s.db"
    with pytest.raises(EngineUnavailableError, match="cannot open SQLite database") as info:
        SessionStore.from_url(f"sqlite:///{missing_dir}", allow_anonymous=True)
    assert str(missing_dir) in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:relative.db",
        "mysql://localhost/db",
        "redis",
        "",
        "file:///tmp/x.db",
        "postgresql+unknown://x",
    ],
)
def test_bad_urls_are_configuration_errors(url):
    with pytest.raises(ConfigurationError, match="URL"):
        SessionStore.from_url(url, allow_anonymous=True)


def test_closed_store_refuses_work(file_store):
    file_store.history("s").add_messages([HumanMessage("x")])
    file_store.close()
    with pytest.raises(ConfigurationError, match="closed"):
        file_store.history("s").count()


def test_namespaces_share_one_file(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    with (
        SessionStore.from_url(url, namespace="app_one", allow_anonymous=True) as one,
        SessionStore.from_url(url, namespace="app-two", allow_anonymous=True) as two,
    ):
        one.history("s", user_id="alice").add_messages([HumanMessage("one")])
        two.history("s", user_id="alice").add_messages([HumanMessage("two")])
        assert [m.content for m in one.history("s", user_id="alice").messages] == ["one"]
        assert [m.content for m in two.history("s", user_id="alice").messages] == ["two"]
        assert one.delete_user("alice") == 1
        assert two.history("s", user_id="alice").count() == 1


def test_short_lived_threads_reuse_pooled_connections(tmp_path):
    """Each run of a LangGraph graph uses fresh worker threads: connections must be reused, not leaked."""
    import threading

    with SessionStore.from_url(f"sqlite:///{tmp_path / 'pool.db'}", allow_anonymous=True) as store:

        def turn(i: int) -> None:
            store.history(f"s{i}", user_id="alice").add_messages([HumanMessage(f"m{i}")])

        for i in range(200):  # 200 threads, one after another, each gone after its write
            worker = threading.Thread(target=turn, args=(i,))
            worker.start()
            worker.join()
        assert len(store.list_sessions("alice")) == 200
        assert len(store.engine.connections._all) <= 2


def test_writes_stay_in_order_when_another_engine_changed_the_session(tmp_path):
    """An engine remembers where its sessions end; every other change (another store's appends,
    a pop, a delete and a new session under the same key, an expiry) must still be seen."""
    url = f"sqlite:///{tmp_path}/two.db"
    now = [1_700_000_000.0]
    with (
        SessionStore.from_url(url, ttl=60, clock=lambda: now[0]) as one,
        SessionStore.from_url(url, ttl=60, clock=lambda: now[0]) as two,
    ):
        a, b = one.history("s", user_id="alice"), two.history("s", user_id="alice")

        def texts() -> list[tuple[int, str]]:
            return [(e.seq, e.message.content) for e in a.range_entries(1)]

        a.add_messages([HumanMessage("a1"), AIMessage("a2")])
        b.add_messages([HumanMessage("b3")])
        a.add_messages([HumanMessage("a4")])
        assert texts() == [(1, "a1"), (2, "a2"), (3, "b3"), (4, "a4")]
        b.pop(2)
        a.add_messages([HumanMessage("a3")])
        assert texts() == [(1, "a1"), (2, "a2"), (3, "a3")]
        b.clear()  # the next session under this key may get the same row id
        b.add_messages([HumanMessage("new1"), AIMessage("new2"), HumanMessage("new3")])
        a.add_messages([HumanMessage("a4")])
        assert texts() == [(1, "new1"), (2, "new2"), (3, "new3"), (4, "a4")]
        now[0] += 61  # expired: the next write starts the session afresh
        a.add_messages([HumanMessage("fresh")])
        assert texts() == [(1, "fresh")]
        b.add_messages([HumanMessage("b2")])
        a.add_messages([HumanMessage("a3")])
        assert texts() == [(1, "fresh"), (2, "b2"), (3, "a3")]


def test_a_read_right_after_a_slide_writes_nothing(tmp_path):
    """refresh_on_read: a read within 0.1 % of the TTL of the last slide leaves the row alone (no
    write, no commit); a later read slides the expiry to read time + TTL."""
    now = [1_700_000_000.0]
    with SessionStore.from_url(
        f"sqlite:///{tmp_path}/slide.db", ttl=100, refresh_on_read=True, clock=lambda: now[0]
    ) as store:
        history = store.history("s", user_id="alice")
        history.add_messages([HumanMessage("hi")])
        engine = store.engine

        def expires() -> float:
            return store.list_sessions(user_id="alice")[0].expires_at.timestamp()

        with engine.connections.connection() as conn:
            before = conn.total_changes
            now[0] += 0.05  # under the 0.1 s slack of a 100 s TTL
            assert [m.content for m in history.tail(5)] == ["hi"]
            assert conn.total_changes == before
            assert expires() == pytest.approx(1_700_000_100.0)
            now[0] += 50
            assert history.count() == 1
            assert conn.total_changes == before + 1
            assert expires() == pytest.approx(now[0] + 100)
        now[0] += 99
        assert history.count() == 1  # kept alive by the read 50 s in
        now[0] += 101
        assert history.count() == 0
