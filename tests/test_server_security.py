"""Issue 8 §1 over HTTP: no config key or route lets bob reach alice's thread or session."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "fastapi",
    reason="the server extra is not installed: pip install 'langchain-sessionmem[server]'",
)

from fakes import ScriptedChatModel
from fastapi.testclient import TestClient
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableLambda
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import ANONYMOUS, with_session_memory
from langchain_sessionmem.server import bearer_tokens, create_app, owner_config

ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}
SECRET = "alice-secret-4711"


def graph_chain(store, checkpointer):
    """A served LangGraph chain whose reply repeats everything its thread holds."""
    model = ScriptedChatModel(
        script=lambda messages: "thread: " + " / ".join(m.text for m in messages)
    )
    builder = StateGraph(MessagesState)
    builder.add_node("chat", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(START, "chat")
    graph = builder.compile(checkpointer=checkpointer)

    def turn(variables: dict, config) -> object:
        return graph.invoke({"messages": [HumanMessage(variables["input"])]}, config)["messages"][
            -1
        ]

    return with_session_memory(
        RunnableLambda(turn), store, input_messages_key="input", history_messages_key="history"
    )


@pytest.fixture(params=["prefixed", "lent"])
def served(request, store):
    """The app in both thread modes: thread ids prefixed with the caller, or the caller's saver."""
    saver = store.checkpointer(user_id=ANONYMOUS)
    lent = request.param == "lent"
    if lent and not hasattr(saver, "list_threads"):
        pytest.skip("this saver has no per-user threads yet (CONTRACTS §1)")
    app = create_app(
        graph_chain(store, saver),
        store,
        authenticate=bearer_tokens({"token-alice": "alice", "token-bob": "bob"}),
        checkpointer=saver if lent else None,
        metrics=False,
    )
    with TestClient(app) as client:
        yield client, request.param


def turn(client, session, text, headers, **configurable):
    body = {"input": text, "config": {"configurable": configurable}}
    return client.post(f"/sessions/{session}/invoke", json=body, headers=headers)


def reply_text(reply) -> str:
    assert reply.status_code == 200, reply.text
    return reply.json()["output"]["data"]["content"]


def test_bob_cannot_reach_alices_thread_through_any_config_key(served, store):
    client, mode = served
    first = turn(client, "a1", f"my secret is {SECRET}", ALICE, thread_id="t-alice")
    assert SECRET in reply_text(first)
    assert SECRET in reply_text(turn(client, "a1", "again", ALICE, thread_id="t-alice"))
    stored = store.checkpointer(user_id="alice" if mode == "lent" else ANONYMOUS)
    alice_config = {"configurable": {"thread_id": "t-alice" if mode == "lent" else "alice|t-alice"}}
    checkpoint_id = stored.get_tuple(alice_config).config["configurable"]["checkpoint_id"]

    attempts = [
        {"thread_id": "t-alice"},
        {"thread_id": "alice|t-alice"},  # the server-side form of alice's thread
        {"thread_id": "t-alice", "checkpoint_id": checkpoint_id},
        {"thread_id": "t-alice", "checkpoint_ns": ""},
        {"thread_id": "t-alice", "session_id": "b1"},
    ]
    for configurable in attempts:
        reply = turn(client, "b1", "what do you know?", BOB, **configurable)
        assert SECRET not in reply.text, configurable
        assert reply.status_code in (200, 422), reply.text
    for configurable in (
        {"user_id": "alice", "thread_id": "t-alice"},
        {"session_id": "a1"},
        {"__pregel_checkpointer": "x"},
        {"checkpoint_map": "x"},
    ):
        reply = turn(client, "b1", "what do you know?", BOB, **configurable)
        assert reply.status_code in (403, 422), reply.text
        assert SECRET not in reply.text
    for session in store.list_sessions(user_id="bob"):
        assert all(
            SECRET not in m.text for m in store.history(session.session_id, user_id="bob").messages
        )


def test_bob_cannot_read_or_delete_alices_session_through_any_route(served, store):
    client, _ = served
    reply_text(turn(client, "a1", f"my secret is {SECRET}", ALICE))
    assert client.get("/sessions/a1/messages", headers=BOB).status_code == 404
    assert client.delete("/sessions/a1", headers=BOB).status_code == 404
    assert client.get("/sessions", headers=BOB).json() == []
    with client.stream("POST", "/sessions/a1/stream", json={"input": "hi"}, headers=BOB) as reply:
        assert SECRET not in "".join(reply.iter_text())
    assert store.history("a1", user_id="alice").count() == 2
    assert SECRET in client.get("/sessions/a1/messages", headers=ALICE).text


@pytest.mark.parametrize("served", ["lent"], indirect=True)
def test_erasing_the_caller_erases_the_threads_of_the_served_graph(served, store):
    client, _ = served
    reply_text(turn(client, "a1", f"my secret is {SECRET}", ALICE, thread_id="t-alice"))
    reply_text(turn(client, "b1", "bob's turn", BOB, thread_id="t-alice"))
    assert [t.thread_id for t in store.list_threads(user_id="alice")] == ["t-alice"]
    assert client.delete("/me", headers=ALICE).status_code == 200
    assert store.list_threads(user_id="alice") == []
    assert [t.thread_id for t in store.list_threads(user_id="bob")] == ["t-alice"]


async def test_owner_config_scopes_threads_and_drops_other_keys():
    from starlette.requests import Request

    modify = owner_config(bearer_tokens({"tok": "bob"}), configurable_keys=("model",))
    request = Request({"type": "http", "headers": [(b"authorization", b"Bearer tok")]})
    config = await modify(
        {
            "configurable": {"thread_id": "t-alice", "checkpoint_id": "c1", "model": "small"},
            "recursion_limit": 10_000,
            "tags": ["x"],
        },
        request,
    )
    assert config == {
        "configurable": {
            "user_id": "bob",
            "thread_id": "bob|t-alice",
            "checkpoint_id": "c1",
            "model": "small",
        },
        "tags": ["x"],
    }
    for bad in ({"__pregel_checkpointer": "x"}, {"checkpoint_map": {}}, {"model": {"a": 1}}):
        with pytest.raises(Exception, match="422"):
            await modify({"configurable": bad}, request)
    with pytest.raises(Exception, match="422"):
        await modify({"configurable": "not an object"}, request)
