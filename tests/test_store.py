"""One behaviour suite for `SessionStore` and `SessionHistory`, run on every engine.

Engines: in-process memory, a SQLite file, in-memory SQLite, the local Redis (fresh namespace),
a throwaway three-node Redis Cluster and the local PostgreSQL (fresh table prefix). Engine-specific
properties (query plans, round trips, key TTLs, processes, pools) live in test_sqlite_engine.py,
test_redis_engine.py and test_postgres_engine.py.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import backends
import pytest
from backends import stores_on
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
    message_to_dict,
)

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import (
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    InvalidIdError,
    MessageTooLargeError,
    SerializationError,
    SessionMemoryError,
)
from langchain_sessionmem.records import SessionKey

ENGINES = backends.params("memory", "sqlite", "sqlite-mem", "redis", "cluster", "postgres")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(params=ENGINES)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def engine_url(kind: str, request: pytest.FixtureRequest, tmp_path) -> str:
    return backends.url_for(kind, request, tmp_path)


@pytest.fixture
def make_store(engine_url: str, kind: str, namespace: str, request: pytest.FixtureRequest):
    """Build stores on this test's engine and namespace; all are closed after the test."""
    with stores_on(engine_url, namespace) as make:
        yield make


@pytest.fixture
def store(make_store) -> SessionStore:
    return make_store()


@pytest.fixture
async def astore(make_store):
    """A store for async tests: redis.asyncio clients belong to the loop that made them."""
    store = make_store()
    yield store
    await store.aclose()


def sibling(store: SessionStore, **options) -> SessionStore:
    """A second store over the same engine and data, with other options (e.g. on_corrupt)."""
    return SessionStore(store.engine, namespace=store.namespace, **options)


def contents(messages: list[BaseMessage]) -> list:
    return [m.content for m in messages]


def turn(text: str, i: int | None = None) -> list[BaseMessage]:
    suffix = "" if i is None else f" {i}"
    return [HumanMessage(f"{text}{suffix}"), AIMessage(f"re: {text}{suffix}")]


# -- round trips ---------------------------------------------------------------------------
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


