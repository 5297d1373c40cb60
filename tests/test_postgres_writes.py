"""PostgreSQL chat-history writes: every append shape in one statement, expiry and restarts,
reads that slide the TTL, messages that go with their session, schema migration, prepare=False."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from conftest import stores_on
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import SessionStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_store(postgres_dsn, namespace):
    with stores_on(postgres_dsn, namespace) as make:
        yield make


def test_every_append_shape_skips_known_ids_and_numbers_densely(make_store):
    """Rows and arrays, given and generated ids, sync and async: one statement each, and the
    positions stay 1..count with no gap however many ids were already stored."""
    from langchain_sessionmem.backends.postgres.appends import ROWS

    store = make_store()
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage(x, id=x) for x in "abc"])  # creates the session
    history.add_messages([HumanMessage(x, id=x) for x in "bdde"])  # b known, d repeated
    big = [HumanMessage(f"x{i}", id=f"x{i}") for i in range(ROWS + 4)]
    history.add_messages([HumanMessage("a", id="a"), *big, HumanMessage("c", id="c")])
    history.add_messages([AIMessage(f"g{i}") for i in range(ROWS + 1)])  # generated, arrays
    asyncio.run(history.aadd_messages([HumanMessage("e", id="e"), HumanMessage("f", id="f")]))
    asyncio.run(history.aadd_messages([AIMessage("h")]))
    entries = history.range_entries(1, None)
    contents = [e.message.content for e in entries]
    expected = [*"abcde", *(f"x{i}" for i in range(ROWS + 4))]
    expected += [f"g{i}" for i in range(ROWS + 1)] + ["f", "h"]
    assert contents == expected
    assert [e.seq for e in entries] == list(range(1, len(expected) + 1))
    assert history.count() == len(expected)
    assert len({e.message.id for e in entries}) == len(expected)


def test_an_expired_session_starts_afresh_and_appends_slide_the_ttl(make_store):
    now = [1_000_000.0]
    store = make_store(ttl=60, clock=lambda: now[0])
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("one", id="1"), HumanMessage("two", id="2")])
    now[0] += 50
    history.add_messages([HumanMessage("three")])  # a live session: updated, TTL slides
    now[0] += 50  # 100 s after the start, 50 s after the last append: still live
    assert [m.content for m in history.tail(5)] == ["one", "two", "three"]
    now[0] += 61
    assert history.tail(5) == []
    history.add_messages([HumanMessage("again", id="1")])  # the expired session's id is free
    entries = history.range_entries(1, None)
    assert [(e.seq, e.message.content) for e in entries] == [(1, "again")]
    now[0] += 61
    asyncio.run(history.aadd_messages([HumanMessage("async", id="1")]))
    assert [(e.seq, e.message.content) for e in history.range_entries(1, None)] == [(1, "async")]


def _orphans(store: SessionStore, namespace: str) -> int:
    with store.engine.connections.connection() as conn:
        return conn.execute(
            f'SELECT count(*) FROM "{namespace}_messages" m WHERE NOT EXISTS '
            f'(SELECT 1 FROM "{namespace}_sessions" s WHERE s.id = m.session_pk)'
        ).fetchone()[0]


def test_deleted_sessions_take_their_messages_even_racing_appends(make_store, namespace):
    """Messages follow their session out (a statement trigger since schema version 3): clear,
    delete_user, the TTL purge and an expired session's restart leave no row behind, and
    neither do appends racing a clear of the same session."""
    now = [1_000_000.0]
    store = make_store(ttl=60, clock=lambda: now[0])
    for user in ("alice", "bob"):
        for sid in ("a", "b"):
            store.history(sid, user_id=user).add_messages([HumanMessage(f"{user} {sid}")] * 3)
    store.history("a", user_id="alice").clear()
    store.engine.delete_user("bob")
    assert _orphans(store, namespace) == 0
    now[0] += 61
    store.history("b", user_id="alice").add_messages([HumanMessage("again")])  # restarts
    assert _orphans(store, namespace) == 0
    store.history("c", user_id="alice").add_messages([HumanMessage("soon gone")])
    now[0] += 61
    assert store.engine.purge_expired() == 2
    assert _orphans(store, namespace) == 0
    with store.engine.connections.connection() as conn:
        assert conn.execute(f'SELECT count(*) FROM "{namespace}_messages"').fetchone()[0] == 0

    stop = threading.Event()
    errors: list[BaseException] = []

    def append(w: int) -> None:
        history = store.history("race", user_id="alice")
        try:
            while not stop.is_set():
                history.add_messages([HumanMessage(f"w{w}"), AIMessage(f"w{w}")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for t in writers:
        t.start()
    try:
        for _ in range(40):
            store.history("race", user_id="alice").clear()
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert errors == []
    assert _orphans(store, namespace) == 0


def test_schema_version_2_migrates_to_the_delete_trigger(postgres_dsn, namespace, make_store):
    from langchain_sessionmem._steps import drive
    from langchain_sessionmem.backends.postgres.migrations import HISTORY, MigrationPlans

    with psycopg.connect(postgres_dsn, autocommit=True) as conn, conn.transaction():

        def send(query):  # the schema as released up to version 2: with the foreign key
            cur = conn.execute(query.sql, query.params)
            return cur.fetchall() if query.fetch == "all" else None

        drive(MigrationPlans(namespace, "history", HISTORY[:2]).plan(), send)
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            (f'"{namespace}_messages"',),
        ).fetchone() == (1,)
    store = make_store()
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("one"), HumanMessage("two")])
    with store.engine.connections.connection() as conn:
        keys = conn.execute(
            "SELECT contype FROM pg_constraint WHERE conrelid = %s::regclass",
            (f'"{namespace}_messages"',),
        ).fetchall()
        versions = conn.execute(f'SELECT version FROM "{namespace}_migrations"').fetchall()
    assert ("f",) not in keys and ("p",) in keys
    assert sorted(v for (v,) in versions) == [m.version for m in HISTORY]
    history.clear()
    assert _orphans(store, namespace) == 0 and history.count() == 0


def test_refresh_on_read_slides_the_ttl_with_every_read(make_store):
    now = [1_000_000.0]
    store = make_store(ttl=60, refresh_on_read=True, clock=lambda: now[0])
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("one"), HumanMessage("two")])
    history.update_state(lambda state: {"n": 1})
    reads = [
        lambda: [m.content for m in history.tail(1)] == ["two"],
        lambda: [e.seq for e in history.range_entries(1, None)] == [1, 2],
        lambda: history.count() == 2,
        lambda: history.get_state().data == {"n": 1},
        lambda: asyncio.run(history.atail(5))[0].content == "one",
    ]
    for read in reads * 2:  # each read 50 s after the last keeps the session alive
        now[0] += 50
        assert read()
    now[0] += 61
    assert history.tail(5) == [] and history.count() == 0


def test_prepare_false_never_prepares_a_statement(make_store):
    """For poolers that cannot keep prepared statements (pgbouncer in transaction mode)."""
    for prepare, prepared in ((False, False), (True, True)):
        store = make_store(prepare=prepare, max_size=1)
        history = store.history(f"s-{prepare}", user_id="alice")
        for i in range(6):
            history.add_messages([HumanMessage(f"h{i}", id=f"h{i}"), AIMessage(f"a{i}")])
            assert len(history.tail(20)) == 2 * (i + 1)
        assert asyncio.run(history.atail(1))[0].content == "a5"
        with store.engine.connections.connection() as conn:
            count = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        assert (count > 0) is prepared
