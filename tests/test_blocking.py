"""No blocking call inside the event loop, on every engine, caught by blockbuster.

langchain-core runs its own history tests under this guard; on Redis they found redis-py 8 reading
its package metadata (a file stat) for each new asyncio connection. Here every async history
method and a LangGraph checkpointer run under ``blockbuster_ctx()`` on each engine: a file, socket,
sleep or lock call that blocks the loop raises ``BlockingError`` and fails the test. SQLite and
memory do their I/O in worker threads (fine: the guard only watches the loop's thread).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import backends
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

blockbuster = pytest.importorskip("blockbuster")
from blockbuster import BlockingError, blockbuster_ctx  # noqa: E402

ENGINES = backends.params()  # every engine, the Redis Cluster included


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return backends.url_for(request.param, request, tmp_path)


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def store(request: pytest.FixtureRequest, url: str, namespace: str):
    """A store on ``url``; encrypted with per-user data keys (fetched and created async too)."""
    from conftest import erase_redis_namespace

    from langchain_sessionmem import SessionStore

    options: dict[str, Any] = {}
    if request.param:
        pytest.importorskip("cryptography")
        from langchain_sessionmem.crypto import Keyring

        options["encryption"] = Keyring({"k1": os.urandom(32)}, "k1", per_user_keys=True)
    store = SessionStore.from_url(url, namespace=namespace, allow_anonymous=True, **options)
    yield store
    store.close()
    if url.startswith("redis://"):
        erase_redis_namespace(url, namespace)
    elif url.startswith("postgresql://"):
        from postgres_helpers import drop_namespace

        drop_namespace(url, namespace)


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


async def test_the_guard_catches_a_blocking_call():
    """The guard is live: the same context fails on a file stat or a sleep inside the loop."""
    with blockbuster_ctx(), pytest.raises(BlockingError):
        os.stat(__file__)
    with blockbuster_ctx(), pytest.raises(BlockingError):
        time.sleep(0.001)


async def test_redis_py_itself_blocks_when_it_opens_a_connection(request):
    """The cause on Redis: a plain redis-py asyncio client stats its package metadata on connect.
    (Skipped once redis-py stops doing that; our clients must not do it either way.)"""
    request.getfixturevalue("redis_url")
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        with blockbuster_ctx():
            await client.ping()
    except BlockingError as exc:
        assert "os.stat" in str(exc) or "read" in str(exc)
    else:
        pytest.skip("this redis-py no longer makes a blocking call per connection")
    finally:
        await client.aclose()


async def test_no_blocking_call_in_the_loop(store: Any):
    """Every async history method and a checkpointed graph, on fresh connections of this loop."""
    sid, tid = "s-" + uuid.uuid4().hex[:6], "t-" + uuid.uuid4().hex[:6]
    graph = chat_graph(store.checkpointer(user_id="alice"))  # sync setup, before the guard
    with blockbuster_ctx():
        history = store.history(sid, user_id="alice")
        await history.aadd_messages([HumanMessage("hello"), AIMessage("hi there")])
        assert [m.content for m in await history.atail(1)] == ["hi there"]
        assert len(await history.aget_messages()) == 2
        assert [s.session_id for s in await store.alist_sessions("alice")] == [sid]
        config = {"configurable": {"thread_id": tid}}
        await graph.ainvoke({"messages": [HumanMessage("remember me")]}, config)
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == ["remember me", "echo: remember me"]
        assert await store.adelete_session(sid, user_id="alice") is True
        assert await store.alist_sessions("alice") == []
    await store.aclose()


def test_no_blocking_call_on_a_second_loop(store: Any):
    """A second event loop opens its own connections: they must not block either."""

    async def turn(text: str) -> int:
        with blockbuster_ctx():
            history = store.history("s-loops", user_id="bob")
            await history.aadd_messages([HumanMessage(text)])
            return len(await history.aget_messages())

    assert asyncio.run(turn("first")) == 1
    assert asyncio.run(turn("second")) == 2