def every_message_type() -> list[BaseMessage]:
    streamed = (
        AIMessageChunk(content="Your VPN ", id="m-chunk")
        + AIMessageChunk(content="config is stale.", response_metadata={"finish_reason": "stop"})
        + AIMessageChunk(
            content="",
            tool_call_chunks=[
                {"name": "reset_vpn", "args": '{"user": "al', "id": "call_9", "index": 0}
            ],
        )
        + AIMessageChunk(
            content="",
            tool_call_chunks=[{"name": None, "args": 'ice"}', "id": None, "index": 0}],
            usage_metadata={"input_tokens": 7, "output_tokens": 9, "total_tokens": 16},
        )
    )
    return [
        SystemMessage("You are a help-desk assistant. Réponds en français si besoin.", id="m-sys"),
        HumanMessage(
            content=[
                {"type": "text", "text": "Ce message d'erreur — 日本語 — 🚀 ∑ \u200b zero-width"},
                {"type": "image", "base64": PNG, "mime_type": "image/png"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
            id="m-human",
            name="alice",
            additional_kwargs={"locale": "fr-FR", "nested": {"a": [1, 2.5, None, True, "x"]}},
        ),
        AIMessage(
            content="Let me check.",
            tool_calls=[
                {
                    "name": "search",
                    "args": {"q": "vpn", "k": 3},
                    "id": "call_1",
                    "type": "tool_call",
                },
                {"name": "lookup", "args": {}, "id": "call_2", "type": "tool_call"},
            ],
            invalid_tool_calls=[
                {
                    "name": "bad",
                    "args": "{not json",
                    "id": "call_3",
                    "error": "bad json",
                    "type": "invalid_tool_call",
                }
            ],
            usage_metadata={
                "input_tokens": 10,
                "output_tokens": 5,
                "total_tokens": 15,
                "input_token_details": {"cache_read": 2},
                "output_token_details": {"reasoning": 1},
            },
            response_metadata={
                "model_name": "gpt-x",
                "finish_reason": "tool_calls",
                "logprobs": None,
            },
            additional_kwargs={"refusal": None},
            id="m-ai",
            name="helpdesk",
        ),
        ToolMessage(
            content="3 results",
            tool_call_id="call_1",
            artifact={"rows": [1, 2, 3]},
            status="success",
            name="search",
            id="m-tool-1",
        ),
        ToolMessage(
            content=[{"type": "text", "text": "timeout"}],
            tool_call_id="call_2",
            status="error",
            id="m-tool-2",
        ),
        FunctionMessage(content="42", name="calc", id="m-fn"),
        ChatMessage(content="needs review", role="critic", id="m-chat"),
        RemoveMessage(id="m-old"),
        streamed,
        HumanMessage("no id given"),
    ]


def expected_after_storage(message: BaseMessage) -> BaseMessage:
    return message_chunk_to_message(message)


def assert_same_messages(got: list[BaseMessage], sent: list[BaseMessage]) -> None:
    assert len(got) == len(sent)
    for stored, original in zip(got, sent, strict=True):
        expected = expected_after_storage(original)
        if original.id is None:
            assert stored.id, "a message without id gets one on write"
            expected = expected.model_copy(update={"id": stored.id})
        assert type(stored) is type(expected)
        assert stored == expected
        assert message_to_dict(stored) == message_to_dict(expected)


def test_round_trip_every_message_type(make_store, kind):
    store = make_store()
    sent = every_message_type()
    store.history("s-rt", user_id="alice").add_messages(sent)

    # read back through a fresh store where the engine persists beyond one object
    reader = sibling(store) if kind in ("memory", "sqlite-mem") else make_store()
    history = reader.history("s-rt", user_id="alice")
    got = history.messages
    assert_same_messages(got, sent)
    streamed = got[-2]
    assert type(streamed) is AIMessage  # never stored as a chunk
    assert streamed.content == "Your VPN config is stale."
    assert streamed.tool_calls == [
        {"name": "reset_vpn", "args": {"user": "alice"}, "id": "call_9", "type": "tool_call"}
    ]
    assert streamed.usage_metadata["total_tokens"] == 16
    assert got[1].content[1]["base64"] == PNG
    assert history.tail(3) == got[-3:]


async def test_async_round_trip(astore):
    sent = every_message_type()
    history = astore.history("s-art", user_id="alice")
    await history.aadd_messages(sent[:4])
    await history.aadd_message(sent[4])
    await history.aadd_messages(sent[5:])
    got = await history.aget_messages()
    assert_same_messages(got, sent)
    assert await history.atail(2) == got[-2:]
    assert [e.seq for e in await history.atail_entries(2)] == [len(sent) - 1, len(sent)]
    assert await history.acount() == len(sent)
    await history.aclear()
    assert await history.aget_messages() == []
    assert await history.acount() == 0


def test_langchain_convenience_methods(store):
    history = store.history("s-conv")
    history.add_user_message("My VPN is not working")
    history.add_ai_message("Restart the client.")
    history.add_message(HumanMessage("Thanks"))
    assert contents(history.messages) == ["My VPN is not working", "Restart the client.", "Thanks"]
    assert [m.type for m in history.messages] == ["human", "ai", "human"]
    history.add_messages([])  # an empty batch is fine and stores nothing
    assert history.count() == 3
    history.clear()
    assert history.messages == []


# -- ids -----------------------------------------------------------------------------------
def uuid7_millis(value: str) -> int:
    parsed = uuid.UUID(value)
    assert parsed.version == 7, value
    assert parsed.variant == uuid.RFC_4122
    return parsed.int >> 80


def test_messages_without_id_get_time_ordered_uuid7(store):
    history = store.history("s-ids", user_id="alice")
    before = int(time.time() * 1000)
    for i in range(4):
        history.add_messages([HumanMessage(f"m{i}")])
        time.sleep(0.003)  # ids of different milliseconds must sort by time
    after = int(time.time() * 1000)
    ids = [m.id for m in history.messages]
    stamps = [uuid7_millis(i) for i in ids]
    assert all(before <= s <= after for s in stamps)
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert ids == sorted(ids)  # the string form sorts by time as well
    assert len(set(ids)) == 4


def test_reappending_known_ids_is_a_no_op(store):
    history = store.history("s-dedup", user_id="alice")
    batch = [HumanMessage("hi", id="h-1"), AIMessage("hello", id="a-1"), HumanMessage("anon")]
    history.add_messages(batch)
    stored = history.messages
    assert history.count() == 3

    history.add_messages(stored)  # a retried turn, ids assigned on the first write included
    history.add_messages(batch[:2])
    assert history.count() == 3
    assert history.messages == stored

    # one new message in a batch of known ones is appended alone, at the next position
    history.add_messages([*stored, HumanMessage("new", id="h-2")])
    entries = history.tail_entries(10)
    assert [(e.seq, e.message.id) for e in entries] == [
        (1, "h-1"),
        (2, "a-1"),
        (3, stored[2].id),
        (4, "h-2"),
    ]


def test_duplicate_ids_inside_one_batch_are_stored_once(store):
    history = store.history("s-dup-batch")
    history.add_messages(
        [
            HumanMessage("first", id="x"),
            HumanMessage("second", id="x"),
            AIMessage("ok", id="y"),
            AIMessage("ok again", id="y"),
        ]
    )
    assert contents(history.messages) == ["first", "ok"]
    assert history.count() == 2


def test_caller_messages_are_not_mutated(store):
    history = store.history("s-mut")
    plain = HumanMessage("no id", additional_kwargs={"k": [1]})
    chunk = AIMessageChunk(content="part", id="c-1")
    before = [copy.deepcopy(plain), copy.deepcopy(chunk)]
    history.add_messages([plain, chunk])
    assert plain.id is None
    assert type(chunk) is AIMessageChunk
    assert [plain, chunk] == before
    assert [type(m) for m in history.messages] == [HumanMessage, AIMessage]


# -- bounded reads -------------------------------------------------------------------------
def test_tail_range_and_count(store):
    history = store.history("s-tail", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(1, 11)])
    assert history.count() == 10
    assert contents(history.tail(3)) == ["m8", "m9", "m10"]
    assert [e.seq for e in history.tail_entries(3)] == [8, 9, 10]
    assert [e.message.content for e in history.tail_entries(3)] == ["m8", "m9", "m10"]
    assert history.tail(0) == []
    assert history.tail_entries(0) == []
    assert contents(history.tail(10)) == [f"m{i}" for i in range(1, 11)]
    assert contents(history.tail(500)) == [f"m{i}" for i in range(1, 11)]
    assert [e.seq for e in history.range_entries(2, 5)] == [2, 3, 4]
    assert [e.message.content for e in history.range_entries(2, 5)] == ["m2", "m3", "m4"]
    assert [e.seq for e in history.range_entries(8)] == [8, 9, 10]
    assert [e.seq for e in history.range_entries(0, 3)] == [1, 2]
    assert [e.seq for e in history.range_entries(9, 50)] == [9, 10]
    assert history.range_entries(5, 5) == []
    assert history.range_entries(1, 1) == []
    assert history.range_entries(6, 2) == []
    assert history.range_entries(11) == []
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError):
            history.tail(bad)
    # a session nobody wrote is empty, not an error
    empty = store.history("never-written", user_id="alice")
    assert empty.tail(5) == [] and empty.count() == 0 and empty.messages == []
    assert empty.range_entries(1) == []


