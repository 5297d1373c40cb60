"""Security properties on Redis, checked on the raw keys: an erase leaves nothing of the user.

Every key of the test's namespace is read by SCAN (fine in a test, never in the package) and its
name and every stored byte are searched for the user's id and the text markers it wrote.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from conftest import stores_on
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

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


def raw_dump(client: Any, namespace: str) -> list[tuple[bytes, bytes]]:
    """(key name, every byte stored under it) for each key of the namespace, on every node."""
    out = []
    for key in client.scan_iter(match=f"*{namespace}*", count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            parts = [client.get(key) or b""]
        elif kind == "hash":
            parts = [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == "list":
            parts = client.lrange(key, 0, -1)
        elif kind == "set":
            parts = list(client.smembers(key))
        elif kind == "zset":
            parts = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        else:
            raise AssertionError(f"unexpected key type {kind} of {key!r}")
        out.append((key, b"\n".join(parts)))
    return out


def found(dump: list[tuple[bytes, bytes]], needles: list[str]) -> list[tuple[bytes, str]]:
    return [
        (key, needle)
        for key, data in dump
        for needle in needles
        if needle.encode() in key or needle.encode() in data
    ]


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("noted: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def fill(store: Any, user: str, marker: str, *, runs: bool = True) -> None:
    """Sessions with messages and state, per-user state, a data key and two threads."""
    for sid in ("s1", f"s-{marker}"):
        history = store.history(sid, user_id=user)
        history.add_messages([HumanMessage(f"{marker} said {sid}"), AIMessage(f"{marker} ok")])
        assert history.cas_state(0, {"summary": f"{marker} summary"})
    history = store.history("s1", user_id=user)
    assert history.cas_user_state(0, {"entities": {"Zed": f"{marker} entity"}})
    store.engine.create_user_key(user, f"wrapped-{marker}".encode())
    graph = chat_graph(store.checkpointer(user_id=user))
    for tid in ("t1", f"t-{marker}"):
        meta = {"metadata": {"run_id": f"run-{marker}"}} if runs else {}
        graph.invoke(
            {"messages": [HumanMessage(f"{marker} thread {tid}")]},
            {"configurable": {"thread_id": tid}, **meta},
        )


def test_erase_leaves_no_key_or_byte_of_the_user(make_store, namespace):
    store = make_store()
    alice, bob = "alice-" + uuid.uuid4().hex[:8], "bob-" + uuid.uuid4().hex[:8]
    marker, other = "SECRET" + uuid.uuid4().hex[:8], "KEEP" + uuid.uuid4().hex[:8]
    fill(store, alice, marker)
    fill(store, bob, other)
    client = store.engine.client
    before = raw_dump(client, namespace)
    assert found(before, [alice]) and found(before, [marker])  # the scan sees what was written

    assert store.delete_user(alice) == 2
    after = raw_dump(client, namespace)
    assert found(after, [alice, marker]) == []
    assert store.list_sessions(alice) == [] and store.list_threads(alice) == []
    assert store.engine.get_user_key(alice) is None
    assert store.history("s1", user_id=alice).get_user_state().version == 0
    # bob keeps everything
    assert {s.session_id for s in store.list_sessions(bob)} == {"s1", f"s-{other}"}
    assert {t.thread_id for t in store.list_threads(bob)} == {"t1", f"t-{other}"}
    assert found(after, [bob]) and found(after, [other])
    assert store.engine.get_user_key(bob) == f"wrapped-{other}".encode()


async def test_async_erase_leaves_no_key_or_byte_of_the_user(make_store, namespace):
    store = make_store()
    user, marker = "carol-" + uuid.uuid4().hex[:8], "SECRET" + uuid.uuid4().hex[:8]
    fill(store, user, marker, runs=False)
    try:
        assert await store.adelete_user(user) == 2
        assert found(raw_dump(store.engine.client, namespace), [user, marker]) == []
        assert await store.checkpointer(user_id=user).alist_threads() == []
    finally:
        await store.aclose()


def test_a_user_key_is_created_once(make_store):
    """Two processes racing to create a user's data key end up with the same key."""
    store = make_store()
    engine = store.engine
    user = "dave-" + uuid.uuid4().hex[:8]
    assert engine.get_user_key(user) is None
    first = engine.create_user_key(user, b"k1" + os.urandom(8))
    assert engine.create_user_key(user, b"k2" + os.urandom(8)) == first
    assert engine.get_user_key(user) == first
    assert engine.delete_user(user) == 0
    assert engine.get_user_key(user) is None
