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
from langchain_sessionmem.errors import EngineUnavailableError

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