async def test_async_tail_range_and_count(astore):
    history = astore.history("s-atail", user_id="bob")
    await history.aadd_messages([HumanMessage(f"m{i}") for i in range(1, 8)])
    assert await history.acount() == 7
    assert contents(await history.atail(2)) == ["m6", "m7"]
    assert await history.atail(0) == []
    assert len(await history.atail(100)) == 7
    assert [e.seq for e in await history.arange_entries(3, 6)] == [3, 4, 5]
    assert await history.arange_entries(4, 4) == []
    assert [e.seq for e in await history.arange_entries(6)] == [6, 7]


# -- user isolation ------------------------------------------------------------------------
def test_same_session_id_under_three_users_is_three_sessions(store):
    users = ["alice", "bob", None]
    for user in users:
        history = store.history("shared-id", user_id=user)
        history.add_messages([HumanMessage(f"I am {user}"), AIMessage(f"hello {user}")])
        history.cas_state(0, {"owner": str(user)})
    store.history("second", user_id="alice").add_messages([HumanMessage("alice's other session")])

    for user in users:
        history = store.history("shared-id", user_id=user)
        assert contents(history.messages) == [f"I am {user}", f"hello {user}"]
        assert contents(history.tail(1)) == [f"hello {user}"]
        assert history.count() == 2
        assert history.get_state().data == {"owner": str(user)}
        assert history.get_state().version == 1
    # order is tested on its own (writes in one millisecond tie on Redis): here only who sees what
    assert sorted(s.session_id for s in store.list_sessions("alice")) == ["second", "shared-id"]
    assert [s.session_id for s in store.list_sessions("bob")] == ["shared-id"]
    assert [s.session_id for s in store.list_sessions()] == ["shared-id"]
    assert all(s.user_id is None for s in store.list_sessions())
    assert all(s.user_id == "bob" for s in store.list_sessions("bob"))
    assert store.list_sessions("carol") == []

    # nobody can read or delete alice's other session through another user
    assert store.history("second", user_id="bob").messages == []
    assert store.history("second").count() == 0
    assert store.delete_session("second", user_id="bob") is False
    assert store.delete_session("second") is False
    assert store.history("second", user_id="alice").count() == 1

    # a stale compare-and-set through bob does not touch alice's state
    assert store.history("shared-id", user_id="bob").cas_state(1, {"owner": "bob v2"}) is True
    assert store.history("shared-id", user_id="alice").get_state().data == {"owner": "alice"}

    # clear() through the anonymous user deletes only the anonymous session
    store.history("shared-id").clear()
    assert store.history("shared-id").messages == []
    assert store.list_sessions() == []
    assert store.history("shared-id", user_id="alice").count() == 2
    assert store.history("shared-id", user_id="bob").count() == 2

    # deleting bob's session leaves alice's
    assert store.delete_session("shared-id", user_id="bob") is True
    assert store.history("shared-id", user_id="alice").count() == 2

    # erasing alice erases both of hers and nothing else
    store.history("shared-id", user_id="bob").add_messages([HumanMessage("bob again")])
    assert store.delete_user("alice") == 2
    assert store.list_sessions("alice") == []
    assert store.history("shared-id", user_id="alice").messages == []
    assert contents(store.history("shared-id", user_id="bob").messages) == ["bob again"]
    assert store.delete_user("alice") == 0


def test_ids_that_look_like_key_separators_stay_apart(store):
    """Ids that a naive ``prefix:user:session`` key would merge are distinct sessions."""
    pairs = [
        ("a", "b:c"),
        ("a:b", "c"),
        ("a|u=b", "c"),
        ("a", "u=b|c"),
        ("a}", "x"),
        ("{a", "x"),
        ("%3A", "x"),
        (":", "x"),
        ("%7C", "x"),
        ("|", "x"),
        ("a", "x:s:y"),
        ("a:s:x", "y"),
        ("ünï", "日本"),
        ("a b", "x"),
        ("a%", "x"),
        ("a", "%"),
        ("a", "%25"),
    ]
    for user, sid in pairs:
        store.history(sid, user_id=user).add_messages([HumanMessage(f"{user!r}/{sid!r}")])
    store.history("x").add_messages([HumanMessage("anonymous/x")])
    for user, sid in pairs:
        assert contents(store.history(sid, user_id=user).messages) == [f"{user!r}/{sid!r}"]
        assert {s.session_id for s in store.list_sessions(user)} == {
            s for u, s in pairs if u == user
        }
    assert contents(store.history("x").messages) == ["anonymous/x"]
    assert store.delete_user(":") == 1
    assert contents(store.history("x", user_id="%3A").messages) == ["'%3A'/'x'"]


