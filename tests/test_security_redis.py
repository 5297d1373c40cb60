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


def fill(store: Any, user: str, marker: str, *, runs: bool = True, tag: str = "") -> None:
    """Sessions with messages and state, per-user state, a data key and two threads; ids carry
    ``tag`` (default: the marker; ids are never encrypted)."""
    tag = tag or marker
    for sid in ("s1", f"s-{tag}"):
        history = store.history(sid, user_id=user)
        history.add_messages([HumanMessage(f"{marker} said {sid}"), AIMessage(f"{marker} ok")])
        assert history.cas_state(0, {"summary": f"{marker} summary"})
    history = store.history("s1", user_id=user)
    assert history.cas_user_state(0, {"entities": {"Zed": f"{marker} entity"}})
    if store.encryption is None:
        store.engine.create_user_key(user, f"wrapped-{marker}".encode())
    graph = chat_graph(store.checkpointer(user_id=user))
    for tid in ("t1", f"t-{tag}"):
        meta = {"metadata": {"run_id": f"run-{tag}"}} if runs else {}
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


# -- encryption at rest (issue 8 §3) ---------------------------------------------------------------
def _keyring(per_user: bool = False) -> Any:
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring

    return Keyring({"k1": KEY}, "k1", per_user_keys=per_user)


KEY = os.urandom(32)


@pytest.mark.parametrize("per_user", [False, True], ids=["keyring", "per-user-keys"])
def test_encrypted_storage_holds_no_plaintext(make_store, namespace, per_user):
    store = make_store(encryption=_keyring(per_user))
    user, marker = "hana-" + uuid.uuid4().hex[:6], "ZEBRA" + uuid.uuid4().hex[:8]
    fill(store, user, marker, tag="x")
    saver = store.checkpointer(user_id=user)
    tuple_ = saver.get_tuple({"configurable": {"thread_id": "t1"}})
    writes = [("messages", [HumanMessage(f"{marker} pending")])]
    saver.put_writes(tuple_.config, writes, "task-1")
    copy = f"copy-{uuid.uuid4().hex[:4]}"
    saver.copy_thread("t1", copy)  # re-sealed for the copy's place
    saver.prune(["t-x"])
    graph = chat_graph(saver)
    for tid in ("t1", copy):
        contents = [
            m.content
            for m in graph.get_state({"configurable": {"thread_id": tid}}).values["messages"]
        ]
        assert contents == [f"{marker} thread t1", f"noted: {marker} thread t1"]
    assert saver.get_tuple(tuple_.config).pending_writes[0][2][0].content == f"{marker} pending"
    assert [m.content for m in store.history("s1", user_id=user).messages][0] == f"{marker} said s1"
    dump = raw_dump(store.engine.client, namespace)
    assert found(dump, [user])  # the scan sees the user's keys ...
    assert found(dump, [marker]) == []  # ... and no plaintext of what the user wrote
    assert store.delete_user(user) == 2
    assert found(raw_dump(store.engine.client, namespace), [user]) == []


async def test_encrypted_async_paths(make_store, namespace):
    store = make_store(encryption=_keyring(per_user=True))
    user, marker = "ivan-" + uuid.uuid4().hex[:6], "OKAPI" + uuid.uuid4().hex[:8]
    try:
        saver = store.checkpointer(user_id=user)
        graph = chat_graph(saver)
        config = {"configurable": {"thread_id": "t"}}
        await graph.ainvoke({"messages": [HumanMessage(f"{marker} async")]}, config)
        await saver.acopy_thread("t", "t-copy")
        await saver.aprune(["t"])
        for tid in ("t", "t-copy"):
            state = await graph.aget_state({"configurable": {"thread_id": tid}})
            assert state.values["messages"][0].content == f"{marker} async"
        assert found(raw_dump(store.engine.client, namespace), [marker]) == []
    finally:
        await store.aclose()


