"""Metrics and traces: /metrics after real turns, memory reports as metrics, OpenTelemetry spans,
and no-ops when nothing is enabled."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes import ScriptedChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_sessionmem import telemetry, with_session_memory
from langchain_sessionmem.errors import ConfigurationError

prometheus_client = pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed: pip install prometheus-client"
)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

ALICE = {"Authorization": "Bearer token-alice"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def chain_on(store, model, **options):
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return with_session_memory(
        prompt | model, store, input_messages_key="input", history_messages_key="history", **options
    )


@pytest.fixture
def registry():
    fresh = prometheus_client.CollectorRegistry()
    telemetry.enable(fresh)
    yield fresh
    telemetry.disable()


def test_metrics_route_after_a_few_turns(store, registry):
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from fastapi.testclient import TestClient

    from langchain_sessionmem.server import bearer_tokens, create_app

    model = ScriptedChatModel(script=["one", "two", "three", RuntimeError("model down")])
    app = create_app(
        chain_on(store, model),
        store,
        authenticate=bearer_tokens({"token-alice": "alice"}),
        metrics_registry=registry,
    )
    with TestClient(app) as client:
        for text in ("hi", "again"):
            assert client.post(
                "/sessions/t1/invoke", json={"input": text}, headers=ALICE
            ).is_success
        with client.stream("POST", "/sessions/t1/stream", json={"input": "s"}, headers=ALICE) as r:
            assert "event: end" in "".join(r.iter_text())
        assert client.get("/sessions/nope/messages", headers=ALICE).status_code == 404
        assert (
            client.post("/sessions/t1/invoke", json={"input": 5}, headers=ALICE).status_code == 422
        )
        assert (
            client.post("/sessions/t1/invoke", json={"input": "x"}, headers=ALICE).status_code
            == 502
        )
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)
    invoke = "/sessions/{session_id}/invoke"
    assert (
        value(found, "sessionmem_http_requests_total", method="POST", route=invoke, status="200")
        == 2
    )
    assert (
        value(found, "sessionmem_http_requests_total", method="POST", route=invoke, status="502")
        == 1
    )
    assert value(found, "sessionmem_http_request_seconds_count", method="POST", route=invoke) == 4
    assert value(found, "sessionmem_turns_total", kind="invoke") == 2
    assert value(found, "sessionmem_turns_total", kind="stream") == 1
    assert value(found, "sessionmem_errors_total", type="SessionNotFound", where="http") == 1
    assert value(found, "sessionmem_errors_total", type="RequestValidationError", where="http") == 1
    assert value(found, "sessionmem_errors_total", type="RuntimeError", where="http") == 1
    assert "alice" not in page.text and "t1" not in page.text and "nope" not in page.text


def test_memory_reports_become_per_strategy_metrics(store, registry):
    from langchain_sessionmem.memory import SummaryMemory, WindowMemory

    summarizer = ScriptedChatModel(script=lambda messages: "a short summary")
    memory = [SummaryMemory(summarizer, trigger_tokens=60, max_summary_tokens=32), WindowMemory(4)]
    chain = chain_on(store, ScriptedChatModel(script=lambda m: "a reply " * 5), memory=memory)
    config = {"configurable": {"session_id": "m", "user_id": "alice"}}  # no callbacks needed
    for i in range(6):
        chain.invoke({"input": f"message number {i} with some words in it"}, config)
    found = samples(telemetry.render()[0].decode())
    strategies = {
        dict(labels)["strategy"]
        for (name, labels) in found
        if name == "sessionmem_messages_read_count"
    }
    assert strategies, "no memory report reached the metrics"
    for strategy in strategies:
        assert value(found, "sessionmem_messages_read_count", strategy=strategy) >= 6
        assert value(found, "sessionmem_tokens_injected_sum", strategy=strategy) > 0
    calls = sum(v for (n, _), v in found.items() if n == "sessionmem_model_calls_total")
    assert calls == summarizer.calls > 0


def test_unknown_metric_names_fail_and_disabled_metrics_cost_nothing(registry):
    with pytest.raises(ConfigurationError, match="no counter named 'turnz'"):
        telemetry.count("turnz")
    with pytest.raises(ConfigurationError, match="histogram"):
        telemetry.observe("turns", 1)
    telemetry.disable()
    telemetry.count("turns", kind="invoke")  # a no-op, not an error
    with pytest.raises(ConfigurationError, match="enable"):
        telemetry.render()


def test_spans_when_opentelemetry_is_installed():
    sdk = pytest.importorskip(
        "opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed"
    )
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    telemetry._tracer = tracer  # the package's tracer, on this test's own provider
    try:
        with telemetry.span("engine.append", engine="sqlite", messages=2, extra=None):
            pass
        with pytest.raises(RuntimeError), telemetry.span("strategy.summarize", strategy="summary"):
            raise RuntimeError("model down")
    finally:
        telemetry._tracer = None
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert dict(spans["sessionmem.engine.append"].attributes) == {"engine": "sqlite", "messages": 2}
    failed = spans["sessionmem.strategy.summarize"]
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert failed.events[0].name == "exception"


def test_spans_are_no_ops_without_opentelemetry():
    probe = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from langchain_sessionmem import telemetry\n"
        "with telemetry.span('engine.append', engine='x') as s:\n"
        "    print('SPAN', s)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SPAN None"


def test_engine_calls_are_timed_traced_and_counted_while_enabled(registry, tmp_path):
    from langchain_core.messages import HumanMessage

    from langchain_sessionmem import SessionStore

    with SessionStore.from_url(f"sqlite:///{tmp_path / 'm.db'}") as store:
        history = store.history("s1", user_id="alice")
        history.add_messages([HumanMessage("hello")])
        assert history.tail(5)[0].content == "hello"
        store.list_sessions("alice")
        assert store.delete_session("s1", user_id="alice")
    found = samples(telemetry.render()[0].decode())
    for op in ("append", "tail", "list_sessions", "delete_session"):
        assert value(found, "sessionmem_engine_seconds_count", engine="sqlite", op=op) >= 1, op
    assert value(found, "sessionmem_sessions_deleted_total", engine="sqlite") == 1
    assert value(found, "sessionmem_sessions", engine="sqlite") == 1
    assert "alice" not in telemetry.render()[0].decode()  # labels never carry user ids


def test_stores_made_while_telemetry_is_off_are_not_wrapped():
    from langchain_sessionmem import SessionStore
    from langchain_sessionmem.backends.memory.engine import MemoryEngine

    assert not telemetry.enabled()
    assert type(SessionStore.from_url("memory://").engine) is MemoryEngine