async def test_async_user_isolation(astore):
    for user in ("alice", "bob"):
        await astore.history("s", user_id=user).aadd_messages([HumanMessage(user)])
    assert contents(await astore.history("s", user_id="alice").aget_messages()) == ["alice"]
    assert [s.user_id for s in await astore.alist_sessions("bob")] == ["bob"]
    assert await astore.adelete_session("s", user_id="carol") is False
    assert await astore.adelete_user("alice") == 1
    assert await astore.history("s", user_id="alice").aget_messages() == []
    assert contents(await astore.history("s", user_id="bob").aget_messages()) == ["bob"]
    assert await astore.adelete_session("s", user_id="bob") is True
    assert await astore.adelete_session("s", user_id="bob") is False


# -- listing and deleting ------------------------------------------------------------------
def test_list_sessions_fields_and_order(store):
    t0 = datetime.now(timezone.utc)
    store.history("older", user_id="alice").add_messages(turn("first"))
    time.sleep(0.01)
    store.history("newer", user_id="alice").add_messages([HumanMessage("one")])
    time.sleep(0.01)
    store.history("older", user_id="alice").add_messages([HumanMessage("again")])
    t1 = datetime.now(timezone.utc)

    sessions = store.list_sessions("alice")
    assert [s.session_id for s in sessions] == ["older", "newer"]  # newest update first
    older, newer = sessions
    assert (older.message_count, newer.message_count) == (3, 1)
    for info in sessions:
        assert info.user_id == "alice"
        assert info.expires_at is None
        assert info.created_at.tzinfo is not None
        assert t0 - timedelta(milliseconds=2) <= info.created_at <= info.updated_at
        assert info.updated_at <= t1 + timedelta(milliseconds=2)
    assert older.created_at < older.updated_at
    assert older.created_at < newer.created_at
    assert newer.updated_at < older.updated_at


def test_list_sessions_expires_at_with_ttl(make_store):
    store = make_store(ttl=timedelta(minutes=5))
    assert store.ttl == timedelta(minutes=5)
    store.history("s", user_id="alice").add_messages([HumanMessage("hi")])
    (info,) = store.list_sessions("alice")
    assert info.expires_at is not None
    assert abs((info.expires_at - info.updated_at) - timedelta(minutes=5)) < timedelta(
        milliseconds=5
    )


def test_delete_session_and_delete_user(store):
    for sid in ("a", "b", "c"):
        store.history(sid, user_id="alice").add_messages(turn(sid))
    store.history("a", user_id="bob").add_messages(turn("bob"))
    store.history("state-only", user_id="alice").cas_state(0, {"x": 1})
    assert store.delete_session("a", user_id="alice") is True
    assert store.delete_session("a", user_id="alice") is False
    assert store.history("a", user_id="alice").messages == []
    assert store.delete_user("alice") == 3  # b, c and the state-only session
    assert store.list_sessions("alice") == []
    assert store.history("state-only", user_id="alice").get_state().version == 0
    assert store.history("a", user_id="bob").count() == 2
    # the user can start over after an erase
    store.history("a", user_id="alice").add_messages([HumanMessage("fresh")])
    assert store.history("a", user_id="alice").count() == 1


def test_clear_then_reuse_restarts_positions(store):
    history = store.history("s-clear", user_id="alice")
    history.add_messages([HumanMessage("x", id="same"), AIMessage("y")])
    history.cas_state(0, {"summary": "old"})
    history.clear()
    assert history.count() == 0 and history.get_state().version == 0
    assert store.list_sessions("alice") == []
    history.add_messages([HumanMessage("x again", id="same")])  # the id is free again
    assert [(e.seq, e.message.content) for e in history.tail_entries(5)] == [(1, "x again")]


# -- TTL -----------------------------------------------------------------------------------
def test_sessions_vanish_after_ttl(make_store):
    store = make_store(ttl=timedelta(seconds=0.4))
    history = store.history("s-ttl", user_id="alice")
    history.add_messages(turn("short-lived"))
    history.cas_state(0, {"n": 1})
    store.history("s-ttl-anon").add_messages([HumanMessage("anon")])
    assert history.count() == 2 and len(store.list_sessions("alice")) == 1
    time.sleep(0.6)
    assert history.messages == []
    assert history.tail(5) == []
    assert history.count() == 0
    assert history.range_entries(1) == []
    assert history.get_state().version == 0 and history.get_state().data == {}
    assert store.list_sessions("alice") == []
    assert store.list_sessions() == []
    # writing again starts a new session: positions from 1, state from version 0
    restarted = datetime.now(timezone.utc)
    history.add_messages([HumanMessage("back")])
    assert [(e.seq, e.message.content) for e in history.tail_entries(5)] == [(1, "back")]
    (info,) = store.list_sessions("alice")
    assert info.message_count == 1
    assert info.created_at >= restarted - timedelta(milliseconds=2)


def test_deleting_an_expired_session_reports_nothing_deleted(make_store):
    """Every engine agrees: an expired session no longer exists, so deleting it deletes nothing."""
    store = make_store(ttl=timedelta(seconds=0.3))
    store.history("gone", user_id="alice").add_messages([HumanMessage("old")])
    store.history("gone-too", user_id="alice").add_messages([HumanMessage("old")])
    time.sleep(0.5)
    store.history("live", user_id="alice").add_messages([HumanMessage("new")])
    assert store.delete_session("gone", user_id="alice") is False
    assert store.delete_user("alice") == 1
    assert store.list_sessions("alice") == []


