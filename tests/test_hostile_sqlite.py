"""Hostile input and damaged storage on the memory, SQLite and PostgreSQL engines and savers.

Every public method either works or raises a SessionMemoryError subclass naming the problem
(never a driver's OverflowError / UnicodeEncodeError / ProgrammingError, nor a RecursionError,
AttributeError or ValueError from a damaged record), and one damaged record never hides the
healthy ones. A hypothesis run throws generated ids, payloads and bounds at each
(``SESSIONMEM_FUZZ_EXAMPLES`` sets how many per test; 60 by default). Redis: test_redis_hostile.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import store_url_for, stores_on
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import (
    CorruptDataError,
    InvalidArgumentError,
    InvalidIdError,
    SerializationError,
    SessionMemoryError,
)
from langchain_sessionmem.records import EncodedMessage, SessionKey

FUZZ = settings(
    max_examples=int(os.environ.get("SESSIONMEM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE_TEXT = st.sampled_from(
    ["\ud800", "a\udcffb", "a\x00b", "", " ", "x" * 300, "{x}", "a|b", "%7C", "é", "t-1", "'; --"]
)
IDS = HOSTILE_TEXT | st.text(max_size=20) | st.integers() | st.none() | st.binary(max_size=8)
BOUNDS = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([0, 1, -1, 2**63, -(2**63), 2**64])
    | st.none()
    | st.booleans()
    | st.floats(allow_nan=True)
    | st.text(max_size=3)
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def works_or_typed(call: Callable[[], Any]) -> Any:
    """Run ``call``: any exception must be a SessionMemoryError (the test fails otherwise)."""
    try:
        result = call()
        return list(result) if isinstance(result, Iterator) else result
    except SessionMemoryError:
        return None


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": [value]}
    return value


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: Any, **extra: Any) -> dict:
    return {"configurable": {"thread_id": thread_id, **extra}}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[Any]:
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as make:
        yield make(allow_anonymous=True)


@pytest.fixture
def sqlite_store(tmp_path: Path, namespace: str) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'damaged.db'}"
    with SessionStore.from_url(url, namespace=namespace, allow_anonymous=True) as store:
        yield store


# -- generated input ------------------------------------------------------------------------------
@FUZZ
@given(session=IDS, user=IDS, k=BOUNDS, end=BOUNDS, message_id=IDS, data=st.binary(max_size=8))
def test_engine_primitives_work_or_raise_typed_errors(
    store: Any, session: Any, user: Any, k: Any, end: Any, message_id: Any, data: bytes
) -> None:
    engine = store.engine
    key = SessionKey(session, user)
    good = SessionKey("fuzz-session", "fuzz-user")
    kept = SessionKey("kept-session", "bystander-of-the-fuzz")
    engine.append(kept, [EncodedMessage("k-1", b"kept")])
    calls = [
        lambda: engine.append(key, [EncodedMessage("m-2", b"x")]),
        lambda: engine.append(good, [EncodedMessage(message_id, data)]),
        lambda: engine.append(good, message_id),
        lambda: engine.tail(key, k),
        lambda: engine.tail(good, k),
        lambda: engine.range(good, k, end),
        lambda: engine.count(key),
        lambda: engine.pop(key, k),
        lambda: engine.get_state(key),
        lambda: engine.cas_state(good, k, data),
        lambda: engine.get_user_state(user),
        lambda: engine.cas_user_state(user, k, data),
        lambda: engine.get_user_key(user),
        lambda: engine.create_user_key(user, data),
        lambda: engine.list_sessions(user, limit=k, after=session),
        lambda: engine.list_sessions("fuzz-user", limit=k, after=session),
        lambda: engine.delete_session(key),
        lambda: engine.delete_user(user),
    ]
    for call in calls:
        works_or_typed(call)
    # a bystander session is never touched by hostile calls on others
    assert engine.tail(kept, None) == [(1, b"kept")]


@FUZZ
@given(
    thread=IDS,
    ns=IDS,
    checkpoint_id=IDS,
    limit=BOUNDS,
    metadata=st.dictionaries(st.text(max_size=5) | HOSTILE_TEXT, JSON, max_size=3),
    filter=st.dictionaries(st.text(max_size=5) | HOSTILE_TEXT, JSON, max_size=2) | IDS,
    channel=IDS,
    value=JSON,
    version=BOUNDS,
    compact=st.booleans(),
)
def test_saver_methods_work_or_raise_typed_errors(
    store: Any,
    thread: Any,
    ns: Any,
    checkpoint_id: Any,
    limit: Any,
    metadata: Any,
    filter: Any,
    channel: Any,
    value: Any,
    version: Any,
    compact: bool,
) -> None:
    saver = store.checkpointer(user_id="fuzzer")
    bystander = store.checkpointer(user_id="bystander")
    kept = {"configurable": {"thread_id": "kept", "checkpoint_ns": ""}}
    if bystander.get_tuple(kept) is None:
        chat_graph(bystander).invoke({"messages": [HumanMessage("safe")]}, cfg("kept"))
    config = cfg(thread, checkpoint_ns=ns)
    checkpoint = {**empty_checkpoint(), "id": checkpoint_id, "channel_values": {channel: value}}
    if compact:  # LangGraph 1.x's shape, stored as a compact header, with hostile names in it
        del checkpoint["pending_sends"]
        checkpoint["channel_versions"] = {channel: version}
        checkpoint["versions_seen"] = {channel: {channel: version}}
        checkpoint["updated_channels"] = [channel]
    stored = works_or_typed(lambda: saver.put(config, checkpoint, metadata, {channel: version}))
    target = stored or cfg(thread, checkpoint_ns=ns, checkpoint_id=checkpoint_id)
    calls = [
        lambda: saver.put(config, checkpoint, metadata, {"messages": 1}),
        lambda: saver.put_writes(target, [(channel, value)], str(thread)),
        lambda: saver.put_writes(target, value, "task"),
        lambda: saver.get_tuple(target),
        lambda: saver.get_tuple(thread),
        lambda: saver.list(config, filter=filter, limit=limit),
        lambda: saver.list(None, filter=filter, before=target, limit=limit),
        lambda: saver.list(None, filter={filter: 1} if isinstance(filter, str) else None),
        lambda: saver.get_delta_channel_history(config=target, channels=[channel]),
        lambda: saver.get_delta_channel_history(config=target, channels=channel),
        lambda: saver.thread_info(thread),
        lambda: saver.copy_thread(thread, "copy"),
        lambda: saver.prune([thread]),
        lambda: saver.prune(thread),
        lambda: saver.delete_for_runs([thread]),
        lambda: saver.delete_for_runs(thread),
        lambda: saver.delete_thread(thread),
        lambda: saver.list_threads(),
    ]
    for call in calls:
        works_or_typed(call)
    assert [m.content for m in bystander.get_tuple(kept).checkpoint["channel_values"]["messages"]][
        0
    ] == "safe"


async def test_async_twins_raise_the_same_typed_errors(store: Any) -> None:
    saver = store.checkpointer(user_id="fuzzer")
    with pytest.raises(InvalidIdError):
        await saver.adelete_thread(123)
    with pytest.raises(InvalidIdError):
        await saver.aget_tuple(cfg("\ud800"))
    with pytest.raises(InvalidArgumentError):
        [t async for t in saver.alist(cfg("t"), limit="10")]
    with pytest.raises(InvalidArgumentError):
        await store.engine.atail(SessionKey("s", "u"), 2.5)


# -- the cases the fuzzing found, by name ---------------------------------------------------------
@pytest.mark.parametrize(
    "versions, seen",
    [
        ({b"": 1}, {}),  # a name that is not text: list() failed with a bare TypeError on SQLite
        ({"messages": b"1"}, {}),
        ({"messages": None}, {}),
        ({"messages": "1"}, {"node": {"messages": [1]}}),
        ({"messages": "1"}, {"node": ["messages"]}),
        ({"\ud800": "1"}, {}),
    ],
)
def test_checkpoints_with_damaged_versions_are_refused_at_put(store: Any, versions, seen) -> None:
    saver = store.checkpointer(user_id="alice")
    chat_graph(saver).invoke({"messages": [HumanMessage("safe")]}, cfg("t"))
    before, stored = saver.get_tuple(cfg("t")), len(list(saver.list(cfg("t"))))
    checkpoint = {**empty_checkpoint(), "channel_versions": versions, "versions_seen": seen}
    with pytest.raises((InvalidArgumentError, InvalidIdError)):
        saver.put(cfg("t"), checkpoint, {}, {"messages": 1})
    assert len(list(saver.list(cfg("t")))) == stored
    assert saver.get_tuple(cfg("t")).checkpoint == before.checkpoint


def test_non_str_and_hostile_ids_are_invalid_id_errors(store: Any) -> None:
    saver = store.checkpointer(user_id="alice")
    for bad in (123, None, b"t", 1.5, "\ud800", "a\x00b", "x" * 300):
        with pytest.raises(InvalidIdError):
            saver.delete_thread(bad)
        with pytest.raises(InvalidIdError):
            saver.get_tuple(cfg(bad))
        with pytest.raises(InvalidIdError):
            store.engine.tail(SessionKey(bad, "alice"), 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="list"):
        saver.prune("t-1")  # one id, not a list: never pruned letter by letter
    with pytest.raises(InvalidIdError, match="surrogate"):
        saver.get_tuple(cfg("t", checkpoint_ns="\udcff"))


def test_an_empty_append_adds_nothing_and_keeps_the_session(store: Any) -> None:
    key = SessionKey("s", "alice")  # found on PostgreSQL: an empty batch raised a KeyError
    assert store.engine.append(key, []) == 0
    assert store.engine.append(key, [EncodedMessage("m-1", b"x")]) == 1
    assert store.engine.append(key, ()) == 0
    assert store.engine.tail(key, None) == [(1, b"x")]


def test_huge_and_negative_bounds_work(store: Any) -> None:
    history = store.history("s", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(3)])
    engine, key = store.engine, SessionKey("s", "alice")
    assert [seq for seq, _ in engine.tail(key, 2**70)] == [1, 2, 3]
    assert engine.tail(key, -5) == [] and engine.tail(key, 0) == []
    assert [seq for seq, _ in engine.range(key, -(2**70), 2**70)] == [1, 2, 3]
    assert engine.range(key, 2**70, None) == []
    assert engine.list_sessions("alice", limit=2**70)[0].session_id == "s"
    saver = store.checkpointer(user_id="alice")
    chat_graph(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
    assert len(list(saver.list(cfg("t"), limit=2**70))) == 3
    assert list(saver.list(cfg("t"), limit=-1)) == []
    for bad in ("2", 2.0, True):
        with pytest.raises(InvalidArgumentError):
            engine.tail(key, bad)
        with pytest.raises(InvalidArgumentError):
            list(saver.list(cfg("t"), limit=bad))
    assert engine.pop(key, 2**70) and engine.count(key) == 0


def test_deeply_nested_payloads_are_serialization_errors(store: Any) -> None:
    saver = store.checkpointer(user_id="alice")
    deep = nested(5000)
    checkpoint = {**empty_checkpoint(), "channel_values": {"payload": deep}}
    with pytest.raises(SerializationError):
        saver.put(cfg("t"), checkpoint, {}, {"payload": 1})
    with pytest.raises(SerializationError, match="deep"):
        saver.put(cfg("t"), empty_checkpoint(), {"deep": deep}, {})
    stored = saver.put(cfg("t"), empty_checkpoint(), {}, {})
    with pytest.raises(SerializationError):
        saver.put_writes(stored, [("payload", deep)], "task")
    assert list(saver.list(cfg("t"), filter={"deep": deep})) == []


def test_filter_keys_never_reach_the_sql(store: Any) -> None:
    saver = store.checkpointer(user_id="alice")
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("x")]}, {**cfg("t"), "metadata": {"k'ey": "v"}})
    for key in ("a') OR 1=1 --", "x' OR '1'='1", "$.step"):
        assert list(saver.list(None, filter={key: 1})) == []
    assert len(list(saver.list(None, filter={"k'ey": "v"}))) == 3
    assert list(saver.list(None, filter={"k'ey": "\ud800"})) == []


# -- damaged storage (SQLite: rows edited by hand) ------------------------------------------------
def _thread(store: Any, tid: str = "t") -> Any:
    saver = store.checkpointer(user_id="alice")
    graph = chat_graph(saver)
    for turn in range(2):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg(tid))
    return saver


def _cold(store: Any) -> Any:
    """A saver without a log cache (another process) on the same file."""
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver

    return SqliteCheckpointSaver(connections=store.engine.connections, namespace=store.namespace)


def _corrupt(store: Any, sql: str, *params: Any) -> None:
    with store.engine.connections.connection() as conn:
        conn.execute(sql, params)


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE {ck} SET ckpt = x'c1c1c1'",  # bytes that are no msgpack
        "UPDATE {ck} SET ckpt = x'05'",  # a record that decodes to an int
        "UPDATE {ck} SET type = 7",  # a type tag that is no text
        "UPDATE {ck} SET metadata = '{{nope'",  # metadata that is no JSON
        "UPDATE {ck} SET metadata = '[1, 2]'",  # JSON that is no object
        "UPDATE {ck} SET parent_id = x'05' WHERE parent_id IS NOT NULL",
        "UPDATE {bl} SET blob = 'x:y' WHERE type = 'sm.logref'",  # a damaged log reference
        "UPDATE {bl} SET blob = x'ff00' WHERE type = 'sm.logref'",
        "UPDATE {bl} SET blob = x'c1' WHERE type != 'sm.logref' AND type != 'empty'",
        "DELETE FROM {lg} WHERE seq = 1",  # a log item gone
        "UPDATE {lg} SET blob = NULL",
    ],
)
def test_damaged_checkpoint_records_are_corrupt_data_errors(sqlite_store: Any, damage: str) -> None:
    saver = _thread(sqlite_store)
    s = saver.sql
    _corrupt(sqlite_store, damage.format(ck=s.ckpts, bl=s.blobs, lg=s.logs))
    cold = _cold(sqlite_store).for_user("alice")
    outcomes = []
    for call in (
        lambda: cold.get_tuple(cfg("t")),
        lambda: list(cold.list(cfg("t"))),
        lambda: list(cold.list(None, filter={"source": "loop"})),
        lambda: cold.get_delta_channel_history(config=cfg("t"), channels=["messages"]),
        lambda: cold.prune(["t"]),
    ):
        try:
            call()
            outcomes.append("ok")
        except CorruptDataError as exc:
            outcomes.append(str(exc))
    assert outcomes[1] != "ok", outcomes  # listing every checkpoint meets the damage: typed


def test_a_damaged_pending_write_is_a_corrupt_data_error(sqlite_store: Any) -> None:
    saver = sqlite_store.checkpointer(user_id="alice")
    stored = saver.put(cfg("t"), empty_checkpoint(), {}, {})
    saver.put_writes(stored, [("messages", "x")], "task")
    _corrupt(sqlite_store, f"UPDATE {saver.sql.writes} SET idx = 'zero'")
    with pytest.raises(CorruptDataError, match="pending write"):
        saver.get_tuple(cfg("t"))


def test_one_damaged_session_never_hides_the_healthy_ones(sqlite_store: Any, caplog: Any) -> None:
    for sid in ("s1", "s2", "s3"):
        sqlite_store.history(sid, user_id="alice").add_messages([HumanMessage(sid)])
    sessions = f'"{sqlite_store.namespace}_sessions"'
    _corrupt(
        sqlite_store, f"UPDATE {sessions} SET created_at = 'yesterday' WHERE session_id = 's2'"
    )
    with caplog.at_level(logging.WARNING):
        listed = sqlite_store.list_sessions(user_id="alice")
    assert sorted(i.session_id for i in listed) == ["s1", "s3"]
    assert "s2" in caplog.text and "damaged" in caplog.text
    assert sqlite_store.history("s2", user_id="alice").messages[0].content == "s2"


def test_count_follows_the_rows_after_one_disappears(sqlite_store: Any) -> None:
    history = sqlite_store.history("s", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(4)])
    messages = f'"{sqlite_store.namespace}_messages"'
    _corrupt(sqlite_store, f"DELETE FROM {messages} WHERE seq = 2")
    assert history.count() == 3 == len(history.messages)
    assert sqlite_store.list_sessions(user_id="alice")[0].message_count == 3
    history.add_messages([HumanMessage("after")])  # no seq is ever reused
    assert [e.seq for e in history.range_entries(1)] == [1, 3, 4, 5]
    assert history.count() == 4


def test_many_ids_in_one_append(sqlite_store: Any) -> None:
    """More ids than SQLite binds in one statement: the dedup lookup takes them as one array."""
    key = SessionKey("big", "alice")
    batch = [EncodedMessage(f"id-{i}", b"x") for i in range(40_000)]
    assert sqlite_store.engine.append(key, batch) == 40_000
    assert sqlite_store.engine.append(key, batch[:10]) == 0
    assert sqlite_store.engine.count(key) == 40_000


def test_list_threads_skips_damaged_rows(sqlite_store: Any, caplog: Any) -> None:
    saver = _thread(sqlite_store)
    _thread(sqlite_store, "t2")
    from langchain_sessionmem.checkpoint.config import thread_key

    _corrupt(
        sqlite_store,
        f"UPDATE {saver.sql.threads} SET created_at = 'x' WHERE thread_id = ?",
        thread_key("alice", "t2"),
    )
    with caplog.at_level(logging.WARNING):
        assert [t.thread_id for t in saver.list_threads()] == ["t"]
    assert "t2" in caplog.text
