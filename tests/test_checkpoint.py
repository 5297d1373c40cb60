"""The checkpointer on real engines: linear storage, fallbacks, TTL, user scope, HITL, serde."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Command, interrupt
from pydantic import BaseModel

from langchain_sessionmem.errors import SerializationError
from langchain_sessionmem.store import SessionStore

ENGINES = ["memory", "sqlite", "redis"]


def _store_url(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    return request.getfixturevalue("redis_url")


def _wipe(saver: Any) -> None:
    if getattr(saver, "keys", None) is not None:  # Redis: drop the threads this namespace indexed
        for tid in saver.client.zrange(saver.keys.threads, 0, -1):
            saver.for_user(None).delete_thread(tid.decode())
        saver.client.delete(saver.keys.threads)


@pytest.fixture(params=ENGINES)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_factory(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest, namespace: str
) -> Iterator[Any]:
    """Builds SessionStore objects on one engine (a new object = a "process restart")."""
    url = _store_url(kind, tmp_path, request)
    made: list[SessionStore] = []

    def make(**kw: Any) -> SessionStore:
        if kind == "memory" and made:
            return made[0]  # memory cannot survive a restart: reuse the one store
        store = SessionStore.from_url(url, namespace=namespace, **kw, allow_anonymous=True)
        made.append(store)
        return store

    yield make
    if made and kind == "redis":
        _wipe(made[0].checkpointer())
    for store in made:
        store.close()


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content * 3)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


class Clock:
    """A clock the test moves by hand (epoch seconds): TTL tests never sleep against real time."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- linear storage -------------------------------------------------------------------------------