def test_refresh_on_read_slides_expiry_on_every_read(make_store):
    store = make_store(ttl=timedelta(seconds=0.5), refresh_on_read=True)
    history = store.history("s-read", user_id="alice")
    history.add_messages([HumanMessage("one")])
    history.cas_state(0, {"n": 1})
    reads = [
        lambda: history.tail(1),
        lambda: history.range_entries(1),
        history.count,
        history.get_state,
    ]
    for read in reads * 2:  # 1.6 s of reads only, each within the 0.5 s TTL of the one before
        time.sleep(0.2)
        read()
    assert contents(history.messages) == ["one"]
    assert history.get_state().data == {"n": 1}
    (info,) = store.list_sessions("alice")
    assert info.expires_at is not None and info.expires_at > info.updated_at + timedelta(seconds=1)
    time.sleep(0.7)
    assert history.messages == [] and store.list_sessions("alice") == []


async def test_async_reads_refresh_too(make_store):
    store = make_store(ttl=timedelta(seconds=0.5), refresh_on_read=True)
    history = store.history("s-aread", user_id="alice")
    try:
        await history.aadd_messages([HumanMessage("one")])
        for _ in range(4):
            await asyncio.sleep(0.2)
            await history.atail(1)
        assert await history.acount() == 1
    finally:
        await store.aclose()


def test_reads_do_not_slide_expiry_by_default(make_store):
    store = make_store(ttl=timedelta(seconds=0.5))
    history = store.history("s-noread", user_id="alice")
    history.add_messages([HumanMessage("one")])
    time.sleep(0.3)
    assert history.count() == 1
    time.sleep(0.35)  # 0.65 s after the only write
    assert history.count() == 0


def test_ttl_slides_on_every_write(make_store):
    store = make_store(ttl=timedelta(seconds=0.5))
    history = store.history("s-slide", user_id="alice")
    history.add_messages([HumanMessage("one")])
    time.sleep(0.3)
    history.add_messages([HumanMessage("two")])  # pushes expiry to ~0.8 s
    time.sleep(0.3)  # 0.6 s after the first write: it would be gone without the slide
    assert contents(history.messages) == ["one", "two"]
    assert store.list_sessions("alice")[0].message_count == 2
    time.sleep(0.5)
    assert history.messages == []
    assert store.list_sessions("alice") == []


def test_purge_expired(make_store, kind):
    store = make_store(ttl=timedelta(seconds=0.8))
    store.history("a", user_id="alice").add_messages([HumanMessage("a")])
    store.history("b").add_messages([HumanMessage("b")])
    time.sleep(0.4)
    store.history("c", user_id="alice").add_messages([HumanMessage("c")])
    time.sleep(0.55)  # a and b expired, c has about 0.25 s left
    purged = store.purge_expired()
    if kind in ("redis", "cluster"):
        assert purged == 0  # Redis expires keys itself
    else:
        assert purged == 2
        assert store.purge_expired() == 0
    assert contents(store.history("c", user_id="alice").messages) == ["c"]
    assert [s.session_id for s in store.list_sessions("alice")] == ["c"]
    assert store.history("a", user_id="alice").messages == []


async def test_async_purge_and_ttl(make_store, kind):
    store = make_store(ttl=timedelta(seconds=0.3))
    try:
        await store.history("a").aadd_messages([HumanMessage("a")])
        assert [s.session_id for s in await store.alist_sessions()] == ["a"]
        await asyncio.sleep(0.45)
        assert await store.apurge_expired() == (0 if kind in ("redis", "cluster") else 1)
        assert await store.alist_sessions() == []
        assert await store.history("a").aget_messages() == []
    finally:
        await store.aclose()


def test_invalid_ttl_is_a_configuration_error(engine_url):
    for ttl in (timedelta(0), timedelta(seconds=-1), 0, -5.0):
        with pytest.raises(ConfigurationError, match="ttl"):
            SessionStore.from_url(engine_url, ttl=ttl, allow_anonymous=True)


# -- state ---------------------------------------------------------------------------------
def test_state_compare_and_set(store):
    history = store.history("s-state", user_id="alice")
    assert history.get_state().version == 0 and history.get_state().data == {}
    assert history.cas_state(0, {"summary": "VPN issue", "watermark": 4}) is True
    state = history.get_state()
    assert (state.version, state.data) == (1, {"summary": "VPN issue", "watermark": 4})
    assert history.cas_state(0, {"summary": "stale writer"}) is False
    assert history.get_state().data == {"summary": "VPN issue", "watermark": 4}
    assert history.cas_state(1, {"summary": "ünïcode ✓", "entities": ["VPN"]}) is True
    assert history.get_state().version == 2
    assert history.get_state().data == {"summary": "ünïcode ✓", "entities": ["VPN"]}
    # state and messages are independent
    assert history.count() == 0
    history.add_messages([HumanMessage("hi")])
    assert history.get_state().version == 2


def test_update_state_and_conflicts(store):
    history = store.history("s-upd")
    assert history.update_state(lambda d: {**d, "n": d.get("n", 0) + 1}) == {"n": 1}
    assert history.update_state(lambda d: {**d, "n": d["n"] + 1}) == {"n": 2}
    assert history.update_state(lambda d: None) == {"n": 2}  # None: nothing to write
    assert history.get_state().version == 2

    def always_overtaken(data):
        current = history.get_state()
        history.cas_state(current.version, {"n": -1, "by": "someone else"})
        return {"n": 99}

    with pytest.raises(ConflictError, match="s-upd"):
        history.update_state(always_overtaken, attempts=3)
    assert history.get_state().data == {"n": -1, "by": "someone else"}


