"""with_session_memory against real engines: save rules, bounded reads, isolation, shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import backends
import pytest
from fakes import ScriptedChatModel, numbered
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda

from langchain_sessionmem import ConfigurationError, with_session_memory

ENGINES = backends.params("memory", "sqlite", "redis", "postgres")


@pytest.fixture(params=ENGINES)
def store(request, tmp_path, namespace):
    with backends.stores_on(backends.url_for(request.param, request, tmp_path), namespace) as make:
        yield make()


def cfg(session: str = "s1", user: str | None = "alice") -> dict[str, Any]:
    return {"configurable": {"session_id": session, "user_id": user}}


def prompt_chain(model: ScriptedChatModel):
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpdesk."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return prompt | model


def texts(messages) -> list[str]:
    return [m.text for m in messages]


class CountingEngine:
    """Observes the real engine and counts its calls (it forwards every call unchanged)."""

    def __init__(self, engine):
        self._engine = engine
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._engine, name)
        if callable(attr):

            def counted(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


def test_seed_scenario_each_session_sees_only_its_own_history(store):
    """Two users report different issues; asked later, each model call holds only its own session."""

    def answer(messages):
        asked = [m.text for m in messages if isinstance(m, HumanMessage)]
        if "?" not in asked[-1]:
            return "noted"
        reports = [text for text in asked if "?" not in text]
        return f"You reported: {reports[0]}" if reports else "no report in this session"

    model = ScriptedChatModel(script=answer)
    chain = with_session_memory(
        prompt_chain(model), store, input_messages_key="input", history_messages_key="history"
    )
    chain.invoke({"input": "My VPN is not working"}, cfg("vpn", "alice"))
    chain.invoke({"input": "I cannot access email"}, cfg("email", "bob"))
    alice = chain.invoke({"input": "What issue did I report?"}, cfg("vpn", "alice"))
    bob = chain.invoke({"input": "What issue did I report?"}, cfg("email", "bob"))

    assert alice.content == "You reported: My VPN is not working"
    assert bob.content == "You reported: I cannot access email"
    alice_prompt, bob_prompt = model.prompts[2], model.prompts[3]
    assert "I cannot access email" not in " ".join(texts(alice_prompt))
    assert "My VPN is not working" not in " ".join(texts(bob_prompt))
    assert texts(alice_prompt) == [
        "You are a helpdesk.",
        "My VPN is not working",
        "noted",
        "What issue did I report?",
    ]
    # the same session id under another user is another session
    assert store.history("vpn", user_id="bob").messages == []


def test_invoke_stores_input_and_output_once(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=numbered())),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    chain.invoke({"input": "hello"}, cfg())
    stored = store.history("s1", user_id="alice").messages
    assert [type(m) for m in stored] == [HumanMessage, AIMessage]
    assert texts(stored) == ["hello", "reply number 1"]
    assert all(m.id for m in stored)


async def test_ainvoke_batch_and_abatch_record_each_turn_once(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=numbered())),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    await chain.ainvoke({"input": "a"}, cfg("s-a"))
    chain.batch([{"input": "b1"}, {"input": "b2"}], [cfg("s-b1"), cfg("s-b2")])
    await chain.abatch([{"input": "c1"}, {"input": "c2"}], [cfg("s-c1"), cfg("s-c2")])
    for session, text in [
        ("s-a", "a"),
        ("s-b1", "b1"),
        ("s-b2", "b2"),
        ("s-c1", "c1"),
        ("s-c2", "c2"),
    ]:
        history = store.history(session, user_id="alice")
        stored = await history.aget_messages()
        assert len(stored) == 2 and stored[0].text == text and isinstance(stored[1], AIMessage)
    await store.aclose()


def test_stream_stores_one_merged_ai_message(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=lambda m: "one two three")),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    chunks = list(chain.stream({"input": "hi"}, cfg()))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks if c.content] == ["one", " two", " three"]
    stored = store.history("s1", user_id="alice").messages
    assert [type(m) for m in stored] == [HumanMessage, AIMessage]
    assert stored[1].content == "one two three"
    assert "interrupted" not in stored[1].response_metadata


async def test_astream_stores_one_merged_ai_message(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=lambda m: "one two three")),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    chunks = [c async for c in chain.astream({"input": "hi"}, cfg())]
    assert "".join(c.content for c in chunks) == "one two three"
    stored = await store.history("s1", user_id="alice").aget_messages()
    assert [type(m) for m in stored] == [HumanMessage, AIMessage]
    assert stored[1].content == "one two three"
    await store.aclose()


def test_stream_stopped_early_stores_partial_marked_interrupted(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=lambda m: "one two three four")),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    stream = chain.stream({"input": "hi"}, cfg())
    next(stream)
    next(stream)
    stream.close()
    stored = store.history("s1", user_id="alice").messages
    assert texts(stored) == ["hi", "one two"]
    assert type(stored[1]) is AIMessage and stored[1].response_metadata["interrupted"] is True


async def test_astream_stopped_early_stores_partial_marked_interrupted(store):
    chain = with_session_memory(
        prompt_chain(ScriptedChatModel(script=lambda m: "one two three four")),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    stream = chain.astream({"input": "hi"}, cfg())
    await stream.__anext__()
    await stream.aclose()
    stored = await store.history("s1", user_id="alice").aget_messages()
    assert texts(stored) == ["hi", "one"]
    assert stored[1].response_metadata["interrupted"] is True
    await store.aclose()


@pytest.mark.parametrize("keep_input", [False, True])
def test_raising_chain_stores_nothing_unless_asked(store, keep_input):
    def boom(_):
        raise RuntimeError("model down")

    chain = with_session_memory(RunnableLambda(boom), store, save_input_on_error=keep_input)
    with pytest.raises(RuntimeError, match="model down"):
        chain.invoke("hello", cfg())
    assert texts(store.history("s1", user_id="alice").messages) == (["hello"] if keep_input else [])


@pytest.mark.parametrize("keep_input", [False, True])
async def test_error_mid_stream_stores_no_partial_reply(store, keep_input):
    model = ScriptedChatModel(script=lambda m: "one two three", fail_after=2)
    chain = with_session_memory(
        prompt_chain(model),
        store,
        input_messages_key="input",
        history_messages_key="history",
        save_input_on_error=keep_input,
    )
    with pytest.raises(RuntimeError, match="mid-stream"):
        async for _ in chain.astream({"input": "hi"}, cfg()):
            pass
    with pytest.raises(RuntimeError, match="mid-stream"):
        for _ in chain.stream({"input": "hi again"}, cfg()):
            pass
    expected = ["hi", "hi again"] if keep_input else []
    assert texts(await store.history("s1", user_id="alice").aget_messages()) == expected
    await store.aclose()


def test_reads_one_bounded_window_per_turn(store):
    model = ScriptedChatModel(script=numbered())
    chain = with_session_memory(
        prompt_chain(model),
        store,
        input_messages_key="input",
        history_messages_key="history",
        max_messages=4,
    )
    history = store.history("s1", user_id="alice")
    history.add_messages(
        [HumanMessage(f"old {i}") if i % 2 == 0 else AIMessage(f"old {i}") for i in range(40)]
    )
    counting = CountingEngine(store.engine)
    store.engine = counting
    chain.invoke({"input": "now"}, cfg())
    # exactly one read (a tail of 4) and one append, never the whole history
    assert counting.calls == ["tail", "append"]
    assert texts(model.prompts[0]) == [
        "You are a helpdesk.",
        "old 36",
        "old 37",
        "old 38",
        "old 39",
        "now",
    ]


async def test_concurrent_turns_on_one_session_lose_nothing(store):
    chain = with_session_memory(ScriptedChatModel(script=numbered()), store)
    await asyncio.gather(*(chain.ainvoke([HumanMessage(f"q{i}")], cfg()) for i in range(20)))
    stored = await store.history("s1", user_id="alice").aget_messages()
    assert len(stored) == 40
    assert sorted(m.text for m in stored if isinstance(m, HumanMessage)) == sorted(
        f"q{i}" for i in range(20)
    )
    # each turn's pair is stored together: every human message is followed by its reply
    assert all(
        isinstance(stored[i], HumanMessage) and isinstance(stored[i + 1], AIMessage)
        for i in range(0, 40, 2)
    )
    await store.aclose()


def test_message_list_input_and_history_prepended(store):
    model = ScriptedChatModel(script=numbered())
    chain = with_session_memory(model, store)
    chain.invoke([SystemMessage("be brief"), HumanMessage("first")], cfg())
    chain.invoke("second", cfg())
    assert texts(model.prompts[1]) == ["be brief", "first", "reply number 1", "second"]


def test_dict_input_without_history_key_merges_history(store):
    seen = []

    def chain_body(inputs):
        seen.append(inputs)
        return {"answer": AIMessage("ok"), "other": 1}

    chain = with_session_memory(
        RunnableLambda(chain_body),
        store,
        input_messages_key="question",
        output_messages_key="answer",
    )
    chain.invoke({"question": "q1", "extra": "kept"}, cfg())
    chain.invoke({"question": "q2", "extra": "kept"}, cfg())
    assert texts(seen[1]["question"]) == ["q1", "ok", "q2"]
    assert seen[1]["extra"] == "kept"
    assert texts(store.history("s1", user_id="alice").messages) == ["q1", "ok", "q2", "ok"]


def test_window_never_starts_on_orphan_tool_message(store):
    history = store.history("s1", user_id="alice")
    history.add_messages(
        [
            HumanMessage("weather?"),
            AIMessage("", tool_calls=[{"name": "weather", "args": {}, "id": "call-1"}]),
            ToolMessage("sunny", tool_call_id="call-1"),
            AIMessage("It is sunny."),
        ]
    )
    model = ScriptedChatModel(script=numbered())
    chain = with_session_memory(model, store, max_messages=2)
    chain.invoke("thanks", cfg())
    assert texts(model.prompts[0]) == ["It is sunny.", "thanks"]


def test_config_specs_and_missing_session_id(store):
    chain = with_session_memory(ScriptedChatModel(script=numbered()), store)
    assert {spec.id for spec in chain.config_specs} >= {"session_id", "user_id"}
    with pytest.raises(ConfigurationError, match="session_id"):
        chain.invoke("hi")
    strict = with_session_memory(ScriptedChatModel(script=numbered()), store, require_user=True)
    with pytest.raises(ConfigurationError, match="user_id"):
        strict.invoke("hi", cfg(user=None))


def test_user_cannot_reach_another_users_session_through_config(store):
    chain = with_session_memory(ScriptedChatModel(script=numbered()), store)
    chain.invoke("alice's secret", cfg("shared-id", "alice"))
    model = ScriptedChatModel(script=numbered())
    with_session_memory(model, store).invoke("hi", cfg("shared-id", "bob"))
    assert texts(model.prompts[0]) == ["hi"]
    assert texts(store.history("shared-id", user_id="alice").messages) == [
        "alice's secret",
        "reply number 1",
    ]


async def test_async_history_factory(store):
    async def factory(session_id: str, user_id: str | None = None):
        await asyncio.sleep(0)
        return store.history(session_id, user_id=user_id)

    chain = with_session_memory(ScriptedChatModel(script=numbered()), factory)
    await chain.ainvoke("hi", cfg())
    assert texts(await store.history("s1", user_id="alice").aget_messages()) == [
        "hi",
        "reply number 1",
    ]
    with pytest.raises(ConfigurationError, match="async"):
        chain.invoke("hi", cfg())
    await store.aclose()


def test_one_store_serves_successive_event_loops(store):
    """asyncio.run twice with one store: Redis async clients are per event loop, not stale."""
    chain = with_session_memory(ScriptedChatModel(script=numbered()), store)
    asyncio.run(chain.ainvoke("first", cfg()))
    asyncio.run(chain.ainvoke("second", cfg()))
    assert texts(store.history("s1", user_id="alice").messages) == [
        "first",
        "reply number 1",
        "second",
        "reply number 2",
    ]
