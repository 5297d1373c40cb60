"""Put plans and the linear log (checkpoint/linear.py): what one put writes, without storage."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from langchain_sessionmem.checkpoint.config import thread_key
from langchain_sessionmem.checkpoint.linear import (
    LOGREF,
    LogCache,
    decode_ref,
    encode_ref,
    new_log_id,
    plan_put,
)
from langchain_sessionmem.checkpoint.serde import default_serde
from langchain_sessionmem.checkpoint.values import SEALED, ValueCodec, log_place
from langchain_sessionmem.errors import CorruptDataError, InvalidArgumentError, InvalidIdError

SERDE = default_serde()
KEY = thread_key("alice", "t")


def put(cache: LogCache, messages: list, *, codec: Any = SERDE, version: str = "1") -> Any:
    """Plan a put of ``messages`` and commit it as an engine would after writing it."""
    checkpoint = {**empty_checkpoint(), "channel_values": {"messages": messages, "n": 1}}
    plan = plan_put(
        codec,
        cache,
        {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
        checkpoint,
        {"step": 1},
        {"messages": version, "n": version},
        key=KEY,
    )
    plan.commit(cache)
    return plan


def test_first_put_logs_every_item_and_references_the_log() -> None:
    cache = LogCache()
    plan = put(cache, [HumanMessage("a", id="1"), AIMessage("b", id="2")])
    app = plan.appends["messages"]
    assert (app.start, len(app.items)) == (0, 2) and plan.key == KEY and plan.thread_id == "t"
    assert plan.blobs[("messages", "1")] == encode_ref(app.log_id, 2)
    assert plan.blobs[("n", "1")][0] == "msgpack"  # not a list: stored as one value


def test_an_append_writes_only_the_new_items() -> None:
    cache = LogCache()
    first = put(cache, [HumanMessage("a", id="1"), AIMessage("b", id="2")])
    value = [*first.appends["messages"].value, HumanMessage("c", id="3")]
    second = put(cache, value, version="2")
    app = second.appends["messages"]
    assert app.log_id == first.appends["messages"].log_id
    assert (app.start, len(app.items), app.length) == (2, 1, 3)


def test_equal_copies_count_as_unchanged() -> None:
    """A graph passes back decoded copies of what it read: equal items append, no rewrite."""
    cache = LogCache()
    first = put(cache, [HumanMessage("a", id="1")])
    copy = SERDE.loads_typed(SERDE.dumps_typed(first.appends["messages"].value[0]))
    app = put(cache, [copy, HumanMessage("b", id="2")], version="2").appends["messages"]
    assert app.start == 1


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.tool_calls[0]["args"].update(query="changed"),  # LangGraph's HITL edit
        lambda m: setattr(m, "content", "changed"),
        lambda m: m.additional_kwargs.update(note="x"),
        lambda m: m.response_metadata.update(model="y"),
    ],
)
def test_an_in_place_edit_of_an_earlier_item_starts_a_fresh_log(edit: Any) -> None:
    cache = LogCache()
    call = {"id": "c1", "name": "search", "args": {"query": "original"}}
    message = AIMessage("", id="ai", tool_calls=[call])
    first = put(cache, [HumanMessage("q", id="1"), message])
    edit(message)  # the very object the log holds, edited after it was stored
    app = put(cache, [HumanMessage("q", id="1"), message], version="2").appends["messages"]
    assert app.start == 0 and app.log_id != first.appends["messages"].log_id
    assert SERDE.loads_typed(app.items[1]) == message


def test_removals_and_rewrites_start_a_fresh_log() -> None:
    cache = LogCache()
    first = put(cache, [HumanMessage("a", id="1"), HumanMessage("b", id="2")])
    for value in (
        [HumanMessage("b", id="2")],
        [HumanMessage("x", id="1"), HumanMessage("b", id="2")],
    ):
        app = put(cache, value, version="2").appends["messages"]
        assert app.start == 0 and app.log_id != first.appends["messages"].log_id


def test_plain_values_are_compared_without_serializing() -> None:
    cache = LogCache()
    put(cache, ["a", "b", 3])
    assert put(cache, ["a", "b", 3, None], version="2").appends["messages"].start == 3


def test_a_rebase_stores_the_full_value_in_a_new_log() -> None:
    cache = LogCache()
    put(cache, [HumanMessage("a", id="1")])
    plan = put(cache, [HumanMessage("a", id="1"), HumanMessage("b", id="2")], version="2")
    old = plan.appends["messages"].log_id
    plan.rebase("messages")  # another writer grew the log meanwhile
    app = plan.appends["messages"]
    assert (app.start, len(app.items)) == (0, 2) and app.log_id != old
    assert plan.blobs[("messages", "2")] == encode_ref(app.log_id, 2)


def test_sealed_items_are_bound_to_their_log_position() -> None:
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring, Sealer

    sealer = Sealer(Keyring({"k1": os.urandom(32)}, "k1"), "ns", "alice")
    codec = ValueCodec(SERDE, sealer)
    cache = LogCache()
    plan = put(cache, [HumanMessage("secret", id="1"), HumanMessage("more", id="2")], codec=codec)
    app = plan.appends["messages"]
    assert all(t[0].endswith(SEALED) and b"secret" not in t[1] for t in app.items)
    assert plan.ckpt[0].endswith(SEALED) and plan.blobs[("messages", "1")][0] == LOGREF
    place = log_place(KEY, "", app.log_id, 0)
    assert codec.load(app.items[0], "item", "t", place).content == "secret"
    with pytest.raises(CorruptDataError):
        codec.load(app.items[0], "item", "t", log_place(KEY, "", app.log_id, 1))  # moved
    # an append after a sealed put still detects the unchanged prefix (digests are of plaintext)
    grown = put(cache, [*app.value, HumanMessage("3", id="3")], codec=codec, version="2")
    assert grown.appends["messages"].start == 2


def test_log_ids_come_from_the_os_not_uuid4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=0))
    assert len({new_log_id() for _ in range(100)}) == 100


def test_log_references_round_trip_and_reject_damage() -> None:
    assert decode_ref(encode_ref("abc", 7)[1]) == ("abc", 7)
    for bad in (b"abc", b"abc:x", b":3", b"abc:-1", b"\xff:1", "abc:1"):
        with pytest.raises(CorruptDataError):
            decode_ref(bad)  # type: ignore[arg-type]


def test_log_cache_is_a_bounded_lru() -> None:
    cache = LogCache(maxsize=2)
    for i in range(3):
        put_key = (f"k{i}", "", "messages")
        cache.set(put_key, object())  # type: ignore[arg-type]
    assert cache.get(("k0", "", "messages")) is None and cache.get(("k2", "", "messages"))
    cache.drop_thread("k2")
    assert cache.get(("k2", "", "messages")) is None and cache.get(("k1", "", "messages"))


def test_bad_puts_are_typed_errors() -> None:
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(InvalidIdError):
        plan_put(SERDE, LogCache(), config, {**empty_checkpoint(), "id": 5}, {}, {})
    with pytest.raises(InvalidIdError, match="channel"):
        plan_put(SERDE, LogCache(), config, empty_checkpoint(), {}, {"a\x00b": 1})
    with pytest.raises(InvalidArgumentError):
        plan_put(SERDE, LogCache(), config, "checkpoint", {}, {})  # type: ignore[arg-type]
