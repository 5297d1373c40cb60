"""The HTTP app: sessions belong to the authenticated user, whatever ids the client sends."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "fastapi",
    reason="the server extra is not installed: pip install 'langchain-sessionmem[server]'",
)

from fakes import ScriptedChatModel
from fastapi.testclient import TestClient
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_sessionmem import with_session_memory
from langchain_sessionmem.server import bearer_tokens, create_app, owner_config

ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}


@pytest.fixture
def model():
    return ScriptedChatModel(script=lambda messages: f"seen {len(messages)} messages")


@pytest.fixture
def client(store, model):
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = with_session_memory(
        prompt | model, store, input_messages_key="input", history_messages_key="history"
    )
    app = create_app(
        chain, store, authenticate=bearer_tokens({"token-alice": "alice", "token-bob": "bob"})
    )
    with TestClient(app) as client:
        yield client


def test_turns_are_stored_under_the_authenticated_user(client, store, model):
    reply = client.post(
        "/sessions/t1/invoke", json={"input": {"input": "My VPN is not working"}}, headers=ALICE
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"]["data"]["content"] == "seen 1 messages"
    client.post("/sessions/t1/invoke", json={"input": {"input": "And?"}}, headers=ALICE)
    assert [m.text for m in store.history("t1", user_id="alice").messages] == [
        "My VPN is not working",
        "seen 1 messages",
        "And?",
        "seen 3 messages",
    ]


def test_client_cannot_choose_another_user(client, store):
    client.post("/sessions/t1/invoke", json={"input": {"input": "alice's secret"}}, headers=ALICE)
    forged = client.post(
        "/sessions/t1/invoke",
        json={"input": {"input": "hi"}, "config": {"configurable": {"user_id": "alice"}}},
        headers=BOB,
    )
    assert forged.status_code == 403
    # bob naming the same session id reaches his own, empty session
    client.post("/sessions/t1/invoke", json={"input": {"input": "hi"}}, headers=BOB)
    bob_view = client.get("/sessions/t1/messages", headers=BOB).json()
    assert [m["data"]["content"] for m in bob_view] == ["hi", "seen 1 messages"]
    assert len(store.history("t1", user_id="alice").messages) == 2


def test_unauthenticated_requests_are_refused(client):
    assert client.post("/sessions/t1/invoke", json={"input": {"input": "hi"}}).status_code == 401
    assert client.get("/sessions", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_listing_deleting_and_erasing_are_per_user(client, store):
    for session in ("a", "b"):
        client.post(f"/sessions/{session}/invoke", json={"input": {"input": "x"}}, headers=ALICE)
    client.post("/sessions/c/invoke", json={"input": {"input": "y"}}, headers=BOB)
    assert sorted(s["session_id"] for s in client.get("/sessions", headers=ALICE).json()) == [
        "a",
        "b",
    ]
    assert client.delete("/sessions/c", headers=ALICE).json() == {"deleted": False}  # bob's stays
    assert client.delete("/sessions/a", headers=ALICE).json() == {"deleted": True}
    assert client.delete("/me", headers=ALICE).json() == {"deleted_sessions": 1}
    assert client.get("/sessions", headers=ALICE).json() == []
    assert [s["session_id"] for s in client.get("/sessions", headers=BOB).json()] == ["c"]


def test_stream_sends_chunks_and_stores_one_message(client, store):
    with client.stream(
        "POST", "/sessions/s/stream", json={"input": {"input": "hello"}}, headers=ALICE
    ) as response:
        body = "".join(response.iter_text())
    assert body.count("event: data") >= 3 and body.rstrip().endswith("data: {}")
    stored = store.history("s", user_id="alice").messages
    assert [type(m).__name__ for m in stored] == ["HumanMessage", "AIMessage"]
    assert stored[1].text == "seen 1 messages"


def test_bad_session_id_is_a_clear_422(client):
    reply = client.post(
        "/sessions/" + "x" * 300 + "/invoke", json={"input": {"input": "hi"}}, headers=ALICE
    )
    assert reply.status_code == 422 and "256" in reply.text


async def test_owner_config_for_langserve_stamps_and_refuses():
    from starlette.requests import Request

    modify = owner_config(bearer_tokens({"tok": "alice"}))

    def request(token: str) -> Request:
        return Request(
            {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
        )

    config = await modify({"configurable": {"session_id": "s"}}, request("tok"))
    assert config["configurable"] == {"session_id": "s", "user_id": "alice"}
    with pytest.raises(Exception, match="403|user_id"):
        await modify({"configurable": {"user_id": "bob"}}, request("tok"))
