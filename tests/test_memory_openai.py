"""The OpenAI path over real HTTP: ChatOpenAI against a small OpenAI-compatible server on 127.0.0.1.

The server speaks /v1/chat/completions (plain JSON and streaming SSE, text and tool calls) and
records every request, so the test checks what really went over the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fakes import ensure_tiktoken_cache
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.tools import tool

from langchain_sessionmem import SessionStore, with_session_memory
from langchain_sessionmem.memory import EntityMemory, SummaryBufferMemory, compose
from langchain_sessionmem.memory.summary import SUMMARY_PREFIX, SUMMARY_PROMPT
from langchain_sessionmem.tokens import tiktoken_counter

ensure_tiktoken_cache()
COUNTER = tiktoken_counter(encoding="cl100k_base")

Responder = Callable[
    [dict[str, Any]], dict[str, Any]
]  # request -> {"content": str} | {"tool_calls": [...]}


class FakeOpenAI:
    """A threaded HTTP server answering chat completions from ``responder``."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                reply = outer.responder(body)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for chunk in outer.chunks(body, reply):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                payload = json.dumps(outer.completion(body, reply)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def _message(reply: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if reply.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
                }
                for c in reply["tool_calls"]
            ]
        return message

    def completion(self, body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4"),
            "choices": [
                {
                    "index": 0,
                    "message": self._message(reply),
                    "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def chunks(self, body: dict[str, Any], reply: dict[str, Any]) -> Iterator[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        yield chunk({"role": "assistant", "content": ""})
        content = reply.get("content") or ""
        for i in range(0, len(content), 7):
            yield chunk({"content": content[i : i + 7]})
        for index, call in enumerate(reply.get("tool_calls") or []):
            arguments = json.dumps(call["args"])
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for i in range(0, len(arguments), 5):
                yield chunk(
                    {
                        "tool_calls": [
                            {"index": index, "function": {"arguments": arguments[i : i + 5]}}
                        ]
                    }
                )
        yield chunk({}, "tool_calls" if reply.get("tool_calls") else "stop")

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def openai_model(server: FakeOpenAI, **kwargs: Any):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model="gpt-4", base_url=server.base_url, api_key="test", max_retries=0, **kwargs
    )


def is_summary_request(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"].startswith("Progressively summarize")


def is_entity_request(body: dict[str, Any]) -> bool:
    return "response_format" in body or "EntityExtraction" in json.dumps(body.get("tools", []))


@pytest.fixture
def store(tmp_path):
    with SessionStore.from_url(f"sqlite:///{tmp_path / 's.db'}", allow_anonymous=True) as s:
        yield s


def responder(body: dict[str, Any]) -> dict[str, Any]:
    if is_summary_request(body):
        return {
            "content": f"Summary v{sum(map(is_summary_request, [body]))}: the user asks about tides."
        }
    if is_entity_request(body):  # ChatOpenAI(gpt-4).with_structured_output uses function calling
        args = {"entities": [{"name": "Porto", "facts": ["has a harbour"]}]}
        return {
            "content": "",
            "tool_calls": [{"id": "call_e", "name": "EntityExtraction", "args": args}],
        }
    last = body["messages"][-1]["content"]
    return {"content": f"Tides in Porto are gentle. You said: {last[:30]}"}


def test_chat_openai_as_summarizer_extractor_and_streaming_chain_model(store):
    with FakeOpenAI(responder) as server:
        summarizer = openai_model(server)
        extractor = openai_model(server)
        chat = openai_model(server, streaming=True)
        memory = compose(
            SummaryBufferMemory(summarizer, max_tokens=400, token_counter=COUNTER),
            EntityMemory(
                extractor,
                token_counter=COUNTER,
                structured_output_kwargs={"method": "function_calling"},
            ),
        )
        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "You are a harbour guide."),
                MessagesPlaceholder("history"),
                ("human", "{input}"),
            ]
        )
        chain = with_session_memory(
            prompt | chat,
            store,
            memory=memory,
            input_messages_key="input",
            history_messages_key="history",
        )
        config = {"configurable": {"session_id": "http", "user_id": "alice"}}
        for i in range(10):
            chunks = list(
                chain.stream(
                    {"input": f"Question {i}: how are the tides in Porto harbour today? " * 2},
                    config,
                )
            )
            assert len(chunks) > 3  # really streamed
        chat_requests = [b for b in server.requests if b.get("stream")]
        summary_requests = [b for b in server.requests if is_summary_request(b)]
        entity_requests = [b for b in server.requests if is_entity_request(b)]
        assert len(chat_requests) == 10 and len(entity_requests) == 10
        assert 1 <= len(summary_requests) < 10
        # The summarizer prompt that went over the wire is exactly ours.
        first = summary_requests[0]["messages"]
        assert len(first) == 1 and first[0]["role"] == "user"
        assert first[0]["content"].startswith(SUMMARY_PROMPT.split("{max_words}")[0])
        assert "<data>\nPrevious summary:\n  (none yet)\n" in first[0]["content"]
        # Later chat requests carry the summary and the entity block, within the memory budget.
        last = chat_requests[-1]["messages"]
        contents = [m["content"] for m in last]
        assert any(c.startswith(SUMMARY_PREFIX + "\n<summary>\nSummary v1") for c in contents)
        assert any(c.startswith("<entities>") and "has a harbour" in c for c in contents)
        history = store.history("http", user_id="alice")
        assert history.count() == 20
        stored = history.tail(1)[0]
        assert type(stored) is AIMessage and stored.text.startswith(
            "Tides in Porto"
        )  # no chunk types stored


@tool
def tide_table(port: str) -> str:
    """Tide table of a port."""
    return f"{port}: high 06:10"


def test_streamed_tool_calls_through_with_session_memory(store):
    def tool_responder(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "tide_table", "args": {"port": "Porto"}}],
        }

    with FakeOpenAI(tool_responder) as server:
        chat = openai_model(server, streaming=True).bind_tools([tide_table])
        chain = with_session_memory(
            chat, store, memory=SummaryBufferMemory(openai_model(server), max_tokens=500)
        )
        config = {"configurable": {"session_id": "tools", "user_id": "alice"}}
        chunks = list(chain.stream("When is high tide in Porto?", config))
        assert len(chunks) > 3
        assert server.requests[0]["tools"][0]["function"]["name"] == "tide_table"
        stored = store.history("tools", user_id="alice").tail(1)[0]
        assert stored.tool_calls == [
            {"name": "tide_table", "args": {"port": "Porto"}, "id": "call_1", "type": "tool_call"}
        ]
