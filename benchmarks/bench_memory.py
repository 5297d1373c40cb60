"""Memory strategies against the alternatives, with fake models (no network).

    python benchmarks/bench_memory.py            # about a minute
    python benchmarks/bench_memory.py --turns 100 --latency-turns 20

1. Summarizers over a scripted conversation (~300-character messages, 1,000-token budget):
   calls, prompt characters and tokens sent to the summarizer, and whether each evicted
   message reached it exactly once. SummaryBufferMemory vs langchain-classic's
   ConversationSummaryBufferMemory and langmem's summarize_messages.
2. Entity extraction calls: EntityMemory vs ConversationEntityMemory.
3. Tokenizer work per turn (20-message window) with and without the per-message cache.
4. Turn latency (memory load + append + save) with a 200 ms summarizer, background on / off,
   and with no summarization at all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))
warnings.filterwarnings("ignore")

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage  # noqa: E402
from memfakes import ScriptedChatModel, ensure_tiktoken_cache  # noqa: E402

from langchain_sessionmem import SessionStore  # noqa: E402
from langchain_sessionmem.memory import (  # noqa: E402
    EntityMemory,
    SummaryBufferMemory,
    TokenWindowMemory,
)
from langchain_sessionmem.tokens import (  # noqa: E402
    MessageTokenCounter,
    _tiktoken_message_counter,
    tiktoken_counter,
)

ensure_tiktoken_cache()
import tiktoken  # noqa: E402

ENC = tiktoken.get_encoding("cl100k_base")
COUNTER = tiktoken_counter(encoding="cl100k_base")
SUMMARY = (
    "The user is planning a sailing trip along the Portuguese coast; topics so far: "
    + "tides, harbours, " * 12
)
WORDS = [
    "harbour",
    "tide",
    "wind",
    "sail",
    "anchor",
    "Porto",
    "Lisbon",
    "Nazare",
    "chart",
    "current",
    "buoy",
    "swell",
    "mooring",
    "fuel",
    "crew",
]


def script(turns: int) -> list[tuple[str, str]]:
    """Deterministic ~300-character human and AI messages."""
    out = []
    for i in range(turns):
        human = f"Turn {i}: " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60))
        ai = f"Reply {i}: " + " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(60))
        out.append((human[:300], ai[:300]))
    return out


def fake_summarizer(delay: float = 0.0) -> ScriptedChatModel:
    return ScriptedChatModel(script=lambda m: SUMMARY, delay=delay, custom_get_token_ids=ENC.encode)


def prompt_size(model: ScriptedChatModel) -> tuple[int, int]:
    chars = sum(len(m.text) for p in model.prompts for m in p)
    tokens = sum(len(ENC.encode(m.text)) for p in model.prompts for m in p)
    return chars, tokens


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(c) for c in row) + " |")


def _cell(c: Any) -> str:
    if isinstance(c, bool):
        return "yes" if c else "no"
    if isinstance(c, float):
        return f"{c:,.2f}"
    return f"{c:,}" if isinstance(c, int) else str(c)


def lost(
    all_messages: list[BaseMessage], kept: list[BaseMessage], model: ScriptedChatModel
) -> tuple[int, int]:
    """(messages out of the prompt that never reached the summarizer, messages sent more than once)."""
    sent = "\n".join(m.text for p in model.prompts for m in p)
    kept_texts = {m.text for m in kept}
    gone = [m for m in all_messages if m.text not in kept_texts]
    return sum(sent.count(m.text) == 0 for m in gone), sum(
        sent.count(m.text) > 1 for m in all_messages
    )


# -- 1. summarizers ---------------------------------------------------------------------------
def bench_ours(turns: list[tuple[str, str]], budget: int) -> dict[str, Any]:
    llm = fake_summarizer()
    memory = SummaryBufferMemory(llm, max_tokens=budget, token_counter=COUNTER)
    started = time.perf_counter()
    peak = 0
    with SessionStore.from_url("memory://") as store:
        history = store.history("bench", user_id="u")
        for human, ai in turns:
            h = HumanMessage(human)
            context = memory.load_context(history, [h])
            peak = max(peak, COUNTER([*context, h]))
            history.add_messages([h, AIMessage(ai)])
            memory.save_context(history, [])
        elapsed = time.perf_counter() - started
        everything = history.messages
        kept = memory.load_context(history, [])
    return {
        "calls": llm.calls,
        "size": prompt_size(llm),
        "ms": elapsed * 1000 / len(turns),
        "peak": peak,
        "lost": lost(everything, kept, llm),
    }


def bench_classic(turns: list[tuple[str, str]], budget: int) -> dict[str, Any]:
    from langchain_classic.memory import ConversationSummaryBufferMemory

    llm = fake_summarizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = ConversationSummaryBufferMemory(
            llm=llm, max_token_limit=budget, return_messages=True
        )
    started = time.perf_counter()
    peak = 0
    everything: list[BaseMessage] = []
    for human, ai in turns:
        context = memory.load_memory_variables({})["history"]
        peak = max(peak, COUNTER([*context, HumanMessage(human)]))
        memory.save_context({"input": human}, {"output": ai})
        everything += [HumanMessage(human), AIMessage(ai)]
    elapsed = time.perf_counter() - started
    kept = memory.chat_memory.messages
    return {
        "calls": llm.calls,
        "size": prompt_size(llm),
        "ms": elapsed * 1000 / len(turns),
        "peak": peak,
        "lost": lost(everything, kept, llm),
    }


def bench_langmem(turns: list[tuple[str, str]], budget: int) -> dict[str, Any] | None:
    try:
        from langmem.short_term import summarize_messages
    except ImportError:
        return None
    llm = fake_summarizer()
    messages: list[BaseMessage] = []
    running = None
    started = time.perf_counter()
    peak = 0
    for i, (human, ai) in enumerate(turns):
        messages.append(HumanMessage(human, id=f"h{i}"))
        result = summarize_messages(
            messages, running_summary=running, model=llm, max_tokens=budget, token_counter=COUNTER
        )
        running = result.running_summary
        peak = max(peak, COUNTER(result.messages))
        messages.append(AIMessage(ai, id=f"a{i}"))
    elapsed = time.perf_counter() - started
    kept = [*result.messages, messages[-1]]
    return {
        "calls": llm.calls,
        "size": prompt_size(llm),
        "ms": elapsed * 1000 / len(turns),
        "peak": peak,
        "lost": lost(messages, kept, llm),
    }


# -- 2. entities ------------------------------------------------------------------------------
def bench_entities(turns: list[tuple[str, str]]) -> list[list[Any]]:
    from langchain_classic.memory import ConversationEntityMemory

    def extraction(_messages: list[BaseMessage]) -> AIMessage:
        args = {
            "entities": [
                {"name": "Porto", "facts": ["a harbour"]},
                {"name": "Lisbon", "facts": ["a capital"]},
            ]
        }
        return AIMessage("", tool_calls=[{"name": "EntityExtraction", "args": args, "id": "x"}])

    ours = ScriptedChatModel(script=extraction)
    memory = EntityMemory(ours, token_counter=COUNTER)
    with SessionStore.from_url("memory://") as store:
        history = store.history("ent", user_id="u")
        for human, ai in turns:
            h = HumanMessage(human)
            memory.load_context(history, [h])
            history.add_messages([h, AIMessage(ai)])
            memory.save_context(history, [])

    def legacy_reply(messages: list[BaseMessage]) -> str:
        return (
            "Porto, Lisbon" if "proper nouns" in messages[-1].text else "Porto is a harbour city."
        )

    legacy_llm = ScriptedChatModel(script=legacy_reply, custom_get_token_ids=ENC.encode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = ConversationEntityMemory(llm=legacy_llm)
    for human, ai in turns:
        legacy.load_memory_variables({"input": human})
        legacy.save_context({"input": human}, {"output": ai})
    n = len(turns)
    return [
        ["EntityMemory (ours)", ours.calls, ours.calls / n],
        ["ConversationEntityMemory", legacy_llm.calls, legacy_llm.calls / n],
    ]


# -- 3. tokenizer -----------------------------------------------------------------------------
def bench_tokenizer(turns: int = 1000, window: int = 20) -> list[list[Any]]:
    conversation = [
        m for h, a in script(turns // 2 + window) for m in (HumanMessage(h, id=None), AIMessage(a))
    ]
    for i, m in enumerate(conversation):
        m.id = f"m{i}"
    rows = []
    for label, cached in (("recount every turn", False), ("per-message cache", True)):
        counter = MessageTokenCounter(_tiktoken_message_counter(ENC), base_tokens=3)
        started = time.perf_counter()
        for t in range(turns):
            if not cached:
                counter.clear_cache()
            counter(
                conversation[
                    t % (len(conversation) - window) : t % (len(conversation) - window) + window
                ]
            )
        elapsed = time.perf_counter() - started
        rows.append([label, counter.stats.messages_tokenized / turns, elapsed * 1e6 / turns])
    return rows


# -- 4. latency -------------------------------------------------------------------------------
def bench_latency(
    turns: list[tuple[str, str]], budget: int, delay: float, chat_delay: float
) -> list[list[Any]]:
    """Each turn: memory load, the chat model (``chat_delay`` s of sleep), append, memory save."""
    rows = []
    configs = [
        (
            "no summarization (TokenWindowMemory)",
            lambda: (TokenWindowMemory(budget, token_counter=COUNTER), None),
        ),
        (
            "SummaryBufferMemory, background off",
            lambda: (
                SummaryBufferMemory(
                    llm := fake_summarizer(delay), max_tokens=budget, token_counter=COUNTER
                ),
                llm,
            ),
        ),
        (
            "SummaryBufferMemory, background on",
            lambda: (
                SummaryBufferMemory(
                    llm := fake_summarizer(delay),
                    max_tokens=budget,
                    token_counter=COUNTER,
                    background=True,
                ),
                llm,
            ),
        ),
    ]
    for label, build in configs:
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
        rows.append(
            [
                label,
                llm.calls if llm else 0,
                statistics.median(latencies),
                statistics.mean(latencies),
                max(latencies),
            ]
        )
    base = rows[0][3]
    for row in rows:
        row.append(f"{row[3] / base:.2f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--entity-turns", type=int, default=50)
    parser.add_argument("--latency-turns", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.2, help="fake summarizer latency, seconds")
    parser.add_argument(
        "--chat-delay", type=float, default=0.3, help="fake chat model latency per turn, seconds"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # deprecation notices of the legacy classes under comparison
    turns = script(args.turns)
    content = sum(len(h) + len(a) for h, a in turns)
    print(
        f"{args.turns} turns, {content:,} characters of messages, budget {args.budget} tokens (tiktoken cl100k_base)"
    )

    results = [
        ("SummaryBufferMemory (ours)", bench_ours(turns, args.budget)),
        ("ConversationSummaryBufferMemory", bench_classic(turns, args.budget)),
    ]
    langmem = bench_langmem(turns, args.budget)
    if langmem:
        results.append(("langmem summarize_messages", langmem))
    ours_calls, ours_chars = results[0][1]["calls"], results[0][1]["size"][0]
    rows = []
    for label, r in results:
        rows.append(
            [
                label,
                r["calls"],
                r["calls"] / args.turns,
                r["size"][0],
                r["size"][1],
                r["ms"],
                f"{r['calls'] / ours_calls:.2f}x",
                f"{r['size'][0] / ours_chars:.2f}x",
                r["peak"],
                *r["lost"],
            ]
        )
    table(
        "Summarizer calls and prompt size",
        [
            "memory",
            "LLM calls",
            "calls/turn",
            "prompt chars",
            "prompt tokens",
            "overhead ms/turn",
            "calls vs ours",
            "chars vs ours",
            "peak prompt tokens",
            "messages dropped unsummarized",
            "messages summarized twice+",
        ],
        rows,
    )
    if not langmem:
        print("\n(langmem is not installed: pip install langmem to add it)")

    table(
        f"Entity extraction calls ({args.entity_turns} turns)",
        ["memory", "LLM calls", "calls/turn"],
        bench_entities(script(args.entity_turns)),
    )
    tok = bench_tokenizer()
    tok[1].append(f"{tok[0][2] / tok[1][2]:.1f}x faster")
    tok[0].append("")
    table(
        "Token counting, 20-message window, 1,000 turns",
        ["counter", "messages tokenized/turn", "us/turn", ""],
        tok,
    )
    table(
        f"Turn latency, {args.delay * 1000:.0f} ms summarizer, {args.chat_delay * 1000:.0f} ms chat model, {args.latency_turns} turns",
        ["memory", "summarizer calls", "median ms", "mean ms", "max ms", "mean vs no summary"],
        bench_latency(script(args.latency_turns), args.budget, args.delay, args.chat_delay),
    )


if __name__ == "__main__":
    main()