def test_storage_grows_linearly_with_turns(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "linear-" + uuid.uuid4().hex[:6]
    sizes = {}
    for turn in range(1, 61):
        graph.invoke({"messages": [HumanMessage(f"turn {turn} " + "x" * 200)]}, cfg(tid))
        if turn in (20, 40, 60):
            sizes[turn] = saver.thread_info(tid)["bytes"]
    first, second = sizes[40] - sizes[20], sizes[60] - sizes[40]
    # Quadratic storage would make the second 20 turns cost ~1.7x the first; linear keeps them equal.
    assert second < 1.25 * first, sizes
    values = graph.get_state(cfg(tid)).values["messages"]
    assert len(values) == 120 and values[-1].content.startswith("echo: turn 60")
    info = saver.thread_info(tid)
    assert info["checkpoints"] == 60 * 3
    # Every stored checkpoint still yields its full, correct message list.
    history = list(graph.get_state_history(cfg(tid)))
    assert len(history) == 180
    lengths = sorted({len(s.values.get("messages", [])) for s in history})
    assert lengths[-1] == 120 and 1 in lengths


async def test_async_invoke_shares_the_storage(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "async-" + uuid.uuid4().hex[:6]
    for turn in range(5):
        await graph.ainvoke({"messages": [HumanMessage(f"hi {turn}")]}, cfg(tid))
    state = await graph.aget_state(cfg(tid))
    assert [m.content for m in state.values["messages"]][-2:] == ["hi 4", "echo: hi 4hi 4hi 4"]
    # the sync twin reads what the async one wrote
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 10
    assert len([s async for s in graph.aget_state_history(cfg(tid))]) == 15


def test_rewrites_fall_back_to_full_values(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "rewrite-" + uuid.uuid4().hex[:6]
    for turn in range(3):
        graph.invoke({"messages": [HumanMessage(f"q{turn}", id=f"h{turn}")]}, cfg(tid))
    before = graph.get_state(cfg(tid))
    # remove one message (not an append)
    graph.update_state(cfg(tid), {"messages": [RemoveMessage(id="h1")]})
    assert [m.id for m in graph.get_state(cfg(tid)).values["messages"]].count("h1") == 0
    # edit a message in place under the same id (same length prefix, different content)
    graph.update_state(cfg(tid), {"messages": [HumanMessage("edited", id="h0")]})
    assert graph.get_state(cfg(tid)).values["messages"][0].content == "edited"
    # summarization-style rewrite: remove all, keep a summary
    graph.update_state(
        cfg(tid), {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), HumanMessage("summary")]}
    )
    assert [m.content for m in graph.get_state(cfg(tid)).values["messages"]] == ["summary"]
    graph.invoke({"messages": [HumanMessage("after")]}, cfg(tid))
    assert [m.content for m in graph.get_state(cfg(tid)).values["messages"]] == [
        "summary",
        "after",
        "echo: afterafterafter",
    ]
    # the old checkpoint is untouched (time travel still works)
    old = graph.get_state(before.config)
    assert [m.content for m in old.values["messages"]] == [
        m.content for m in before.values["messages"]
    ]


def test_fork_from_an_old_checkpoint(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "fork-" + uuid.uuid4().hex[:6]
    for turn in range(3):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    history = list(graph.get_state_history(cfg(tid)))
    after_first = next(s for s in history if len(s.values.get("messages", [])) == 2 and not s.next)
    graph.invoke({"messages": [HumanMessage("branch")]}, after_first.config)
    assert [m.content for m in graph.get_state(cfg(tid)).values["messages"]] == [
        "q0",
        "echo: q0q0q0",
        "branch",
        "echo: branchbranchbranch",
    ]
    # the original branch is intact
    assert len(history[0].values["messages"]) == 6
    assert len(graph.get_state(history[0].config).values["messages"]) == 6


@pytest.mark.parametrize("kind", ["sqlite", "redis"])  # two processes need a shared engine
def test_two_savers_on_one_thread_never_corrupt_the_log(store_factory: Any, kind: str) -> None:
    graph_a = chat_graph(store_factory().checkpointer())
    graph_b = chat_graph(store_factory(ttl=None).checkpointer())  # a second process: cold cache
    tid = "two-" + uuid.uuid4().hex[:6]
    graph_a.invoke({"messages": [HumanMessage("a1")]}, cfg(tid))
    graph_b.invoke({"messages": [HumanMessage("b1")]}, cfg(tid))
    graph_a.invoke({"messages": [HumanMessage("a2")]}, cfg(tid))
    contents = [m.content for m in graph_b.get_state(cfg(tid)).values["messages"]]
    assert contents == ["a1", "echo: a1a1a1", "b1", "echo: b1b1b1", "a2", "echo: a2a2a2"]


# -- retention and introspection -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_ttl_expires_whole_threads(store_factory: Any, kind: str) -> None:
    clock = Clock()
    store = store_factory(ttl=timedelta(minutes=1), clock=clock)
    saver = store.checkpointer()
    graph = chat_graph(saver)
    tid = "ttl-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("hello")]}, cfg(tid))
    assert saver.thread_info(tid)["expires_at"] == clock.now + 60
    clock.advance(59.9)
    assert saver.get_tuple(cfg(tid)) is not None  # a read does not slide it (no refresh_on_read)
    assert saver.purge_expired() == 0
    clock.advance(0.2)
    if kind == "sqlite":
        assert saver.purge_expired() == 1
    assert saver.get_tuple(cfg(tid)) is None
    assert list(saver.list(cfg(tid))) == [] and list(saver.list(None)) == []
    assert saver.thread_info(tid) is None and saver.list_threads() == []
    graph.invoke({"messages": [HumanMessage("again")]}, cfg(tid))  # the id starts a new thread
    assert [m.content for m in graph.get_state(cfg(tid)).values["messages"]][0] == "again"


@pytest.mark.redis
def test_ttl_expires_whole_threads_natively_on_redis(redis_url: str, namespace: str) -> None:
    """Redis expires keys on its own clock: this one test waits for real time."""
    store = SessionStore.from_url(
        redis_url, namespace=namespace, ttl=timedelta(seconds=1), allow_anonymous=True
    )
    saver = store.checkpointer()
    graph = chat_graph(saver)
    tid = "ttl-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("hello")]}, cfg(tid))
    info = saver.thread_info(tid)
    assert info["expires_at"] is not None and info["expires_at"] - time.time() <= 1.01
    keys = saver.keys.thread(tid)
    ttls = [saver.client.pttl(k) for k in keys if saver.client.exists(k)]
    assert len(ttls) >= 7 and all(0 < t <= 1000 for t in ttls), ttls
    time.sleep(1.2)
    assert saver.get_tuple(cfg(tid)) is None
    assert list(saver.list(cfg(tid))) == []
    assert saver.thread_info(tid) is None
    store.close()


def test_prune_keep_latest_keeps_a_working_thread(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "prune-" + uuid.uuid4().hex[:6]
    for turn in range(10):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    size = saver.thread_info(tid)["bytes"]
    saver.prune([tid], strategy="keep_latest")
    info = saver.thread_info(tid)
    assert info["checkpoints"] == 1 and info["bytes"] <= size
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 20
    graph.invoke({"messages": [HumanMessage("more")]}, cfg(tid))
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 22


def test_list_filters_on_any_metadata_key(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    t1, t2 = "f1-" + uuid.uuid4().hex[:6], "f2-" + uuid.uuid4().hex[:6]
    graph.invoke(
        {"messages": [HumanMessage("x")]}, {"configurable": {"thread_id": t1, "tenant": "acme"}}
    )
    graph.invoke(
        {"messages": [HumanMessage("y")]}, {"configurable": {"thread_id": t2, "tenant": "other"}}
    )
    acme = list(saver.list(None, filter={"tenant": "acme"}))
    assert {t.config["configurable"]["thread_id"] for t in acme} == {t1}
    assert len(acme) == 3
    assert [t.metadata["step"] for t in saver.list(cfg(t1), filter={"source": "loop"})] == [1, 0]
    page = list(saver.list(cfg(t1), limit=2))
    assert len(page) == 2 and page[0].checkpoint["id"] > page[1].checkpoint["id"]
    rest = list(saver.list(cfg(t1), before=page[-1].config))
    assert len(rest) == 1
    ids = [t.checkpoint["id"] for t in saver.list(None)]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 6


# -- users -----------------------------------------------------------------------------------------
def _keyed_or_xfail(saver: Any) -> None:
    if not getattr(type(saver), "_keyed", False):
        pytest.xfail("this saver does not store threads under (owner, thread_id) keys yet")


def _contents(saver: Any, tid: str) -> list[str]:
    return [m.content for m in chat_graph(saver).get_state(cfg(tid)).values.get("messages", [])]


def test_threads_are_scoped_by_user(store_factory: Any) -> None:
    """Bob's t-1 and alice's t-1 are two threads: nothing raises, nothing of alice's shows."""
    store = store_factory()
    alice, bob = store.checkpointer(user_id="alice"), store.checkpointer(user_id="bob")
    _keyed_or_xfail(alice)
    tid = "t-1-" + uuid.uuid4().hex[:6]
    run_id = str(uuid.uuid4())
    chat_graph(alice).invoke(
        {"messages": [HumanMessage("alice's secret")]}, {**cfg(tid), "metadata": {"run_id": run_id}}
    )
    anonymous = store.checkpointer()  # the anonymous namespace is one more owner, not "everyone"
    for other in (bob, anonymous):
        assert other.get_tuple(cfg(tid)) is None
        assert list(other.list(cfg(tid))) == [] and list(other.list(None)) == []
        assert other.thread_info(tid) is None and other.list_threads() == []
        assert other.get_delta_channel_history(config=cfg(tid), channels=["messages"]) == {
            "messages": {"writes": []}
        }
    # bob works on his own t-1: every call succeeds and acts on his thread only
    chat_graph(bob).invoke(
        {"messages": [HumanMessage("bob writes")]}, {**cfg(tid), "metadata": {"run_id": run_id}}
    )
    assert _contents(bob, tid) == ["bob writes", "echo: bob writesbob writesbob writes"]
    assert _contents(alice, tid)[0] == "alice's secret" and len(_contents(alice, tid)) == 2
    chat_graph(bob).invoke({"messages": [HumanMessage("again")]}, cfg(tid))
    bob.delete_for_runs([run_id])  # bob's first run only
    assert len(list(bob.list(cfg(tid)))) == 3 and len(list(alice.list(cfg(tid)))) == 3
    copy = "bob-copy-" + uuid.uuid4().hex[:6]
    bob.copy_thread(tid, copy)
    assert _contents(bob, copy)[0] == "bob writes" and alice.get_tuple(cfg(copy)) is None
    bob.prune([tid, copy], strategy="keep_latest")
    bob.delete_thread(tid)
    assert len(list(alice.list(cfg(tid)))) == 3
    # what alice sees carries her own thread id, never a stored key
    tuples = list(alice.list(None))
    assert {t.config["configurable"]["thread_id"] for t in tuples} == {tid}
    assert {t.parent_config["configurable"]["thread_id"] for t in tuples if t.parent_config} == {
        tid
    }
    assert [(t.thread_id, t.user_id, t.checkpoints) for t in alice.list_threads()] == [
        (tid, "alice", 3)
    ]
    assert alice.thread_info(tid)["owner"] == "alice"
    assert [t.thread_id for t in bob.list_threads()] == [copy]
    assert alice.delete_user_threads() == 1
    assert alice.get_tuple(cfg(tid)) is None and alice.list_threads() == []
    assert _contents(bob, copy)[0] == "bob writes"


async def test_async_thread_listing_and_erase(store_factory: Any) -> None:
    store = store_factory()
    carol = store.checkpointer(user_id="carol")
    _keyed_or_xfail(carol)
    tids = ["a-" + uuid.uuid4().hex[:6], "b-" + uuid.uuid4().hex[:6]]
    for tid in tids:
        await chat_graph(carol).ainvoke({"messages": [HumanMessage("hi")]}, cfg(tid))
    listed = await carol.alist_threads()
    assert [t.thread_id for t in listed] == tids[::-1]  # most recently updated first
    assert listed[0].updated_at >= listed[1].updated_at and listed[0].checkpoints == 3
    assert await store.checkpointer(user_id="dave").adelete_user_threads() == 0
    assert await carol.adelete_user_threads() == 2
    assert await carol.alist_threads() == [] and list(carol.list(None)) == []


def test_sqlite_threads_of_schema_1_move_to_their_owners(tmp_path: Any, namespace: str) -> None:
    """Files written when thread ids were global keep every thread, now under its owner."""
    import sqlite3

    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver
    from langchain_sessionmem.checkpoint.config import split_thread_key

    path = str(tmp_path / "old.db")
    saver = SqliteCheckpointSaver(path=path, namespace=namespace)
    chat_graph(saver.for_user("alice")).invoke({"messages": [HumanMessage("hers")]}, cfg("t-1"))
    chat_graph(saver).invoke({"messages": [HumanMessage("anyone's")]}, cfg("t-2"))
    sql = saver.sql
    saver.close()
    conn = sqlite3.connect(path, isolation_level=None)  # back to schema 1: raw ids, no version
    conn.create_function("raw", 1, lambda key: split_thread_key(key)[1])
    for table in (*sql.data_tables, sql.threads):
        conn.execute(f"UPDATE {table} SET thread_id = raw(thread_id)")
    conn.execute(f'DELETE FROM "{namespace}_cp_meta"')
    assert {r[0] for r in conn.execute(f"SELECT thread_id FROM {sql.threads}")} == {"t-1", "t-2"}
    conn.close()
    reopened = SqliteCheckpointSaver(path=path, namespace=namespace)
    assert _contents(reopened.for_user("alice"), "t-1")[0] == "hers"
    assert _contents(reopened, "t-2")[0] == "anyone's"
    assert reopened.get_tuple(cfg("t-1")) is None  # alice's thread is not the anonymous one
    assert [t.thread_id for t in reopened.for_user("alice").list_threads()] == ["t-1"]
    reopened.setup()  # idempotent
    assert len(list(reopened.for_user("alice").list(cfg("t-1")))) == 3
    reopened.close()


# -- human in the loop across a restart ------------------------------------------------------------------
def approval_graph(checkpointer: Any) -> Any:
    def ask(state: MessagesState) -> dict:
        answer = interrupt({"question": "approve?"})
        return {"messages": [AIMessage(f"decision: {answer}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    return builder.compile(checkpointer=checkpointer)


def test_interrupt_restart_resume(store_factory: Any) -> None:
    tid = "hitl-" + uuid.uuid4().hex[:6]
    first = approval_graph(store_factory().checkpointer(user_id="ops"))
    out = first.invoke({"messages": [HumanMessage("deploy?")]}, cfg(tid))
    assert out["__interrupt__"][0].value == {"question": "approve?"}
    # a new store object on the same file / server: the process restarted
    second = approval_graph(store_factory(ttl=timedelta(hours=1)).checkpointer(user_id="ops"))
    assert second.get_state(cfg(tid)).next == ("ask",)
    done = second.invoke(Command(resume="yes"), cfg(tid))
    assert [m.content for m in done["messages"]] == ["deploy?", "decision: yes"]


async def test_async_interrupt_resume(store_factory: Any) -> None:
    tid = "ahitl-" + uuid.uuid4().hex[:6]
    graph = approval_graph(store_factory().checkpointer())
    await graph.ainvoke({"messages": [HumanMessage("ship it?")]}, cfg(tid))
    done = await approval_graph(store_factory(ttl=timedelta(hours=1)).checkpointer()).ainvoke(
        Command(resume="no"), cfg(tid)
    )
    assert done["messages"][-1].content == "decision: no"


# -- serialization --------------------------------------------------------------------------------------
class Opaque:
    pass


def test_unstorable_values_name_their_state_path(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    from typing import TypedDict

    class State(TypedDict):
        payload: Any

    builder = StateGraph(State)
    builder.add_node("n", lambda s: {"payload": {"inner": Opaque()}})
    builder.add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    with pytest.raises(SerializationError, match="payload"):
        graph.invoke({"payload": 1}, cfg("serde-" + uuid.uuid4().hex[:6]))


def test_strict_serde_refuses_pickle_and_unknown_types() -> None:
    from langchain_sessionmem.checkpoint import default_serde

    serde = default_serde()
    assert serde.pickle_fallback is False
    with pytest.raises(TypeError):
        serde.dumps_typed(Opaque())
    with pytest.raises(NotImplementedError):
        serde.loads_typed(("pickle", b"\x80\x04K\x01."))


def test_encryption_at_rest_with_key_rotation(tmp_path: Any, namespace: str) -> None:
    pytest.importorskip("cryptography")
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver, encrypted_serde

    path = str(tmp_path / "enc.db")
    old = SqliteCheckpointSaver(
        path=path, namespace=namespace, serde=encrypted_serde({"k1": b"1" * 32}, "k1")
    )
    graph = chat_graph(old)
    graph.invoke({"messages": [HumanMessage("top secret plan")]}, cfg("enc"))
    old.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("enc.db*"))
    assert b"top secret plan" not in raw
    rotated = SqliteCheckpointSaver(
        path=path,
        namespace=namespace,
        serde=encrypted_serde({"k1": b"1" * 32, "k2": b"2" * 32}, "k2"),
    )
    graph = chat_graph(rotated)
    graph.invoke({"messages": [HumanMessage("more")]}, cfg("enc"))
    assert [m.content for m in graph.get_state(cfg("enc")).values["messages"]][
        0
    ] == "top secret plan"
    plain = SqliteCheckpointSaver(path=path, namespace=namespace)
    with pytest.raises(Exception):  # noqa: B017 - ciphertext cannot be read without the keys
        plain.get_tuple(cfg("enc"))


# -- Redis Cluster through the store URL ---------------------------------------------------------------
@pytest.mark.cluster
async def test_cluster_store_checkpointer(redis_cluster_url: str, namespace: str) -> None:
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    store = SessionStore.from_url(
        url, namespace=namespace, ttl=timedelta(minutes=5), allow_anonymous=True
    )
    saver = store.checkpointer(user_id="carol")
    graph = chat_graph(saver)
    tids = [f"c{i}-" + uuid.uuid4().hex[:6] for i in range(4)]  # spread over slots
    for tid in tids:
        graph.invoke({"messages": [HumanMessage("sync")]}, cfg(tid))
        await graph.ainvoke({"messages": [HumanMessage("async")]}, cfg(tid))
    for tid in tids:
        slots = {saver.client.keyslot(k) for k in saver.keys.thread(tid)}
        assert len(slots) == 1  # one slot per thread: every put is one atomic script
        assert len(graph.get_state(cfg(tid)).values["messages"]) == 4
        assert 0 < saver.client.pttl(saver.keys.thread(tid)[0]) <= 300_000
    copy = "copy-" + uuid.uuid4().hex[:6]
    saver.copy_thread(tids[0], copy)  # across slots
    assert len(graph.get_state(cfg(copy)).values["messages"]) == 4
    assert store.checkpointer(user_id="dave").get_tuple(cfg(copy)) is None
    for tid in [*tids, copy]:
        saver.delete_thread(tid)
    assert list(saver.list(None)) == []
    await saver.connections.aclose()
    store.close()


# -- safety of shared decoded objects, concurrency, runs and copies ------------------------------------------
def test_in_place_edits_never_corrupt_storage(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "mut-" + uuid.uuid4().hex[:6]
    for turn in range(3):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    state = graph.get_state(cfg(tid))
    state.values["messages"][0].content = "tampered in memory"  # a caller edits what it read
    assert graph.get_state(cfg(tid)).values["messages"][0].content == "q0"

    def editor(s: MessagesState) -> dict:  # a node that edits history in place and appends
        s["messages"][0].content = "edited by node"
        return {"messages": [AIMessage("done")]}

    builder = StateGraph(MessagesState)
    builder.add_node("edit", editor)
    builder.add_edge(START, "edit")
    builder.compile(checkpointer=saver).invoke({"messages": [HumanMessage("go")]}, cfg(tid))
    fresh = chat_graph(store_factory(ttl=timedelta(hours=1)).checkpointer())  # read from storage
    contents = [m.content for m in fresh.get_state(cfg(tid)).values["messages"]]
    assert (
        contents[0] == "edited by node" and contents[-2:] == ["go", "done"] and len(contents) == 8
    )


def _cold_saver(store_factory: Any, kind: str) -> Any:
    """A saver with an empty log cache on the same storage (another process, in effect)."""
    if kind == "memory":
        from langchain_sessionmem.checkpoint import MemoryCheckpointSaver

        return MemoryCheckpointSaver(store_factory().engine.checkpoints)
    return store_factory(ttl=timedelta(hours=1)).checkpointer()


def test_in_place_edit_of_tool_calls_is_stored(store_factory: Any, kind: str) -> None:
    """LangGraph's human-in-the-loop edit: change what get_state returned, then update_state."""
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "edit-" + uuid.uuid4().hex[:6]
    call = {"id": "call-1", "name": "search", "args": {"query": "original"}}
    graph.invoke(
        {"messages": [HumanMessage("find it"), AIMessage("", id="ai-1", tool_calls=[call])]},
        cfg(tid),
    )
    message = graph.get_state(cfg(tid)).values["messages"][1]
    message.tool_calls[0]["args"]["query"] = "a different query"  # in place, same id and content
    graph.update_state(cfg(tid), {"messages": [message]})
    for reader in (saver, _cold_saver(store_factory, kind)):
        stored = chat_graph(reader).get_state(cfg(tid)).values["messages"][1]
        assert stored.tool_calls[0]["args"] == {"query": "a different query"}
    # and an edit of a message this process wrote itself, after it was stored
    graph.invoke({"messages": [HumanMessage("more")]}, cfg(tid))
    latest = graph.get_state(cfg(tid)).values["messages"]
    latest[0].additional_kwargs["note"] = "edited"
    graph.update_state(cfg(tid), {"messages": [latest[0]]})
    cold = chat_graph(_cold_saver(store_factory, kind)).get_state(cfg(tid)).values["messages"]
    assert cold[0].additional_kwargs == {"note": "edited"} and len(cold) == 5


def test_reads_hand_out_fresh_objects(store_factory: Any) -> None:
    """What get_state returns is never an object the graph stored (a model's own response) nor
    one an earlier read returned: editing it in place changes nothing else (as InMemorySaver)."""
    response = AIMessage("", id="ai-r", tool_calls=[{"id": "c", "name": "f", "args": {"q": "x"}}])

    def reply(state: MessagesState) -> dict:
        return {"messages": [response]}  # a fake model hands out the same object each time

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    graph = builder.compile(checkpointer=store_factory().checkpointer())
    tid = "fresh-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("q")]}, cfg(tid))
    first = graph.get_state(cfg(tid)).values["messages"]
    second = graph.get_state(cfg(tid)).values["messages"]
    assert first == second and first[-1] is not response and first[-1] is not second[-1]
    first[-1].tool_calls[0]["args"]["q"] = "edited"
    first[0].content = "edited too"
    assert response.tool_calls[0]["args"] == {"q": "x"}
    assert [m.content for m in second] == ["q", ""]
    assert graph.get_state(cfg(tid)).values["messages"][-1].tool_calls[0]["args"] == {"q": "x"}


def test_log_ids_stay_unique_when_uuid4_is_fixed(
    store_factory: Any, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangGraph's own tests fix uuid.uuid4 (deterministic_uuids): fresh logs must not collide."""
    from langgraph.checkpoint.memory import InMemorySaver

    fixed = uuid.UUID("12345678123456781234567812345678")
    tid = "det-" + uuid.uuid4().hex[:6]
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)

    def steps(saver: Any) -> list[list[str]]:
        graph = chat_graph(saver)
        seen = []
        for turn in range(3):
            graph.invoke({"messages": [HumanMessage(f"q{turn}", id=f"h{turn}")]}, cfg(tid))
        for update in (  # each starts a fresh log
            [RemoveMessage(id="h0")],
            [RemoveMessage(id=REMOVE_ALL_MESSAGES), HumanMessage("s", id="s")],
        ):
            graph.update_state(cfg(tid), {"messages": update})
            seen.append([m.content for m in graph.get_state(cfg(tid)).values["messages"]])
        graph.invoke({"messages": [HumanMessage("after", id="a")]}, cfg(tid))
        seen.append([m.content for m in graph.get_state(cfg(tid)).values["messages"]])
        return seen

    reference = InMemorySaver()
    expected = steps(reference)
    assert steps(store_factory().checkpointer()) == expected
    cold = chat_graph(_cold_saver(store_factory, kind)).get_state(cfg(tid))  # what was stored
    assert [m.content for m in cold.values["messages"]] == expected[-1]


class Ticket(BaseModel):
    """A user type in graph state (not on any allow-list)."""

    number: int
    tags: list[str]


@dataclass
class Note:
    text: str


def test_user_types_come_back_as_with_langgraphs_own_savers(store_factory: Any, kind: str) -> None:
    """At LangGraph's defaults our savers decode user types exactly as InMemorySaver does."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver

    class State(TypedDict):
        ticket: Ticket
        notes: list[Note]

    def build(checkpointer: Any) -> Any:
        builder = StateGraph(State)
        builder.add_node("n", lambda s: {"notes": [*s["notes"], Note("seen")]})
        builder.add_edge(START, "n")
        return builder.compile(checkpointer=checkpointer)

    tid = "types-" + uuid.uuid4().hex[:6]
    start = {"ticket": Ticket(number=7, tags=["a"]), "notes": [Note("first")]}
    build(store_factory().checkpointer()).invoke(start, cfg(tid))
    ours = build(_cold_saver(store_factory, kind)).get_state(cfg(tid)).values
    reference = InMemorySaver()
    build(reference).invoke(start, cfg(tid))
    theirs = build(reference).get_state(cfg(tid)).values
    assert type(theirs["ticket"]) is Ticket and type(theirs["notes"][0]) is Note
    assert ours == theirs
    assert [type(v) for v in ours.values()] == [type(v) for v in theirs.values()]


def test_strict_serde_is_one_option_away(store_factory: Any, kind: str) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    strict = store_factory().checkpointer(strict=True)
    assert strict.serde._allowed_msgpack_modules is None
    assert type(store_factory().checkpointer().serde) is type(InMemorySaver().serde)
    assert isinstance(store_factory().checkpointer().serde, JsonPlusSerializer)
    tid = "strict-" + uuid.uuid4().hex[:6]
    from typing import TypedDict

    class State(TypedDict):
        ticket: Ticket

    builder = StateGraph(State)
    builder.add_node("n", lambda s: {})
    builder.add_edge(START, "n")
    builder.compile(checkpointer=strict).invoke({"ticket": Ticket(number=1, tags=[])}, cfg(tid))
    loaded = strict.get_tuple(cfg(tid)).checkpoint["channel_values"]["ticket"]
    assert not isinstance(loaded, Ticket)  # blocked: not on the allow-list
    allowed = strict.with_allowlist([Ticket])  # what LangGraph does under LANGGRAPH_STRICT_MSGPACK
    assert isinstance(allowed.get_tuple(cfg(tid)).checkpoint["channel_values"]["ticket"], Ticket)


async def test_concurrent_async_threads(store_factory: Any) -> None:
    import asyncio

    graph = chat_graph(store_factory().checkpointer())
    tids = ["conc-" + uuid.uuid4().hex[:6] for _ in range(16)]

    async def chat(tid: str) -> None:
        for turn in range(5):
            await graph.ainvoke({"messages": [HumanMessage(f"{tid} {turn}")]}, cfg(tid))

    await asyncio.gather(*(chat(t) for t in tids))
    for tid in tids:
        msgs = (await graph.aget_state(cfg(tid))).values["messages"]
        assert [m.content for m in msgs[::2]] == [f"{tid} {t}" for t in range(5)]


def test_delete_for_runs_and_copy_on_real_runs(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = chat_graph(saver)
    tid = "runs-" + uuid.uuid4().hex[:6]
    runs = [str(uuid.uuid4()) for _ in range(3)]
    for i, run in enumerate(runs):
        graph.invoke(
            {"messages": [HumanMessage(f"q{i}")]}, {**cfg(tid), "metadata": {"run_id": run}}
        )
    copy = "runs-copy-" + uuid.uuid4().hex[:6]
    saver.copy_thread(tid, copy)
    assert [t.checkpoint["id"] for t in saver.list(cfg(copy))] == [
        t.checkpoint["id"] for t in saver.list(cfg(tid))
    ]
    saver.delete_for_runs([runs[2]])
    assert {t.metadata["run_id"] for t in saver.list(cfg(tid))} == set(runs[:2])
    assert {t.metadata["run_id"] for t in saver.list(cfg(copy))} == set(runs[:2])
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 4  # back to the end of run 2
    graph.invoke({"messages": [HumanMessage("again")]}, cfg(tid))
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 6
    assert saver.thread_info(copy)["checkpoints"] == 6


@pytest.mark.redis
def test_redis_global_indexes_follow_deletes_and_expiry(redis_url: str, namespace: str) -> None:
    store = SessionStore.from_url(
        redis_url, namespace=namespace, ttl=timedelta(seconds=1), allow_anonymous=True
    )
    saver = store.checkpointer()
    graph = chat_graph(saver)
    tid, run = "idx-" + uuid.uuid4().hex[:6], str(uuid.uuid4())
    graph.invoke({"messages": [HumanMessage("a")]}, {**cfg(tid), "metadata": {"run_id": run}})
    assert saver.client.sismember(saver.keys.run(run), tid)
    saver.delete_thread(tid)
    assert not saver.client.exists(saver.keys.run(run), saver.keys.runs_of(tid))
    graph.invoke(
        {"messages": [HumanMessage("b")]}, {**cfg(tid), "metadata": {"run_id": run}}
    )  # same process
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {tid}
    time.sleep(1.2)  # the thread expires natively
    assert saver.get_tuple(cfg(tid)) is None
    assert saver.purge_expired() == 1
    assert saver.client.zcard(saver.keys.threads) == 0
    assert not saver.client.exists(saver.keys.run(run), saver.keys.runs_of(tid))
    store.close()


def test_in_memory_sqlite_store_shares_one_database() -> None:
    store = SessionStore.from_url("sqlite://", allow_anonymous=True)
    graph = chat_graph(store.checkpointer(user_id="u"))
    graph.invoke({"messages": [HumanMessage("hi")]}, cfg("mem"))
    other = store.checkpointer(user_id="u")  # another saver of the same store sees the thread
    assert len(chat_graph(other).get_state(cfg("mem")).values["messages"]) == 2
    assert other.thread_info("mem")["checkpoints"] == 3
    store.close()


# -- DeltaChannel graphs: native history walk and prune ---------------------------------------------------
def _merge_messages(state: list, writes: list) -> list:
    from langgraph.graph.message import add_messages

    for batch in writes:
        state = add_messages(state, batch)
    return state


def _extend(state: list, writes: list) -> list:
    return state + [x for batch in writes for x in batch]


def delta_graph(checkpointer: Any, *, messages_every: int = 1000, notes_every: int = 4) -> Any:
    """Two DeltaChannels: messages (rarely snapshotted: long walks) and notes (often: seeds)."""
    from typing import Annotated, TypedDict

    from langchain_core.messages import AnyMessage
    from langgraph.channels import DeltaChannel

    State = TypedDict(  # noqa: UP013 - built at run time with this call's snapshot frequencies
        "State",
        {
            "messages": Annotated[
                list[AnyMessage], DeltaChannel(_merge_messages, snapshot_frequency=messages_every)
            ],
            "notes": Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=notes_every)],
        },
    )

    def reply(state: dict) -> dict:
        return {
            "messages": [AIMessage("echo: " + state["messages"][-1].content)],
            "notes": [f"n{len(state['messages'])}"],
        }

    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


class _Counter:
    """Counts engine round trips: SQL statements on SQLite, requests on Redis, get_tuple on memory."""

    def __init__(self, saver: Any, kind: str):
        self.n = 0
        self.saver, self.kind = saver, kind

    def bump(self, *_: Any) -> None:
        self.n += 1

    def __enter__(self) -> _Counter:
        self.n = 0
        if self.kind == "sqlite":
            with self.saver.connections.connection() as conn:
                conn.set_trace_callback(self.bump)
        elif self.kind == "redis":  # every request the saver sends is one round trip
            connections = self.saver.connections
            original = type(connections).send

            def counted(request: Any) -> Any:
                self.bump()
                return original(connections, request)

            connections.send = counted
        else:
            original_get = type(self.saver).get_tuple

            def get_tuple(config: Any) -> Any:
                self.bump()
                return original_get(self.saver, config)

            self.saver.get_tuple = get_tuple
        return self

    def __exit__(self, *_: Any) -> None:
        if self.kind == "sqlite":
            with self.saver.connections.connection() as conn:
                conn.set_trace_callback(None)
        elif self.kind == "redis":
            del self.saver.connections.send
        else:
            del self.saver.get_tuple


def test_delta_channel_history_is_native_and_bounded(store_factory: Any, kind: str) -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    saver = store_factory().checkpointer()
    graph = delta_graph(saver)
    tid = "delta-" + uuid.uuid4().hex[:6]
    for turn in range(30):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    state = graph.get_state(cfg(tid))
    assert [m.content for m in state.values["messages"]][-2:] == ["q29", "echo: q29"]
    assert state.values["notes"] == [f"n{2 * t + 1}" for t in range(30)]
    channels = ["messages", "notes"]
    history = list(saver.list(cfg(tid)))
    assert len(history) == 90
    for tup in history[::7]:  # same output as LangGraph's walk (get_tuple per parent), old and new
        native = saver.get_delta_channel_history(config=tup.config, channels=channels)
        default = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=tup.config, channels=channels
        )
        assert native == default, tup.config
    latest = history[0].config
    assert saver.get_delta_channel_history(
        config=cfg(tid), channels=channels
    ) == saver.get_delta_channel_history(config=latest, channels=channels)
    assert (
        "seed" not in saver.get_delta_channel_history(config=latest, channels=channels)["messages"]
    )
    with _Counter(saver, kind) as native_trips:
        saver.get_delta_channel_history(config=latest, channels=channels)
    with _Counter(saver, kind) as default_trips:
        BaseCheckpointSaver.get_delta_channel_history(saver, config=latest, channels=channels)
    # 89 ancestors: the default walk makes one get_tuple (several round trips) per ancestor.
    bound = {"memory": 0, "sqlite": 5, "redis": 2}[kind]
    assert native_trips.n <= bound, native_trips.n
    assert default_trips.n >= 89, default_trips.n
    assert saver.get_delta_channel_history(config=cfg("nothing-" + tid), channels=channels) == {
        "messages": {"writes": []},
        "notes": {"writes": []},
    }


async def test_async_delta_channel_history(store_factory: Any) -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    saver = store_factory().checkpointer()
    graph = delta_graph(saver, messages_every=5)
    tid = "adelta-" + uuid.uuid4().hex[:6]
    for turn in range(8):
        await graph.ainvoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    assert len((await graph.aget_state(cfg(tid))).values["messages"]) == 16
    async for tup in saver.alist(cfg(tid), limit=6):
        native = await saver.aget_delta_channel_history(
            config=tup.config, channels=["messages", "notes"]
        )
        default = await BaseCheckpointSaver.aget_delta_channel_history(
            saver, config=tup.config, channels=["messages", "notes"]
        )
        assert native == default


def test_prune_keep_latest_keeps_delta_channel_state(store_factory: Any) -> None:
    saver = store_factory().checkpointer()
    graph = delta_graph(saver, messages_every=7)
    tid = "dprune-" + uuid.uuid4().hex[:6]
    for turn in range(25):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    before = graph.get_state(cfg(tid)).values
    count = saver.thread_info(tid)["checkpoints"]
    saver.prune([tid], strategy="keep_latest")
    kept = saver.thread_info(tid)["checkpoints"]
    # only the chain back to the last stored value of each DeltaChannel survives
    assert 1 < kept < count // 4, (kept, count)
    assert graph.get_state(cfg(tid)).values == before
    graph.invoke({"messages": [HumanMessage("more")]}, cfg(tid))
    after = graph.get_state(cfg(tid)).values
    assert len(after["messages"]) == 52 and after["notes"][:-1] == before["notes"]
    saver.prune([tid], strategy="keep_latest")
    assert graph.get_state(cfg(tid)).values == after


# -- LangGraph's TTLConfig names ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_ttl_config_refresh_on_read_slides_expiry(store_factory: Any, kind: str) -> None:
    clock = Clock()
    saver = store_factory(clock=clock).checkpointer(ttl={"default_ttl": 1, "refresh_on_read": True})
    assert saver.ttl == pytest.approx(60) and saver.refresh_on_read
    graph = chat_graph(saver)
    tid = "slide-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("hello")]}, cfg(tid))
    for _ in range(3):  # reads 40 s apart: 120 s after the write, kept alive by the reads alone
        clock.advance(40)
        assert saver.get_tuple(cfg(tid)) is not None
        assert saver.thread_info(tid)["expires_at"] == clock.now + 60
    clock.advance(40)
    assert len(list(saver.list(cfg(tid)))) == 3  # list() is a read too
    clock.advance(40)
    assert len(graph.get_state(cfg(tid)).values["messages"]) == 2
    assert saver.get_delta_channel_history(config=cfg(tid), channels=["messages"])
    clock.advance(59)  # the delta history read slid it as well
    assert saver.thread_info(tid) is not None
    clock.advance(61)  # no read for longer than the TTL
    assert saver.get_tuple(cfg(tid)) is None


@pytest.mark.redis
def test_ttl_config_refresh_on_read_slides_expiry_natively_on_redis(
    redis_url: str, namespace: str
) -> None:
    """Each Redis read re-expires every key of the thread in its own script (server time)."""
    store = SessionStore.from_url(redis_url, namespace=namespace, allow_anonymous=True)
    saver = store.checkpointer(ttl={"default_ttl": 1, "refresh_on_read": True})
    graph = chat_graph(saver)
    tid = "slide-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("hello")]}, cfg(tid))
    for k in saver.keys.thread(tid):
        if saver.client.exists(k):
            saver.client.pexpire(k, 5_000)  # as if the write was 55 s ago
    assert saver.get_tuple(cfg(tid)) is not None
    ttls = [saver.client.pttl(k) for k in saver.keys.thread(tid) if saver.client.exists(k)]
    assert ttls and all(55_000 < t <= 60_000 for t in ttls), ttls  # the read slid every key
    store.close()


def test_ttl_config_falls_back_to_the_store_ttl(store_factory: Any) -> None:
    from langchain_sessionmem.errors import ConfigurationError

    store = store_factory(ttl=timedelta(minutes=30))
    assert store.checkpointer(ttl={"refresh_on_read": True}).ttl == pytest.approx(1800)
    assert store.checkpointer(ttl={"default_ttl": 5}).ttl == pytest.approx(300)
    assert not store.checkpointer().refresh_on_read
    with pytest.raises(ConfigurationError, match="default_ttl"):
        store.checkpointer(ttl={"default_ttl_minutes": 5})
    with pytest.raises(ConfigurationError):
        store.checkpointer(ttl={"default_ttl": 5, "sweep_interval_minutes": 0})


@pytest.mark.parametrize("kind", ["memory", "sqlite"])  # Redis expires natively
def test_ttl_config_sweeper_thread(store_factory: Any, kind: str) -> None:
    clock = Clock()
    store = store_factory(clock=clock)
    saver = store.checkpointer(ttl={"default_ttl": 1, "sweep_interval_minutes": 0.05 / 60})
    thread = saver._sweeper[0]
    assert thread.is_alive() and thread.daemon
    graph = chat_graph(saver)
    tid = "sweep-" + uuid.uuid4().hex[:6]
    graph.invoke({"messages": [HumanMessage("hello")]}, cfg(tid))

    def stored_rows() -> int:
        if kind == "memory":
            return len(saver.data.threads)
        with saver.connections.connection() as conn:
            return sum(
                conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in (*saver.sql.data_tables, saver.sql.threads)
            )

    assert stored_rows() > 0
    clock.advance(61)  # expired now; nobody calls purge_expired: the sweeper (every 50 ms) does
    deadline = time.monotonic() + 30
    while stored_rows() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored_rows() == 0
    saver.close()
    assert not thread.is_alive() and saver._sweeper is None


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_close_stops_the_sweepers_of_its_savers(store_factory: Any, kind: str) -> None:
    store = store_factory()
    alice, bob = store.checkpointer(user_id="alice"), store.checkpointer(user_id="bob")
    assert alice._core is bob._core is not None  # calls without options share one saver
    saver = store.checkpointer(ttl={"default_ttl": 1, "sweep_interval_minutes": 1})
    thread = saver._sweeper[0]
    assert thread.is_alive()
    store.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_dead_redis_is_engine_unavailable_for_every_call(namespace: str) -> None:
    """Scripts, single commands and pipelines alike raise the package's typed error."""
    from services import throwaway_redis

    from langchain_sessionmem import EngineUnavailableError

    with throwaway_redis() as (url, server):
        store = SessionStore.from_url(url, namespace=namespace, allow_anonymous=True)
        saver = store.checkpointer()
        graph = chat_graph(saver)
        graph.invoke({"messages": [HumanMessage("hello")]}, cfg("t-dead"))
        server.kill()
        server.wait()
        with pytest.raises(EngineUnavailableError):
            saver.get_tuple(cfg("t-dead"))  # a script
        with pytest.raises(EngineUnavailableError):
            saver.thread_info("t-dead")  # a pipeline
        with pytest.raises(EngineUnavailableError):
            saver.copy_thread("t-dead", "t-copy")  # single commands
