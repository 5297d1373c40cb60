"""The codec, the id rules and the guarded LangChain import: no engine involved."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
import warnings

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from langchain_sessionmem import SessionStore, _compat
from langchain_sessionmem.codec import decode, decode_many, encode
from langchain_sessionmem.errors import (
    CorruptDataError,
    InvalidIdError,
    MessageTooLargeError,
    SerializationError,
)
from langchain_sessionmem.ids import MAX_ID_LENGTH, uuid7, validate_id, validate_user_id


# -- ids -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["a", "x" * MAX_ID_LENGTH, "ünï 日本 🚀", "a:b|c{d}%e", " spaced ", "user@example.com"]
)
def test_valid_ids_pass_unchanged(value):
    assert validate_id(value) == value
    assert validate_user_id(value) == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("x" * (MAX_ID_LENGTH + 1), "257 characters"),
        ("a\x00", "control character"),
        ("a\nb", "control character"),
        ("\x1b[31m", "control character"),
        ("a\x7f", "control character"),
        ("a\x9f", "control character"),
        (42, "must be a str"),
        (None, "must be a str"),
        (b"id", "must be a str"),
    ],
)
def test_invalid_ids_say_what_is_wrong(value, fragment):
    with pytest.raises(InvalidIdError, match=fragment) as info:
        validate_id(value, "thread_id")
    assert "thread_id" in str(info.value)


def test_anonymous_user_is_none_only():
    assert validate_user_id(None) is None
    with pytest.raises(InvalidIdError, match="user_id"):
        validate_user_id("")


def test_uuid7_is_version_7_unique_and_time_ordered():
    ids = [uuid7() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert {p.version for p in parsed} == {7}
    assert {p.variant for p in parsed} == {uuid.RFC_4122}
    stamps = [p.int >> 80 for p in parsed]
    assert stamps == sorted(stamps)  # never goes back in time
    first = uuid7()
    time.sleep(0.002)
    assert uuid7() > first  # a later millisecond sorts after


# -- codec ---------------------------------------------------------------------------------
def test_encode_assigns_ids_without_mutating_and_turns_chunks_into_messages():
    plain = HumanMessage("hi")
    chunk = AIMessageChunk(content="hel", id="c") + AIMessageChunk(content="lo")
    encoded = encode([plain, chunk])
    assert plain.id is None and isinstance(chunk, AIMessageChunk)
    assert uuid.UUID(encoded[0].id).version == 7
    assert encoded[1].id == "c"
    stored = decode(encoded[1].data, session_id="s", position=2)
    assert type(stored) is AIMessage and stored.content == "hello"
    assert json.loads(encoded[0].data)["data"]["id"] == encoded[0].id
    assert [e.generated for e in encoded] == [True, False]
    (kept,) = encode([stored])  # a message with an id keeps it
    assert kept.id == stored.id and not kept.generated


def test_decode_many_names_the_bad_record_of_a_batch():
    good = encode([HumanMessage("a"), AIMessage("b")])
    records = [(1, good[0].data), (2, b"{not json"), (3, good[1].data)]
    with pytest.raises(CorruptDataError) as failure:
        decode_many(records, session_id="s-9")
    assert failure.value.position == 2 and failure.value.session_id == "s-9"
    assert [m.text for m in decode_many([records[0], records[2]], session_id="s-9")] == ["a", "b"]


def test_encode_is_utf8_json_not_ascii_escapes():
    (encoded,) = encode([HumanMessage("日本 🚀", id="x")])
    assert "日本 🚀".encode() in encoded.data


def test_size_limit_is_exact():
    message = ToolMessage("x" * 100, tool_call_id="t", id="m")
    size = len(encode([message])[0].data)
    assert len(encode([message], max_bytes=size)) == 1
    with pytest.raises(MessageTooLargeError, match=f"{size} bytes") as info:
        encode([HumanMessage("ok"), message], max_bytes=size - 1)
    assert "message 1 (tool)" in str(info.value)


def test_encode_rejects_what_it_cannot_store():
    with pytest.raises(SerializationError, match="BaseMessage"):
        encode([{"role": "user", "content": "hi"}])  # type: ignore[list-item]
    with pytest.raises(SerializationError, match="response_metadata"):
        encode([AIMessage("x", response_metadata={"obj": object()})])


@pytest.mark.parametrize(
    "data", [b"", b"\xff", b"null", b"{}", b'{"type": "ai"}', b'{"type": "nope", "data": {}}']
)
def test_decode_failures_name_session_and_position(data):
    with pytest.raises(CorruptDataError) as info:
        decode(data, session_id="s-9", position=17)
    assert (info.value.session_id, info.value.position) == ("s-9", 17)
    assert "'s-9'" in str(info.value) and "position 17" in str(info.value)


# -- the guarded import of BaseChatMessageHistory ------------------------------------------
def test_history_is_a_langchain_chat_history_and_warns_nothing():
    from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory

    assert _compat.HAS_LANGCHAIN_CHAT_HISTORY is True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = SessionStore.from_url("memory://", allow_anonymous=True)
        history = store.history("s", user_id="alice")
        history.add_user_message("hi")
        history.add_ai_message("hello")
        assert [m.content for m in history.messages] == ["hi", "hello"]
        history.clear()
        store.close()
    assert isinstance(history, BaseChatMessageHistory)
    assert [str(w.message) for w in caught] == []
    # the recorder does see LangChain's deprecation warnings when they happen
    with warnings.catch_warnings(record=True) as control:
        warnings.simplefilter("always")
        InMemoryChatMessageHistory()
    assert any("deprecated" in str(w.message) for w in control)


def test_history_works_without_langchain_chat_history(tmp_path):
    """As on langchain-core 2.x, where ``langchain_core.chat_history`` is gone."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["langchain_core.chat_history"] = None  # any import of it now fails
        from langchain_core.messages import HumanMessage
        from langchain_sessionmem import SessionStore, _compat
        from langchain_sessionmem.history import SessionHistory
        assert _compat.HAS_LANGCHAIN_CHAT_HISTORY is False
        assert all(base.__module__.startswith("langchain_sessionmem") for base in SessionHistory.__mro__[1:-1])
        with SessionStore.from_url("sqlite:///{tmp_path}/s.db", allow_anonymous=True) as store:
            history = store.history("s", user_id="alice")
            history.add_user_message("hi")
            history.add_ai_message("hello")
            history.add_message(HumanMessage("again"))
            assert [m.content for m in history.messages] == ["hi", "hello", "again"], history.messages
            assert [m.type for m in history.tail(2)] == ["ai", "human"]
            history.clear()
            assert history.messages == []
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