def test_a_sealed_value_copied_into_another_thread_fails(make_store):
    """Alice's ciphertext written over bob's (same thread id, same channel): bob's read fails
    with CorruptDataError and never shows her text."""
    from langchain_sessionmem.errors import CorruptDataError

    store = make_store(encryption=_keyring())
    alice, bob = store.checkpointer(user_id="alice"), store.checkpointer(user_id="bob")
    config = {"configurable": {"thread_id": "t"}}
    chat_graph(alice).invoke({"messages": [HumanMessage("alice's secret")]}, config)
    chat_graph(bob).invoke({"messages": [HumanMessage("bob's text")]}, config)
    client = store.engine.client

    def pairs(at: int, role: Any) -> list[tuple[bytes, bytes, bytes]]:
        """(bob's field, alice's value, bob's value) of fields that play the same role."""
        a, b = (sorted(client.hgetall(s.keys.thread("t")[at]).items()) for s in (alice, bob))
        theirs = {role(n, f): v for n, (f, v) in enumerate(a)}
        return [(f, theirs[role(n, f)], v) for n, (f, v) in enumerate(b) if role(n, f) in theirs]

    roles = {
        2: lambda n, f: n,  # the nth checkpoint
        4: lambda n, f: (f.split(b"\0")[1], f.split(b"\0")[2][:12]),  # same channel and step
        7: lambda n, f: f.split(b"\0")[1],  # the log item at the same position
    }
    reader = make_store(encryption=_keyring()).checkpointer(user_id="bob")  # no cached logs
    moved = 0
    for at, part in roles.items():
        mine = bob.keys.thread("t")[at]
        for field, theirs, saved in pairs(at, part):
            if theirs.split(b"\0", 1)[0].endswith(b"+sealed") or at == 2:
                client.hset(mine, field, theirs)
                with pytest.raises(CorruptDataError):
                    list(reader.list(config))
                client.hset(mine, field, saved)
                moved += 1
    assert moved >= 3
    # a value moved to another record of the same thread fails too
    logs = bob.keys.thread("t")[7]
    items = sorted(client.hgetall(logs).items())
    assert len(items) >= 2
    client.hset(logs, items[0][0], items[1][1])
    with pytest.raises(CorruptDataError):
        chat_graph(make_store(encryption=_keyring()).checkpointer(user_id="bob")).get_state(config)


def test_an_encrypted_thread_needs_its_key(make_store, namespace):
    from langchain_sessionmem import SessionStore
    from langchain_sessionmem.errors import KeyUnavailableError

    store = make_store(encryption=_keyring())
    config = {"configurable": {"thread_id": "t"}}
    chat_graph(store.checkpointer(user_id="jo")).invoke({"messages": [HumanMessage("x")]}, config)
    plain = SessionStore.from_url(
        store.engine.connections.url, namespace=namespace, allow_anonymous=True
    )
    try:
        with pytest.raises(KeyUnavailableError):
            plain.checkpointer(user_id="jo").get_tuple(config)
    finally:
        plain.close()


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_encrypted_conformance(url, namespace, sync):
    """LangGraph's 81 conformance tests with every stored value sealed."""
    import redis.asyncio as aredis
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster
    from test_checkpoint_conformance import run_conformance

    from langchain_sessionmem.checkpoint import RedisCheckpointSaver

    plain = url.replace("redis+cluster://", "redis://")
    if url.startswith("redis+cluster://"):
        clients = {
            "client": RedisCluster.from_url(plain),
            "aclient": AsyncRedisCluster.from_url(plain),
        }
    else:
        clients = {"client": redis.Redis.from_url(url), "aclient": aredis.Redis.from_url(url)}
    saver = RedisCheckpointSaver(**clients, namespace=namespace, encryption=_keyring())
    try:
        await run_conformance("sessionmem-redis-encrypted", lambda: saver, sync=sync)
    finally:
        saver.delete_user_threads()
        await saver.connections.aclient.aclose()
        saver.client.close()