def test_state_must_be_a_json_dict(store):
    history = store.history("s-badstate")
    history.cas_state(0, {"ok": True})
    with pytest.raises(SerializationError, match="dict"):
        history.cas_state(1, ["not", "a", "dict"])
    with pytest.raises(SerializationError, match="JSON"):
        history.cas_state(1, {"when": datetime.now()})
    assert history.get_state().data == {"ok": True}
    assert history.get_state().version == 1


def test_update_state_from_many_threads_loses_nothing(store):
    history = store.history("s-counter", user_id="alice")
    threads, increments = 6, 20
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            for _ in range(increments):
                history.update_state(lambda d: {"n": d.get("n", 0) + 1}, attempts=1000)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    state = history.get_state()
    assert state.data == {"n": threads * increments}
    assert state.version == threads * increments


async def test_async_state(astore):
    history = astore.history("s-astate", user_id="alice")
    assert (await history.aget_state()).version == 0
    assert await history.acas_state(0, {"a": 1}) is True
    assert await history.acas_state(0, {"a": 2}) is False
    assert (await history.aget_state()).data == {"a": 1}

    async def bump(times):
        for _ in range(times):
            await history.aupdate_state(lambda d: {**d, "n": d.get("n", 0) + 1}, attempts=1000)

    await asyncio.gather(*(bump(10) for _ in range(8)))
    state = await history.aget_state()
    assert state.data == {"a": 1, "n": 80}
    assert state.version == 81


# -- concurrency ---------------------------------------------------------------------------
def assert_all_turns_kept_in_writer_order(history, writers: int, per_writer: int) -> None:
    entries = history.range_entries(1)
    assert [e.seq for e in entries] == list(range(1, 2 * writers * per_writer + 1))
    texts = [e.message.content for e in entries]
    assert len(texts) == 2 * writers * per_writer, "messages were lost"
    assert len({e.message.id for e in entries}) == len(entries)
    order: dict[int, list[int]] = defaultdict(list)
    for i in range(0, len(texts), 2):
        human, ai = texts[i], texts[i + 1]
        assert human.startswith("w"), (i, human)
        assert ai == f"re: {human}", "a batch was split by another writer"
        writer, n = human[1:].split(" ")
        order[int(writer)].append(int(n))
    assert order == {w: list(range(per_writer)) for w in range(writers)}


