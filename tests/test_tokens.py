"""Token counters: exact tiktoken counts, the per-message cache, interop with trim_messages, offline fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tiktoken
from fakes import ensure_tiktoken_cache
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately

from langchain_sessionmem.tokens import (
    MessageTokenCounter,
    TokenizerFallbackWarning,
    _tiktoken_message_counter,
    approximate_counter,
    as_token_counter,
    encoding_name_for_model,
    model_counter,
    tiktoken_counter,
)

ensure_tiktoken_cache()
ENC = tiktoken.get_encoding("cl100k_base")


def conversation(n: int) -> list:
    out = []
    for i in range(n):
        out.append(HumanMessage(f"question number {i} about the weather in Lisbon", id=f"h{i}"))
        out.append(AIMessage(f"answer number {i}: sunny, 24 degrees", id=f"a{i}"))
    return out


def test_tiktoken_counts_follow_the_openai_chat_format():
    counter = tiktoken_counter("gpt-4")
    assert counter.name == "cl100k_base"
    message = HumanMessage("hello world")
    # 3 framing tokens + the role + the content, and 3 tokens priming the reply.
    assert counter([message]) == 3 + len(ENC.encode("user")) + len(ENC.encode("hello world")) + 3
    named = HumanMessage("hello world", name="alice")
    assert counter.count_message(named) == counter.count_message(message) + 1 + len(
        ENC.encode("alice")
    )


def test_tiktoken_counts_match_chat_openai_for_plain_messages():
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-4", api_key="test")
    messages = [SystemMessage("You are terse."), *conversation(5)]
    assert tiktoken_counter("gpt-4")(messages) == model.get_num_tokens_from_messages(messages)


def test_tool_calls_and_tool_call_ids_are_counted():
    counter = tiktoken_counter(encoding="cl100k_base")
    call = {"name": "read_file", "args": {"path": "/etc/hosts"}, "id": "call_1"}
    plain = AIMessage("", id="x1")
    calling = AIMessage("", tool_calls=[call], id="x2")
    args = json.dumps(call["args"])
    assert counter.count_message(calling) - counter.count_message(plain) == 3 + len(
        ENC.encode("read_file")
    ) + len(ENC.encode(args))
    result = ToolMessage("127.0.0.1 localhost", tool_call_id="call_1")
    assert counter.count_message(result) == 3 + len(ENC.encode("tool")) + len(
        ENC.encode("127.0.0.1 localhost")
    ) + len(ENC.encode("call_1"))


def test_a_turn_tokenizes_only_new_messages():
    calls = 0
    real = _tiktoken_message_counter(ENC)

    class CountingEncoding:
        def encode(self, text, **options):
            nonlocal calls
            calls += 1
            return ENC.encode(text, **options)

    counter = MessageTokenCounter(_tiktoken_message_counter(CountingEncoding()), base_tokens=3)
    history = conversation(10)  # a 20-message window
    total = counter(history)
    assert total == 3 + sum(real(m) for m in history)
    first_turn = calls
    assert first_turn == 40  # role + content per message

    history = history[2:] + conversation(11)[-2:]  # the window slides by one turn
    calls = 0
    counter(history)
    assert calls == 4  # two new messages, two encode calls each
    assert counter.stats.messages_tokenized == 22
    assert counter.stats.cache_hits == 18


def test_messages_without_id_are_cached_by_content_and_edits_are_recounted():
    seen = []
    counter = MessageTokenCounter(lambda m: seen.append(m) or len(m.text))
    counter([HumanMessage("same text"), HumanMessage("same text")])
    assert len(seen) == 1
    counter([AIMessage("abc", id="m1")])
    counter([AIMessage("abcdef", id="m1")])  # same id, edited content
    assert len(seen) == 3


def test_counters_plug_into_trim_messages_and_back():
    messages = [SystemMessage("be brief"), *conversation(20)]
    counter = tiktoken_counter(encoding="cl100k_base")
    trimmed = trim_messages(
        messages, max_tokens=120, token_counter=counter, include_system=True, start_on="human"
    )
    assert counter(trimmed) <= 120 and trimmed[0].type == "system"
    # trim_messages' counters come the other way through as_token_counter.
    approx = as_token_counter(count_tokens_approximately)
    assert approx(messages) == count_tokens_approximately(messages)
    assert as_token_counter(len)(messages) == len(messages)
    assert as_token_counter("approximate")(messages) == count_tokens_approximately(messages) + 3

    def per_message(message: HumanMessage) -> int:  # trim_messages' per-message form
        return 7

    assert as_token_counter(per_message)(messages) == 7 * len(messages)


def test_model_counter_uses_the_models_own_counts_once_per_message():
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-4", api_key="test")
    counter = model_counter(model)
    messages = conversation(4)
    assert counter(messages) == model.get_num_tokens_from_messages(messages)
    assert as_token_counter(model)(messages) == counter(messages)


def test_encoding_follows_the_model_name():
    assert encoding_name_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_name_for_model("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_name_for_model("openai/o3-custom") == "o200k_base"
    assert encoding_name_for_model("some-local-model") == "cl100k_base"


def test_offline_fallback_warns_exactly_once(tmp_path):
    """A real failing load: an empty TIKTOKEN_CACHE_DIR and no network to download from."""
    script = textwrap.dedent(
        """
        import json, warnings
        from langchain_core.messages import HumanMessage
        from langchain_core.messages.utils import count_tokens_approximately
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from langchain_sessionmem.tokens import tiktoken_counter, default_token_counter
            a = tiktoken_counter("gpt-4")
            b = tiktoken_counter(encoding="cl100k_base")
            c = default_token_counter()
            m = [HumanMessage("hello there, how are you today?")]
            counts = [a(m), b(m), c(m)]
        print(json.dumps({
            "warnings": [w.category.__name__ for w in caught],
            "counts": counts,
            "approx": count_tokens_approximately(m) + 3,
            "name": a.name,
        }))
        """
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["warnings"].count(TokenizerFallbackWarning.__name__) == 1
    assert result["counts"] == [result["approx"]] * 3
    assert "fallback" in result["name"]


def test_unknown_counter_types_are_refused():
    with pytest.raises(TypeError, match="token_counter"):
        as_token_counter(42)


def test_approximate_counter_is_additive():
    counter = approximate_counter()
    messages = conversation(6)
    assert counter(messages) == counter.base_tokens + sum(
        counter.count_message(m) for m in messages
    )


def test_text_that_looks_like_a_special_token_is_counted_as_text():
    """``<|endoftext|>`` in a stored message (public chat logs hold it) must not break a session."""
    text = "the model printed <|endoftext|> and stopped"
    counter = tiktoken_counter("gpt-4")
    expected = len(ENC.encode(text, disallowed_special=()))
    assert counter.count_message(HumanMessage(text)) == 3 + len(ENC.encode("user")) + expected
    from langchain_sessionmem.memory import TokenWindowMemory

    window = TokenWindowMemory(max_tokens=200, token_counter=counter)
    history = [HumanMessage(text, id="h1"), AIMessage("ok <|fim_prefix|>", id="a1")]
    assert window.invoke(history) == history
