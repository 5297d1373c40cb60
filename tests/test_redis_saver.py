"""The Redis checkpointer on its own: event loops, unreachable servers, thread identity, erase."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import services
from conftest import stores_on
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import ConfigurationError, EngineUnavailableError

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


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


# -- event loops (issue 7, bug 1) -------------------------------------------------------------
def test_checkpointer_works_on_a_second_event_loop(make_store):
    """The saver once cached the first loop's client: the second asyncio.run failed with
    'Event loop is closed'. Now every loop gets its own client, for sync and async methods."""
    store = make_store()
    saver = store.checkpointer(user_id="alice")
    graph = chat_graph(saver)
    tid = "loops-" + uuid.uuid4().hex[:6]

    async def turn(text: str) -> int:
        await graph.ainvoke({"messages": [HumanMessage(text)]}, cfg(tid))
        assert (await saver.aget_tuple(cfg(tid))) is not None
        assert [t async for t in saver.alist(cfg(tid), limit=1)]
        return len((await graph.aget_state(cfg(tid))).values["messages"])

    assert asyncio.run(turn("first loop")) == 2
    assert asyncio.run(turn("second loop")) == 4
    graph.invoke({"messages": [HumanMessage("sync")]}, cfg(tid))  # sync between loops
    assert asyncio.run(turn("third loop")) == 8
    contents = [m.content for m in graph.get_state(cfg(tid)).values["messages"]]
    assert contents[::2] == ["first loop", "second loop", "sync", "third loop"]
    asyncio.run(saver.adelete_thread(tid))
    assert saver.get_tuple(cfg(tid)) is None


# -- an unreachable server (issue 7, bug 1) ---------------------------------------------------
def _dead_url() -> tuple[str, int]:
    """A URL with a password on a port where a server ran and was killed (nothing listens)."""
    with services.throwaway_redis() as (url, proc):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        proc.kill()
        proc.wait()
    return f"redis://:s3cret@127.0.0.1:{port}/0", port


def test_engine_and_saver_word_unreachable_redis_alike():
    url, port = _dead_url()
    store = SessionStore.from_url(url, namespace="app")
    try:
        with pytest.raises(EngineUnavailableError) as by_engine:
            store.history("s", user_id="alice").messages  # noqa: B018
        with pytest.raises(EngineUnavailableError) as by_saver:
            store.checkpointer(user_id="alice").get_tuple(cfg("t"))
        with pytest.raises(EngineUnavailableError) as by_pipeline:
            store.checkpointer(user_id="alice").thread_info("t")
    finally:
        store.close()
    messages = {str(e.value) for e in (by_engine, by_saver, by_pipeline)}
    assert len(messages) == 1, messages
    message = messages.pop()
    assert message.startswith(f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0"), message
    assert "s3cret" not in message


async def test_engine_and_saver_word_unreachable_redis_alike_async():
    url, port = _dead_url()
    store = SessionStore.from_url(url, namespace="app")
    try:
        with pytest.raises(EngineUnavailableError) as by_engine:
            await store.history("s", user_id="alice").aget_messages()
        with pytest.raises(EngineUnavailableError) as by_saver:
            await store.checkpointer(user_id="alice").aget_tuple(cfg("t"))
    finally:
        await store.aclose()
    assert str(by_engine.value) == str(by_saver.value)
    assert f"redis://:***@127.0.0.1:{port}/0" in str(by_saver.value)
    assert "s3cret" not in str(by_saver.value)


# -- threads belong to users (issue 8 §1) -------------------------------------------------------
def namespace_keys(client: Any, namespace: str) -> set[str]:
    """Every key of a namespace, by SCAN over every node (fine in a test, never in the package)."""
    return {k.decode() for k in client.scan_iter(match=f"*{namespace}*", count=1000)}


def test_look_alike_thread_ids_never_share_keys(make_store):
    """Braces were hashed into the id space: thread '{x}' and thread '#<sha1("{x}")>' shared one
    key set, so each read and overwrote the other."""
    import hashlib

    store = make_store()
    saver = store.checkpointer(user_id="alice")
    graph = chat_graph(saver)
    braced = "{x}-" + uuid.uuid4().hex[:6]
    hashed = "#" + hashlib.sha1(braced.encode()).hexdigest()
    others = [braced, hashed, braced.replace("{", "%7B"), "{", "}", "a|b", "%7B"]
    for tid in others:
        graph.invoke({"messages": [HumanMessage(f"in {tid}")]}, cfg(tid))
    for tid in others:
        assert [m.content for m in graph.get_state(cfg(tid)).values["messages"]][0] == f"in {tid}"
    key_sets = [frozenset(saver.keys.script_keys(tid)) for tid in others]
    assert len(set().union(*key_sets)) == sum(len(k) for k in key_sets)  # pairwise disjoint
    assert {t.thread_id for t in saver.list_threads()} == set(others)


def test_owner_and_thread_id_never_run_together(make_store):
    """('a|b', 'c') and ('a', 'b|c') are two threads, as are an owner's thread and the same id
    of the anonymous namespace."""
    store = make_store()
    pairs = [("a|b", "c"), ("a", "b|c"), (None, "a|b|c"), ("a", "c")]
    for owner, tid in pairs:
        graph = chat_graph(store.checkpointer(user_id=owner if owner else None))
        graph.invoke({"messages": [HumanMessage(f"{owner}/{tid}")]}, cfg(tid))
    for owner, tid in pairs:
        saver = store.checkpointer(user_id=owner if owner else None)
        assert [m.content for m in chat_graph(saver).get_state(cfg(tid)).values["messages"]][
            0
        ] == f"{owner}/{tid}"
    listed = {
        o: {t.thread_id for t in store.checkpointer(user_id=o).list_threads()} for o, _ in pairs
    }
    assert listed == {"a|b": {"c"}, "a": {"b|c", "c"}, None: {"a|b|c"}}


def test_no_user_id_is_a_wildcard(make_store):
    """user_id='*' was the saver's unscoped admin mode: it read, listed and deleted every user's
    threads. Now it is one more user, who sees only its own."""
    store = make_store()
    tid = "t-" + uuid.uuid4().hex[:6]
    run = str(uuid.uuid4())
    alice = store.checkpointer(user_id="alice")
    chat_graph(alice).invoke(
        {"messages": [HumanMessage("alice's secret")]}, {**cfg(tid), "metadata": {"run_id": run}}
    )
    star = store.checkpointer(user_id="*")
    assert star.get_tuple(cfg(tid)) is None
    assert list(star.list(None)) == [] and list(star.list(cfg(tid))) == []
    assert star.list_threads() == [] and star.thread_info(tid) is None
    star.delete_thread(tid)
    star.delete_for_runs([run])
    star.prune([tid])
    assert star.delete_user_threads() == 0
    assert len(list(alice.list(cfg(tid)))) == 3
    assert [m.content for m in chat_graph(alice).get_state(cfg(tid)).values["messages"]][0] == (
        "alice's secret"
    )


def test_each_owner_has_its_own_indexes(make_store, namespace):
    """One global threads zset made list(None) read every user's threads; now each owner has its
    thread index and run sets, and listing reads that owner's only."""
    store = make_store()
    run = str(uuid.uuid4())
    for owner in ("alice", "bob"):
        graph = chat_graph(store.checkpointer(user_id=owner))
        for i in range(3):
            graph.invoke(
                {"messages": [HumanMessage(f"{owner} {i}")]},
                {**cfg(f"t{i}"), "metadata": {"run_id": run}},
            )
    alice, bob = store.checkpointer(user_id="alice"), store.checkpointer(user_id="bob")
    client = alice.client
    assert {m.decode() for m in client.zrange(alice.keys.threads, 0, -1)} == {"t0", "t1", "t2"}
    assert alice.keys.threads != bob.keys.threads and alice.keys.run(run) != bob.keys.run(run)
    assert {m.decode() for m in client.smembers(bob.keys.run(run))} == {"t0", "t1", "t2"}
    assert not client.exists(f"{namespace}:cp:threads")  # no global index any more
    listed = list(bob.list(None))
    contents = {
        m.content for t in listed for m in t.checkpoint["channel_values"].get("messages", [])
    }
    assert len(listed) == 9
    assert contents == {f"{echo}bob {i}" for echo in ("", "echo: ") for i in range(3)}
    bob.delete_for_runs([run])
    assert list(bob.list(None)) == [] and len(list(alice.list(None))) == 9
    indexed = {k for k in namespace_keys(client, namespace) if ":cp:{o" in k}
    assert indexed == {alice.keys.threads, alice.keys.run(run), bob.keys.threads}