def test_concurrent_threads_on_one_session(store):
    writers, per_writer = 16, 25
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def worker(w: int):
        history = store.history("s-threads", user_id="alice")
        try:
            barrier.wait()
            for i in range(per_writer):
                history.add_messages(turn(f"w{w}", i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(w,)) for w in range(writers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    history = store.history("s-threads", user_id="alice")
    assert history.count() == 2 * writers * per_writer
    assert store.list_sessions("alice")[0].message_count == 2 * writers * per_writer
    assert_all_turns_kept_in_writer_order(history, writers, per_writer)


async def test_concurrent_tasks_on_one_session(astore):
    writers, per_writer = 32, 20
    history = astore.history("s-tasks", user_id="alice")

    async def worker(w: int):
        mine = astore.history("s-tasks", user_id="alice")
        for i in range(per_writer):
            await mine.aadd_messages(turn(f"w{w}", i))

    await asyncio.gather(*(worker(w) for w in range(writers)))
    assert await history.acount() == 2 * writers * per_writer
    assert_all_turns_kept_in_writer_order(history, writers, per_writer)


async def test_concurrent_retries_of_the_same_turn_store_it_once(astore):
    history = astore.history("s-retry")
    same_turn = [HumanMessage("q", id="turn-1-h"), AIMessage("a", id="turn-1-a")]
    await asyncio.gather(*(history.aadd_messages(same_turn) for _ in range(20)))
    assert contents(await history.aget_messages()) == ["q", "a"]


# -- bad input -----------------------------------------------------------------------------
BAD_IDS = ["", "x" * 257, "a\nb", "tab\there", "nul\x00", "del\x7f", "c1\x85", 42, b"bytes", 1.5]


def test_invalid_ids_are_rejected_and_nothing_is_lost(store):
    keep = store.history("keep", user_id="alice")
    keep.add_messages(turn("precious"))
    for bad in BAD_IDS:
        calls = {
            "history(session_id)": lambda bad=bad: store.history(bad, user_id="alice"),
            "history(user_id)": lambda bad=bad: store.history("keep", user_id=bad),
            "list_sessions": lambda bad=bad: store.list_sessions(bad),
            "delete_session(session_id)": lambda bad=bad: store.delete_session(
                bad, user_id="alice"
            ),
            "delete_session(user_id)": lambda bad=bad: store.delete_session("keep", user_id=bad),
            "delete_user": lambda bad=bad: store.delete_user(bad),
            "history_factory": lambda bad=bad: store.history_factory(user_id=bad),
            "factory call": lambda bad=bad: store.history_factory()(bad),
        }
        for name, call in calls.items():
            with pytest.raises(InvalidIdError) as info:
                call()
            assert isinstance(info.value, SessionMemoryError) and isinstance(info.value, ValueError)
            message = str(info.value)
            assert "session_id" in message or "user_id" in message, (name, message)
    with pytest.raises(InvalidIdError, match="session_id"):
        store.history(None)
    with pytest.raises(InvalidIdError, match="user_id"):
        store.delete_user(None)
    with pytest.raises(InvalidIdError, match="257 characters"):
        store.history("x" * 257)
    with pytest.raises(InvalidIdError, match="control character"):
        store.history("a\nb")
    # the longest allowed id works, and the session written before is intact
    longest = "é" * 256
    store.history(longest, user_id=longest).add_messages([HumanMessage("max")])
    assert contents(store.history(longest, user_id=longest).messages) == ["max"]
    assert contents(keep.messages) == ["precious", "re: precious"]
    assert [s.session_id for s in store.list_sessions("alice")] == ["keep"]


async def test_async_invalid_ids(astore):
    await astore.history("keep", user_id="alice").aadd_messages([HumanMessage("x")])
    for bad in ("", "x" * 257, "a\rb", 7):
        with pytest.raises(InvalidIdError):
            await astore.alist_sessions(bad)
        with pytest.raises(InvalidIdError):
            await astore.adelete_session(bad, user_id="alice")
        with pytest.raises(InvalidIdError):
            await astore.adelete_session("keep", user_id=bad)
        with pytest.raises(InvalidIdError):
            await astore.adelete_user(bad)
    assert await astore.history("keep", user_id="alice").acount() == 1


def test_oversized_message_fails_the_whole_batch(make_store):
    store = make_store(max_message_bytes=2_000)
    history = store.history("s-big", user_id="alice")
    history.add_messages(turn("before"))
    batch = [HumanMessage("small"), AIMessage("y" * 5_000), HumanMessage("after")]
    with pytest.raises(MessageTooLargeError) as info:
        history.add_messages(batch)
    message = str(info.value)
    assert "max_message_bytes=2000" in message and "message 1" in message
    assert isinstance(info.value, SessionMemoryError)
    assert contents(history.messages) == ["before", "re: before"]
    history.add_messages([AIMessage("y" * 1_500)])  # under the limit is fine
    assert history.count() == 3


async def test_async_oversized_and_unserializable(make_store):
    store = make_store(max_message_bytes=1_000)
    try:
        history = store.history("s-abig")
        with pytest.raises(MessageTooLargeError):
            await history.aadd_messages([HumanMessage("ok"), HumanMessage("z" * 2_000)])
        with pytest.raises(SerializationError):
            await history.aadd_messages(
                [HumanMessage("ok", additional_kwargs={"t": datetime.now()})]
            )
        assert await history.acount() == 0
        assert await store.alist_sessions() == []
    finally:
        await store.aclose()


def test_unserializable_message_fails_the_whole_batch(store):
    history = store.history("s-ser", user_id="alice")
    history.add_messages([HumanMessage("kept")])
    with pytest.raises(SerializationError, match="additional_kwargs") as info:
        history.add_messages(
            [HumanMessage("fine"), AIMessage("bad", additional_kwargs={"at": datetime(2024, 1, 1)})]
        )
    assert "message 1" in str(info.value)
    with pytest.raises(SerializationError, match="HumanMessage"):
        history.add_messages([HumanMessage("fine"), "just a string"])  # type: ignore[list-item]
    with pytest.raises(SerializationError):
        history.add_messages([HumanMessage("lone surrogate \ud800")])
    assert contents(history.messages) == ["kept"]
    assert history.count() == 1


def _corrupt_state(store: SessionStore, kind: str, user: str, sid: str, garbage: bytes) -> None:
    engine = store.engine
    if kind == "memory":
        engine._sessions[SessionKey(sid, user)].state = garbage
    elif kind.startswith("sqlite"):
        with engine.connections.connection() as conn:
            conn.execute(
                f'UPDATE "{store.namespace}_sessions" SET state = ? WHERE user_id = ? AND session_id = ?',
                (garbage, user, sid),
            )
    elif kind == "postgres":
        with engine.connections.connection() as conn:
            conn.execute(
                f'UPDATE "{store.namespace}_sessions" SET state = %s WHERE user_id = %s AND session_id = %s',
                (garbage, user, sid),
            )
    else:
        engine.client.hset(engine.keys.session(user, sid)[3], "data", garbage)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe not json", b'{"type": "martian", "data": {}}', b"[1, 2"],
    ids=["bytes", "unknown-type", "truncated"],
)
def test_corrupt_record_is_reported_and_the_rest_stays_readable(store, kind, garbage, caplog):
    history = store.history("s-corrupt", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(1, 6)])
    backends.corrupt_message(store, kind, "alice", "s-corrupt", 3, garbage)

    with pytest.raises(CorruptDataError) as info:
        history.messages  # noqa: B018 - the property read is the call under test
    assert info.value.session_id == "s-corrupt" and info.value.position == 3
    assert "'s-corrupt'" in str(info.value) and "position 3" in str(info.value)
    assert isinstance(info.value, SessionMemoryError)
    with pytest.raises(CorruptDataError):
        history.tail(3)
    # everything around the bad record is still there and readable
    assert contents(history.tail(2)) == ["m4", "m5"]
    assert [e.message.content for e in history.range_entries(1, 3)] == ["m1", "m2"]
    assert history.count() == 5
    # and the session keeps working
    history.add_messages([HumanMessage("m6")])
    assert [e.seq for e in history.tail_entries(1)] == [6]

    skipping = sibling(store, on_corrupt="skip").history("s-corrupt", user_id="alice")
    with caplog.at_level(logging.WARNING, logger="langchain_sessionmem"):
        assert contents(skipping.messages) == ["m1", "m2", "m4", "m5", "m6"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3" in w and "s-corrupt" in w for w in warned), warned
    assert [e.seq for e in skipping.tail_entries(4)] == [4, 5, 6]


async def test_async_corrupt_record(astore, kind):
    history = astore.history("s-acorrupt", user_id="alice")
    await history.aadd_messages([HumanMessage("a"), HumanMessage("b")])
    backends.corrupt_message(astore, kind, "alice", "s-acorrupt", 1, b"garbage")
    with pytest.raises(CorruptDataError, match="position 1"):
        await history.aget_messages()
    assert contents(await history.atail(1)) == ["b"]
    skipping = sibling(astore, on_corrupt="skip").history("s-acorrupt", user_id="alice")
    assert contents(await skipping.aget_messages()) == ["b"]


def test_corrupt_state_is_reported(store, kind):
    history = store.history("s-cstate", user_id="alice")
    history.cas_state(0, {"ok": 1})
    _corrupt_state(store, kind, "alice", "s-cstate", b"{not json")
    with pytest.raises(CorruptDataError, match="s-cstate") as info:
        history.get_state()
    assert info.value.session_id == "s-cstate"
    assert history.cas_state(1, {}) is True  # the documented way out
    assert history.get_state().data == {}


def test_bad_options_are_configuration_errors(engine_url):
    with pytest.raises(ConfigurationError, match="on_corrupt"):
        SessionStore.from_url(engine_url, on_corrupt="ignore", allow_anonymous=True)
    with pytest.raises(ConfigurationError, match="max_message_bytes"):
        SessionStore.from_url(engine_url, max_message_bytes=0, allow_anonymous=True)
    for namespace in ("", "has space", "a:b", "{tag}", "x" * 65, "-leading", "ünï", 42, None):
        with pytest.raises(ConfigurationError, match="namespace"):
            SessionStore.from_url(engine_url, namespace=namespace, allow_anonymous=True)


def test_closed_store_context_manager(make_store, kind):
    store = make_store()
    with store as same:
        assert same is store
        store.history("s").add_messages([HumanMessage("x")])
    if kind.startswith("sqlite"):
        with pytest.raises(ConfigurationError, match="closed"):
            store.history("s").messages  # noqa: B018


# -- LangChain's own RunnableWithMessageHistory --------------------------------------------
def _recording_chain(replies: list[str]):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables import RunnableLambda

    seen: list[list[BaseMessage]] = []

    def record(prompt_value):
        seen.append(prompt_value.to_messages())
        return prompt_value

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a help-desk assistant."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    return prompt | RunnableLambda(record) | FakeListChatModel(responses=replies), seen


def test_history_factory_with_runnable_with_message_history(store):
    from langchain_core.runnables.history import RunnableWithMessageHistory

    chain, seen = _recording_chain(
        ["Try reconnecting.", "You reported that your VPN is not working."]
    )
    with_history = RunnableWithMessageHistory(
        chain, store.history_factory(), input_messages_key="input", history_messages_key="history"
    )
    config = {"configurable": {"session_id": "vpn"}}
    with_history.invoke({"input": "My VPN is not working"}, config=config)
    reply = with_history.invoke({"input": "What issue did I report?"}, config=config)
    assert reply.content == "You reported that your VPN is not working."
    assert contents(seen[1][1:3]) == ["My VPN is not working", "Try reconnecting."]
    stored = store.history("vpn").messages
    assert contents(stored) == [
        "My VPN is not working",
        "Try reconnecting.",
        "What issue did I report?",
        "You reported that your VPN is not working.",
    ]
    assert [type(m) for m in stored] == [HumanMessage, AIMessage, HumanMessage, AIMessage]


def test_history_factory_with_user_scoped_config(store):
    from langchain_core.runnables import ConfigurableFieldSpec
    from langchain_core.runnables.history import RunnableWithMessageHistory

    chain, seen = _recording_chain(
        ["noted (vpn)", "noted (email)", "you said VPN", "you said email"]
    )
    with_history = RunnableWithMessageHistory(
        chain,
        store.history_factory(),
        input_messages_key="input",
        history_messages_key="history",
        history_factory_config=[
            ConfigurableFieldSpec(
                id="user_id", annotation=str, name="User ID", default="", is_shared=True
            ),
            ConfigurableFieldSpec(
                id="session_id", annotation=str, name="Session ID", default="", is_shared=True
            ),
        ],
    )

    def ask(user: str, text: str):
        config = {"configurable": {"session_id": "support", "user_id": user}}
        return with_history.invoke({"input": text}, config=config)

    ask("alice", "My VPN is not working")
    ask("bob", "I cannot access email")
    ask("alice", "What issue did I report?")
    ask("bob", "What issue did I report?")
    alice_prompt, bob_prompt = seen[2], seen[3]
    assert contents(alice_prompt[1:3]) == ["My VPN is not working", "noted (vpn)"]
    assert "I cannot access email" not in contents(alice_prompt)
    assert contents(bob_prompt[1:3]) == ["I cannot access email", "noted (email)"]
    assert "My VPN is not working" not in contents(bob_prompt)
    assert store.history("support", user_id="alice").count() == 4
    assert store.history("support", user_id="bob").count() == 4
    assert store.history("support").count() == 0
    assert [s.session_id for s in store.list_sessions("alice")] == ["support"]


def test_history_factory_bound_to_a_user(store):
    factory = store.history_factory(user_id="alice")
    factory("s").add_messages([HumanMessage("mine")])
    assert factory("s", user_id="alice").user_id == "alice"
    with pytest.raises(ConfigurationError, match="bound to user 'alice'"):
        factory("s", user_id="bob")
    assert contents(store.history("s", user_id="alice").messages) == ["mine"]
    assert store.history("s").messages == []
