"""The HTTP app: sessions belong to the authenticated user; inputs as documented; loud failures."""

from __future__ import annotations

import json

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
TOKENS = {"token-alice": "alice", "token-bob": "bob"}
PROBLEM_KEYS = {"type", "title", "status", "error", "detail"}


@pytest.fixture
def model():
    return ScriptedChatModel(script=lambda messages: f"seen {len(messages)} messages")


def make_client(store, model, **options):
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = with_session_memory(
        prompt | model, store, input_messages_key="input", history_messages_key="history"
    )
    return TestClient(create_app(chain, store, authenticate=bearer_tokens(TOKENS), **options))


@pytest.fixture
def client(store, model):
    with make_client(store, model, metrics=False) as client:
        yield client


def assert_problem(reply, status: int, error: str | None = None) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert set(problem) >= PROBLEM_KEYS and problem["status"] == status
    if error is not None:
        assert problem["error"] == error, problem
    return problem


def sse_events(body: str) -> list[tuple[str, object]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


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


@pytest.mark.parametrize(
    "payload",
    [
        "a plain string",
        [{"role": "user", "content": "a plain string"}],
        [{"type": "human", "data": {"content": "a plain string"}}],
        {"input": "a plain string"},
    ],
    ids=["string", "role-dicts", "stored-dicts", "variables"],
)
def test_every_documented_input_form_is_accepted(client, store, payload):
    reply = client.post("/sessions/forms/invoke", json={"input": payload}, headers=ALICE)
    assert reply.status_code == 200, reply.text
    stored = store.history("forms", user_id="alice").messages
    assert [m.type for m in stored] == ["human", "ai"] and stored[0].text == "a plain string"


def test_client_cannot_choose_another_user(client, store):
    client.post("/sessions/t1/invoke", json={"input": {"input": "alice's secret"}}, headers=ALICE)
    forged = client.post(
        "/sessions/t1/invoke",
        json={"input": {"input": "hi"}, "config": {"configurable": {"user_id": "alice"}}},
        headers=BOB,
    )
    assert_problem(forged, 403)
    # bob naming the same session id reaches his own, empty session
    client.post("/sessions/t1/invoke", json={"input": {"input": "hi"}}, headers=BOB)
    bob_view = client.get("/sessions/t1/messages", headers=BOB).json()
    assert [m["data"]["content"] for m in bob_view] == ["hi", "seen 1 messages"]
    assert len(store.history("t1", user_id="alice").messages) == 2


def test_unauthenticated_requests_are_refused(client):
    reply = client.post("/sessions/t1/invoke", json={"input": {"input": "hi"}})
    assert_problem(reply, 401)
    assert reply.headers["www-authenticate"] == "Bearer"
    assert_problem(client.get("/sessions", headers={"Authorization": "Bearer nope"}), 401)
    assert_problem(client.get("/me", headers={"Authorization": "Basic token-alice"}), 401)
    assert client.get("/me", headers=ALICE).json() == {"user_id": "alice"}


def test_listing_deleting_and_erasing_are_per_user(client, store):
    for session in ("a", "b"):
        client.post(f"/sessions/{session}/invoke", json={"input": {"input": "x"}}, headers=ALICE)
    client.post("/sessions/c/invoke", json={"input": {"input": "y"}}, headers=BOB)
    assert sorted(s["session_id"] for s in client.get("/sessions", headers=ALICE).json()) == [
        "a",
        "b",
    ]
    assert_problem(client.delete("/sessions/c", headers=ALICE), 404, "SessionNotFound")
    assert client.delete("/sessions/a", headers=ALICE).json() == {"deleted": True}
    assert client.delete("/me", headers=ALICE).json() == {"deleted_sessions": 1}
    assert client.get("/sessions", headers=ALICE).json() == []
    assert [s["session_id"] for s in client.get("/sessions", headers=BOB).json()] == ["c"]
    assert store.history("c", user_id="bob").count() == 2


def test_a_missing_session_is_a_404(client):
    assert_problem(client.get("/sessions/nope/messages", headers=ALICE), 404, "SessionNotFound")
    assert_problem(client.delete("/sessions/nope", headers=ALICE), 404, "SessionNotFound")


def test_every_error_has_one_json_shape(client):
    assert_problem(client.get("/no/such/route", headers=ALICE), 404)
    assert_problem(client.put("/sessions", headers=ALICE), 405)
    assert_problem(client.get("/sessions/s/messages?last=0", headers=ALICE), 422)
    assert_problem(client.post("/sessions/s/invoke", content=b"{", headers=ALICE), 422)
    invalid = assert_problem(
        client.post("/sessions/s/invoke", json={"input": 5}, headers=ALICE), 422
    )
    assert invalid["errors"] and invalid["error"] == "RequestValidationError"


def test_stream_sends_chunks_and_stores_one_message(client, store):
    with client.stream(
        "POST", "/sessions/s/stream", json={"input": {"input": "hello"}}, headers=ALICE
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events("".join(response.iter_text()))
    names = [name for name, _ in events]
    assert names[-1] == "end" and set(names[:-1]) == {"data"} and len(names) >= 4
    assert "".join(data["data"]["content"] for _, data in events[:-1]) == "seen 1 messages"
    stored = store.history("s", user_id="alice").messages
    assert [type(m).__name__ for m in stored] == ["HumanMessage", "AIMessage"]
    assert stored[1].text == "seen 1 messages"


def test_bad_session_id_is_a_clear_422(client):
    reply = client.post(
        "/sessions/" + "x" * 300 + "/invoke", json={"input": {"input": "hi"}}, headers=ALICE
    )
    assert_problem(reply, 422)
    assert "256" in reply.text


@pytest.mark.parametrize("config", [{"configurable": 5}, {"configurable": []}, "x", []])
def test_config_that_is_not_an_object_is_a_422(client, config):
    for route in ("invoke", "stream"):
        reply = client.post(
            f"/sessions/s/{route}", json={"input": "hi", "config": config}, headers=ALICE
        )
        assert_problem(reply, 422)


BAD_TURNS = [
    ({"input": None}, 422),
    ({"input": []}, 422),
    ({"input": [{"role": "wizard", "content": "x"}]}, 422),
    ({"input": {"question": "no input key"}}, 422),
    ({"input": {"input": 7}}, 422),
    ({"input": {"input": "x"}, "config": {"configurable": {"__pregel_checkpointer": "x"}}}, 422),
    ({"input": {"input": "x"}, "config": {"callbacks": "x"}}, 422),
    ({"input": {"input": "x" * 2_000}}, 413),
]


@pytest.mark.parametrize("body,status", BAD_TURNS)
def test_bad_turns_fail_before_the_model_is_called(store, model, body, status):
    with make_client(store, model, metrics=False) as client:
        client.app.state  # noqa: B018 - the app is built
        store.max_message_bytes = 1_000
        for route in ("invoke", "stream"):
            reply = client.post(f"/sessions/s/{route}", json=body, headers=ALICE)
            assert_problem(reply, status)
    assert model.calls == 0
    assert store.history("s", user_id="alice").count() == 0


def test_an_oversized_body_is_refused_before_parsing(store, model):
    with make_client(store, model, metrics=False, max_body_bytes=10_000) as client:
        reply = client.post("/sessions/s/invoke", json={"input": "x" * 20_000}, headers=ALICE)
        problem = assert_problem(reply, 413, "BodyTooLarge")
    assert "10000" in problem["detail"] and model.calls == 0


def test_a_model_failure_before_the_first_chunk_is_a_502(store):
    failing = ScriptedChatModel(script=[RuntimeError("upstream said no")])
    with make_client(store, failing, metrics=False) as client:
        reply = client.post("/sessions/s/stream", json={"input": "hi"}, headers=ALICE)
        problem = assert_problem(reply, 502, "UpstreamError")
        assert "upstream said no" not in problem["detail"]  # no upstream internals leak
        failing.script.append(RuntimeError("again"))
        assert_problem(client.post("/sessions/s/invoke", json={"input": "hi"}, headers=ALICE), 502)
    assert store.history("s", user_id="alice").count() == 0


def test_a_model_failure_mid_stream_is_an_error_event_and_a_clean_end(store):
    model = ScriptedChatModel(script=lambda m: "one two three four", fail_after=2)
    with (
        make_client(store, model, metrics=False) as client,
        client.stream("POST", "/sessions/s/stream", json={"input": "hi"}, headers=ALICE) as reply,
    ):
        assert reply.status_code == 200
        events = sse_events("".join(reply.iter_text()))
    assert [name for name, _ in events] == ["data", "data", "error"]
    assert events[-1][1]["status"] == 502 and events[-1][1]["error"] == "UpstreamError"
    assert store.history("s", user_id="alice").count() == 0  # a failed turn stores nothing


def test_openapi_declares_the_bearer_scheme_and_problem_bodies(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    invoke = spec["paths"]["/sessions/{session_id}/invoke"]["post"]
    assert invoke["security"] == [{"bearer": []}]
    assert "application/problem+json" in invoke["responses"]["422"]["content"]
    assert "/metrics" not in spec["paths"] and "/" not in spec["paths"]


async def test_owner_config_for_langserve_stamps_and_refuses():
    from starlette.requests import Request

    modify = owner_config(bearer_tokens({"tok": "alice"}))

    def request(token: str) -> Request:
        return Request(
            {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
        )

    config = await modify({"configurable": {"session_id": "s"}}, request("tok"))
    assert config["configurable"] == {"session_id": "s", "user_id": "alice", "thread_id": "alice|s"}
    with pytest.raises(Exception, match="403|user_id"):
        await modify({"configurable": {"user_id": "bob"}}, request("tok"))
    with pytest.raises(Exception, match="401"):
        await modify({"configurable": {}}, request("wrong"))