# -- LangGraph's saver interface (CONTRACTS §7) ------------------------------------------------
@pytest.mark.redis
def test_from_conn_string_and_setup(redis_url, namespace):
    from langchain_sessionmem.checkpoint import RedisCheckpointSaver

    with RedisCheckpointSaver.from_conn_string(redis_url, namespace=namespace) as saver:
        saver.setup()
        saver.setup()  # idempotent: nothing to create on Redis
        graph = chat_graph(saver.for_user("alice"))
        graph.invoke({"messages": [HumanMessage("hi")]}, cfg("t-conn"))
        assert len(graph.get_state(cfg("t-conn")).values["messages"]) == 2
        assert saver.for_user("alice").delete_user_threads() == 1
    assert saver.connections._client is None  # closed on exit
    bad = redis_url.rsplit("/", 1)[0] + "/x"
    with pytest.raises(ConfigurationError, match="not a number"), saver.from_conn_string(bad):
        pass


@pytest.mark.redis
async def test_from_conn_string_async_use(redis_url, namespace):
    from langchain_sessionmem.checkpoint import RedisCheckpointSaver

    with RedisCheckpointSaver.from_conn_string(redis_url, namespace=namespace) as saver:
        await saver.asetup()
        graph = chat_graph(saver)
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, cfg("t-aconn"))
        assert [t.thread_id for t in await saver.alist_threads()] == ["t-aconn"]
        assert await saver.adelete_user_threads() == 1
        await saver.connections.aclose()
