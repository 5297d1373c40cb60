"""Issue 8 §5: schemathesis against the app's own OpenAPI spec finds no server error and no cut
response (bounded examples per operation, on a real SQLite file)."""

from __future__ import annotations

import os
import tempfile

import pytest
from fakes import ScriptedChatModel
from hypothesis import HealthCheck, settings
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_sessionmem import SessionStore, with_session_memory

pytest.importorskip(
    "fastapi",
    reason="the server extra is not installed: pip install 'langchain-sessionmem[server]'",
)
schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed: pip install schemathesis"
)
from langchain_sessionmem.server import bearer_tokens, create_app  # noqa: E402

HEADERS = {"Authorization": "Bearer token-alice"}


def build_app(db_path: str):
    store = SessionStore.from_url(
        f"sqlite:///{db_path}",
        max_message_bytes=4_096,  # small, so oversized inputs are generated and must be a 413
    )
    model = ScriptedChatModel(script=lambda messages: f"a reply to {len(messages)} messages")
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = with_session_memory(
        prompt | model, store, input_messages_key="input", history_messages_key="history"
    )
    app = create_app(
        chain,
        store,
        authenticate=bearer_tokens({"token-alice": "alice"}),
        metrics=False,
        max_body_bytes=16_384,
    )
    return app, store


_workdir = tempfile.TemporaryDirectory(prefix="sessionmem-schemathesis-")
app, _store = build_app(os.path.join(_workdir.name, "api.db"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def _close_store():
    yield
    _store.close()
    _workdir.cleanup()


@schemathesis.check
def stream_ends_cleanly(ctx, response, case):
    """A 200 event stream ends with an ``end`` or an ``error`` event, never mid-body."""
    if (
        response.status_code == 200
        and "text/event-stream" in response.headers.get("content-type", [""])[0]
    ):
        events = [b for b in response.text.split("\n\n") if b.strip()]
        assert events, "an empty event stream"
        last = events[-1].splitlines()[0]
        assert last in ("event: end", "event: error"), f"the stream was cut after {last!r}"


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_app_conforms_to_its_own_spec(case):
    case.call_and_validate(headers=HEADERS, additional_checks=[stream_ends_cleanly])
