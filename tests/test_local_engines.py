"""The memory and SQLite engines and savers: injectable clock, pop, paged listing, saver setup."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import ConfigurationError, InvalidArgumentError
from langchain_sessionmem.records import EncodedMessage, SessionKey


class Clock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'e.db'}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, namespace: str, clock: Clock) -> Iterator[SessionStore]:
    with SessionStore.from_url(url, namespace=namespace, ttl=60, clock=clock) as store:
        yield store


def msgs(*ids: str) -> list[EncodedMessage]:
    return [EncodedMessage(i, i.encode()) for i in ids]


# -- the clock ------------------------------------------------------------------------------------
def test_sessions_expire_on_the_injected_clock(store: SessionStore, clock: Clock) -> None:
    engine, key = store.engine, SessionKey("s", "alice")
    engine.append(key, msgs("a", "b"))
    clock.advance(59)
    assert engine.count(key) == 2  # no read slides it (refresh_on_read is off)
    clock.advance(2)
    assert engine.count(key) == 0 and engine.tail(key, None) == []
    assert store.list_sessions(user_id="alice") == []
    engine.append(key, msgs("c"))  # an expired session starts afresh
    assert [seq for seq, _ in engine.tail(key, None)] == [1]
    info = store.list_sessions(user_id="alice")[0]
    assert info.expires_at.timestamp() == pytest.approx(clock.now + 60)
    clock.advance(61)
    assert engine.purge_expired() == 1 and engine.count(key) == 0


def test_refresh_on_read_slides_on_the_injected_clock(
    url: str, namespace: str, clock: Clock
) -> None:
    with SessionStore.from_url(
        url, namespace=namespace, ttl=60, refresh_on_read=True, clock=clock
    ) as store:
        engine, key = store.engine, SessionKey("s", "alice")
        engine.append(key, msgs("a"))
        for _ in range(4):  # reads 50 s apart keep it alive for 200 s
            clock.advance(50)
            assert engine.count(key) == 1
        clock.advance(61)
        assert engine.count(key) == 0


def test_store_savers_share_the_engines_clock(store: SessionStore, clock: Clock) -> None:
    saver = store.checkpointer(user_id="alice")
    assert saver.clock is clock
    chat_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
    assert saver.thread_info("t")["updated_at"] == clock.now
    clock.advance(61)
    assert saver.get_tuple(cfg("t")) is None


# -- pop ------------------------------------------------------------------------------------------
def test_pop_removes_the_last_messages_and_forgets_their_ids(store: SessionStore) -> None:
    engine, key = store.engine, SessionKey("s", "alice")
    engine.append(key, msgs("a", "b", "c", "d"))
    assert engine.pop(key, 2) == [(3, b"c"), (4, b"d")]
    assert engine.count(key) == 2 and [seq for seq, _ in engine.tail(key, None)] == [1, 2]
    assert engine.append(key, msgs("c", "b")) == 1  # c was forgotten, b is still there
    assert engine.tail(key, None)[-1] == (3, b"c")  # the next append continues at count + 1
    assert engine.pop(key, 0) == [] and engine.pop(SessionKey("none", "alice"), 3) == []
    assert [seq for seq, _ in engine.pop(key, 10)] == [1, 2, 3]
    assert engine.count(key) == 0 and engine.append(key, msgs("z")) == 1
    assert engine.tail(key, None) == [(1, b"z")]


def test_pop_through_the_history(store: SessionStore) -> None:
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage("q"), AIMessage("bad answer")])
    assert [m.content for m in history.pop(1)] == ["bad answer"]
    history.add_messages([AIMessage("better answer")])
    assert [m.content for m in history.messages] == ["q", "better answer"]


async def test_async_pop(store: SessionStore) -> None:
    engine, key = store.engine, SessionKey("s", "alice")
    await engine.aappend(key, msgs("a", "b"))
    assert await engine.apop(key, 1) == [(2, b"b")]
    assert await engine.acount(key) == 1


def test_concurrent_pops_take_each_message_once(store: SessionStore) -> None:
    import threading

    engine, key = store.engine, SessionKey("s", "alice")
    engine.append(key, msgs(*[f"m{i}" for i in range(200)]))
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            got = engine.pop(key, 1)
            with lock:
                taken.extend(seq for seq, _ in got)

    workers = [threading.Thread(target=worker) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(taken) == list(range(1, 201)) and engine.count(key) == 0


# -- paged listing --------------------------------------------------------------------------------
def test_list_sessions_pages_with_a_cursor(store: SessionStore, clock: Clock) -> None:
    engine = store.engine
    for i in range(7):
        engine.append(SessionKey(f"s{i}", "alice"), msgs("x"))
        if i != 3:  # s3 and s4 share one update time: the cursor breaks the tie by id
            clock.advance(1)
    engine.append(SessionKey("other", "bob"), msgs("x"))
    everything = engine.list_sessions("alice")
    assert [i.session_id for i in everything] == ["s6", "s5", "s4", "s3", "s2", "s1", "s0"]
    pages, after = [], None
    while True:
        page = engine.list_sessions("alice", limit=3, after=after)
        if not page:
            break
        pages.append([i.session_id for i in page])
        after = engine.cursor(page[-1])
    assert pages == [["s6", "s5", "s4"], ["s3", "s2", "s1"], ["s0"]]
    assert engine.list_sessions("alice", limit=0) == []
    for bad in ("nope", "12", 5, ":"):
        with pytest.raises(InvalidArgumentError, match="cursor"):
            engine.list_sessions("alice", after=bad)
    with pytest.raises(InvalidArgumentError):
        engine.list_sessions("alice", limit=-1)
    with pytest.raises(ConfigurationError):
        engine.list_sessions("alice", order="created_asc")


async def test_async_pages(store: SessionStore) -> None:
    engine = store.engine
    for i in range(3):
        await engine.aappend(SessionKey(f"s{i}", "alice"), msgs("x"))
        await asyncio.sleep(0)
    first = await engine.alist_sessions("alice", limit=2)
    rest = await engine.alist_sessions("alice", limit=2, after=engine.cursor(first[-1]))
    assert len(first) == 2 and len(rest) == 1
    assert {i.session_id for i in first + rest} == {"s0", "s1", "s2"}


# -- saver classmethods ---------------------------------------------------------------------------
def test_sqlite_saver_from_conn_string(tmp_path: Path, namespace: str) -> None:
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver

    path = tmp_path / "cs.db"
    for conn_string in (str(path), f"sqlite:///{path}"):
        with SqliteCheckpointSaver.from_conn_string(conn_string, namespace=namespace) as saver:
            saver.setup()
            saver.setup()  # idempotent
            chat_graph(saver.for_user("alice")).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        with pytest.raises(ConfigurationError, match="closed"):
            saver.get_tuple(cfg("t"))
    with SqliteCheckpointSaver.from_conn_string(str(path), namespace=namespace) as saver:
        assert len(list(saver.for_user("alice").list(cfg("t")))) == 6
    with SqliteCheckpointSaver.from_conn_string(":memory:") as saver:
        chat_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        assert saver.get_tuple(cfg("t")) is not None


async def test_sqlite_saver_from_conn_string_async(tmp_path: Path, namespace: str) -> None:
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver

    async with SqliteCheckpointSaver.from_conn_string(
        str(tmp_path / "a.db"), namespace=namespace
    ) as saver:
        await saver.asetup()
        await chat_graph(saver).ainvoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        assert (await saver.aget_tuple(cfg("t"))) is not None


def test_memory_saver_from_conn_string() -> None:
    from langchain_sessionmem.checkpoint import MemoryCheckpointSaver

    with MemoryCheckpointSaver.from_conn_string() as saver:
        saver.setup()
        chat_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        assert saver.get_tuple(cfg("t")) is not None
    with pytest.raises(ConfigurationError, match="memory"):
        MemoryCheckpointSaver.from_conn_string("sqlite:///x.db")
