"""Hostile input and damaged storage on the Redis engine and saver: typed errors, always.

Damaged storage is made the way it happens in production: a key overwritten by another program
(another type), a timestamp or record edited by hand. Every public method either works or raises
a SessionMemoryError subclass naming the problem, and one damaged record never hides the healthy
ones. A hypothesis run throws generated ids, payloads and bounds at the engine and the saver.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import pytest
from conftest import stores_on
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem.errors import (
    CorruptDataError,
    InvalidArgumentError,
    SessionMemoryError,
)
from langchain_sessionmem.records import EncodedMessage, SessionKey

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
def store(url: str, namespace: str):
    with stores_on(url, namespace) as make:
        yield make()


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: Any) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def sessions_of(store: Any, user: str, n: int = 3) -> list[str]:
    ids = [f"s{i}" for i in range(n)]
    for sid in ids:
        store.history(sid, user_id=user).add_messages([HumanMessage(f"{sid} hello")])
    return ids


# -- damaged sessions ----------------------------------------------------------------------------
def test_a_key_of_the_wrong_type_is_a_typed_error_and_hides_nothing(store, caplog):
    sessions_of(store, "alice")
    log = store.engine.keys.session("alice", "s1")[0]
    client = store.engine.client
    client.delete(log)
    client.set(log, b"written by another program")
    history = store.history("s1", user_id="alice")
    calls = [
        lambda: history.messages,
        lambda: history.tail(2),
        lambda: history.count(),
        lambda: history.add_messages([HumanMessage("more")]),
        lambda: history.range_entries(1, 3),
    ]
    for call in calls:
        with pytest.raises(CorruptDataError, match="another type of value"):
            call()
    meta = store.engine.keys.session("alice", "s2")[2]
    client.delete(meta)
    client.rpush(meta, b"not a hash")
    with caplog.at_level(logging.WARNING):
        listed = store.list_sessions("alice")
    assert [s.session_id for s in listed] == ["s0"]  # the damaged ones are skipped ...
    assert "'s1'" in caplog.text and "'s2'" in caplog.text  # ... and reported
    assert store.delete_session("s1", user_id="alice") is True  # deleting always works
    history.add_messages([HumanMessage("afresh")])
    assert [m.content for m in history.messages] == ["afresh"]


def test_non_numeric_timestamps_skip_one_session(store, caplog):
    sessions_of(store, "bob")
    meta = store.engine.keys.session("bob", "s0")[2]
    store.engine.client.hset(meta, mapping={"created": "yesterday", "updated": "NaN?"})
    with caplog.at_level(logging.WARNING):
        assert {s.session_id for s in store.list_sessions("bob")} == {"s1", "s2"}
    assert "s0" in caplog.text
    assert store.delete_user("bob") == 3


def test_a_damaged_state_version_is_a_typed_error(store):
    sessions_of(store, "carol", 1)
    history = store.history("s0", user_id="carol")
    history.cas_state(0, {"summary": "x"})
    client, keys = store.engine.client, store.engine.keys
    client.hset(keys.session("carol", "s0")[3], "v", "seven")
    with pytest.raises(CorruptDataError, match="not a number"):
        history.get_state()
    client.set(keys.user_state("carol"), b"a string")
    with pytest.raises(CorruptDataError):
        history.get_user_state()
    client.delete(keys.index("carol"))
    client.set(keys.index("carol"), b"a string")
    with pytest.raises(CorruptDataError, match="sessions"):
        store.list_sessions("carol")


def test_huge_and_negative_bounds_on_the_engine(store):
    engine, key = store.engine, SessionKey("s0", "dave")
    engine.append(key, [EncodedMessage(f"m{i}", f"x{i}".encode()) for i in range(5)])
    assert [seq for seq, _ in engine.tail(key, 10**30)] == [1, 2, 3, 4, 5]
    assert [seq for seq, _ in engine.range(key, -(10**30), 10**30)] == [1, 2, 3, 4, 5]
    assert engine.range(key, 10**30, None) == []
    assert engine.tail(key, 0) == []
    for bad in (-1, 1.5, "3", True, None):
        if bad is None:
            continue
        with pytest.raises(InvalidArgumentError):
            engine.tail(key, bad)
    with pytest.raises(InvalidArgumentError):
        engine.range(key, "1", None)
    with pytest.raises(SessionMemoryError):
        engine.append(SessionKey(42, "dave"), [])  # type: ignore[arg-type]


# -- damaged threads -----------------------------------------------------------------------------
def test_damaged_threads_raise_typed_errors_and_hide_no_other(store, caplog):
    saver = store.checkpointer(user_id="erin")
    graph = chat_graph(saver)
    for tid in ("t-ok", "t-record", "t-type", "t-stamp"):
        graph.invoke({"messages": [HumanMessage(f"in {tid}")]}, cfg(tid))
    client = saver.client
    record = saver.keys.thread("t-record")[2]  # :c, checkpoint records
    for field in client.hkeys(record):
        client.hset(record, field, b"\xc1 not msgpack")
    index = saver.keys.thread("t-type")[1]  # :i, checkpoint index
    client.delete(index)
    client.set(index, b"a string")
    client.hset(saver.keys.thread("t-stamp")[0], "created", "a while ago")
    for tid in ("t-record", "t-type"):
        with pytest.raises(CorruptDataError):
            saver.get_tuple(cfg(tid))
        with pytest.raises(CorruptDataError):
            list(saver.list(cfg(tid)))
    with pytest.raises(CorruptDataError):
        saver.thread_info("t-stamp")
    with caplog.at_level(logging.WARNING):
        listed = {t.thread_id for t in saver.list_threads()}
    assert listed == {"t-ok", "t-record"}  # damaged counts and stamps are skipped, and reported
    assert "'t-stamp'" in caplog.text and "'t-type'" in caplog.text
    assert len(graph.get_state(cfg("t-ok")).values["messages"]) == 2
    assert saver.delete_user_threads() == 4  # an erase goes through damaged keys too
    assert saver.list_threads() == []
    ns = store.namespace
    assert not [k for k in client.scan_iter(match=f"*{ns}*") if b"erin" in k]


def test_bad_arguments_to_the_saver_are_typed(store):
    saver = store.checkpointer(user_id="frank")
    chat_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
    bad_calls = [
        lambda: saver.get_tuple(cfg(None)),
        lambda: saver.get_tuple(cfg(12)),
        lambda: saver.get_tuple(cfg("x" * 10_000)),
        lambda: saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": 5}}),
        lambda: list(saver.list(cfg("t"), limit="3")),
        lambda: list(saver.list(cfg("t"), filter=["source"])),
        lambda: list(saver.list(cfg("t"), before={"configurable": {"checkpoint_id": {}}})),
        lambda: list(saver.list({"configurable": 7})),
        lambda: saver.delete_thread(None),
        lambda: saver.delete_thread(b"t"),
        lambda: saver.copy_thread("t", 3),
        lambda: saver.prune("t"),
        lambda: saver.prune(["t"], strategy="everything"),
        lambda: saver.thread_info(["t"]),
    ]
    for call in bad_calls:
        with pytest.raises(SessionMemoryError):
            call()
    assert len(list(saver.list(cfg("t"), limit=10**40))) == 3
    assert list(saver.list(cfg("t"), limit=-5)) == []
    assert len(list(saver.list(cfg("t"), filter={"step": 10**30}))) == 0


# -- generated input -----------------------------------------------------------------------------
ids = st.one_of(
    st.text(min_size=0, max_size=300),
    st.sampled_from(["{x}", "}", "a|b", "%7B", "\x00", "\ud800", "*", "#" + "0" * 40, " "]),
    st.integers(),
    st.none(),
    st.binary(max_size=8),
)
bounds = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=3)
)
payloads = st.recursive(
    st.one_of(st.text(max_size=50), st.integers(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
SETTINGS = settings(
    max_examples=int(os.environ.get("SESSIONMEM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def typed_or_works(call: Any) -> Any:
    try:
        return call()
    except SessionMemoryError:
        return None


@SETTINGS
@given(sid=ids, uid=ids, text=st.text(max_size=200), k=bounds, start=bounds, end=bounds)
def test_generated_input_to_the_engine(store, sid, uid, text, k, start, end):
    bystander = store.history("bystander", user_id="zoe")
    if not bystander.count():
        bystander.add_messages([HumanMessage("keep me")])
    engine = store.engine
    key = SessionKey(sid, uid)  # type: ignore[arg-type]
    message = EncodedMessage(text or "id", text.encode("utf-8", "surrogatepass"))
    typed_or_works(lambda: store.history(sid, user_id=uid).add_messages([HumanMessage(text)]))
    typed_or_works(lambda: engine.append(key, [message]))
    typed_or_works(lambda: engine.tail(key, k))
    typed_or_works(lambda: engine.range(key, start, end))
    typed_or_works(lambda: engine.count(key))
    typed_or_works(lambda: engine.get_state(key))
    typed_or_works(lambda: engine.cas_state(key, k, text.encode("utf-8", "surrogatepass")))
    typed_or_works(lambda: engine.list_sessions(uid))
    typed_or_works(lambda: engine.delete_session(key))
    assert [m.content for m in bystander.messages] == ["keep me"]
    assert [s.session_id for s in store.list_sessions("zoe")] == ["bystander"]


@SETTINGS
@given(tid=ids, uid=ids, payload=payloads, limit=bounds, other=ids)
def test_generated_input_to_the_saver(store, tid, uid, payload, limit, other):
    keeper = store.checkpointer(user_id="yan")
    if keeper.get_tuple(cfg("kept")) is None:
        chat_graph(keeper).invoke({"messages": [HumanMessage("keep me")]}, cfg("kept"))
    saver = typed_or_works(lambda: store.checkpointer(user_id=uid))
    if saver is None:
        return
    graph = chat_graph(saver)
    text = payload if isinstance(payload, str) else repr(payload)
    typed_or_works(lambda: graph.invoke({"messages": [HumanMessage(text)]}, cfg(tid)))
    typed_or_works(lambda: saver.get_tuple(cfg(tid)))
    typed_or_works(lambda: list(saver.list(cfg(tid), limit=limit)))
    typed_or_works(lambda: list(saver.list(None, filter={"step": payload})))
    typed_or_works(lambda: saver.thread_info(tid))
    typed_or_works(lambda: saver.copy_thread(tid, other))
    typed_or_works(lambda: saver.prune([tid, other]))
    typed_or_works(lambda: saver.delete_for_runs([tid]))
    typed_or_works(lambda: saver.list_threads())
    typed_or_works(lambda: saver.delete_thread(tid))
    state = chat_graph(keeper).get_state(cfg("kept")).values["messages"]
    assert [m.content for m in state] == ["keep me", "echo: keep me"]


def test_erase_after_generated_threads(store):
    """What the generated runs wrote under their owners can still be listed and erased."""
    saver = store.checkpointer(user_id="gen-" + uuid.uuid4().hex[:6])
    for tid in ["{x}", "a|b", "}{", "%7B", "t" * 256]:
        chat_graph(saver).invoke({"messages": [HumanMessage("x")]}, cfg(tid))
    assert len(saver.list_threads()) == 5
    assert saver.delete_user_threads() == 5 and saver.list_threads() == []
