#!/usr/bin/env python
"""Memory strategies against the alternatives, with fake models (no network).

    python benchmarks/bench_memory.py            # about a minute
    python benchmarks/bench_memory.py --quick    # fewer turns, shorter delays
    python benchmarks/bench_memory.py --smoke    # seconds: every strategy once, tiny sizes
    python benchmarks/bench_memory.py --turns 100 --latency-turns 20

1. Summarizers over a scripted conversation (~300-character messages, 1,000-token budget):
   calls, prompt characters and tokens sent to the summarizer, and whether each evicted
   message reached it exactly once. SummaryBufferMemory vs langchain-classic's
   ConversationSummaryBufferMemory, langmem's summarize_messages and langchain's
   SummarizationMiddleware.
2. Entity extraction calls: EntityMemory vs ConversationEntityMemory.
3. Tokenizer work per turn (20-message window) with and without the per-message cache.
4. Turn latency (memory load + append + save) with a 200 ms summarizer, background on / off,
   and with no summarization at all.
Systems and scenarios: systems/strategies.py.
"""

from __future__ import annotations

import argparse

import _harness as h
from systems import strategies as st

PACKAGES = ("langchain-core", "langchain-classic", "langmem", "langchain", "tiktoken")
SUMMARY_HEADER = [
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
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = h.parser(__doc__)
    p.add_argument("--turns", type=int, default=None, help="summarizer turns (200)")
    p.add_argument("--budget", type=int, default=None, help="token budget (1000)")
    p.add_argument("--entity-turns", type=int, default=None, help="entity turns (50)")
    p.add_argument("--latency-turns", type=int, default=None, help="latency turns (60)")
    p.add_argument("--token-turns", type=int, default=None, help="token-counting turns (1000)")
    p.add_argument("--delay", type=float, default=None, help="fake summarizer latency, s (0.2)")
    p.add_argument("--chat-delay", type=float, default=None, help="fake chat model latency (0.3)")
    args = h.parse(p, argv)
    for name, full, quick, smoke in (
        ("turns", 200, 60, 12),
        ("budget", 1000, 1000, 400),
        ("entity_turns", 50, 10, 2),
        ("latency_turns", 60, 10, 6),
        ("token_turns", 1000, 1000, 50),
        ("delay", 0.2, 0.2, 0.01),
        ("chat_delay", 0.3, 0.3, 0.01),
    ):
        if getattr(args, name) is None:
            setattr(args, name, h.by_mode(args.mode, full, quick, smoke))
    return args


def wants(args: argparse.Namespace, *names: str) -> bool:
    """Whether ``--only`` asks for a section (by its name, or a system key or tag in it)."""
    return args.wanted is None or bool(args.wanted & set(names))


def summarizers(args: argparse.Namespace, services: h.Services, report: h.Report) -> None:
    turns = st.script(args.turns)
    classes, skipped = h.pick(st.SUMMARIZERS, args.wanted, services)
    results = {cls.label: cls().run(turns, args.budget) for cls in classes}
    report.results["summarizers"] = results
    ours = results.get(st.Ours.label)
    rows = []
    for label, r in results.items():
        calls = h.fmt_ratio(h.ratio(r["calls"], ours["calls"])) if ours else "-"
        chars = h.fmt_ratio(h.ratio(r["size"][0], ours["size"][0])) if ours else "-"
        rows.append(
            [label, r["calls"], r["calls"] / args.turns, *r["size"], r["ms"], calls, chars]
            + [r["peak"], *r["lost"]]
        )
        if ours and label != st.Ours.label:
            report.verdict(
                None,
                f"{label} / ours: {calls} summarizer calls, {chars} prompt characters, "
                f"peak {r['peak']:,} vs {ours['peak']:,} tokens (budget {args.budget:,}), "
                f"{r['lost'][0]} messages dropped unsummarized",
            )
    print(h.markdown("Summarizer calls and prompt size", SUMMARY_HEADER, rows))
    for line in skipped:
        print(line)


def entities(args: argparse.Namespace, services: h.Services, report: h.Report) -> None:
    turns = st.script(args.entity_turns)
    rows = [["EntityMemory (ours)", st.entities_ours(turns)]]
    why = services.problem(["langchain_classic.memory"])
    if not why:
        rows.append(["ConversationEntityMemory", st.entities_classic(turns)])
    for row in rows:
        row.append(row[1] / len(turns))
    report.results["entities"] = {row[0]: row[1] for row in rows}
    title = f"Entity extraction calls ({args.entity_turns} turns)"
    print(h.markdown(title, ["memory", "LLM calls", "calls/turn"], rows))
    if why:
        print(f"  skipped ConversationEntityMemory: {why}")


def tokens(args: argparse.Namespace, report: h.Report) -> None:
    rows = st.token_counting(args.token_turns)
    rows[1].append(f"{rows[0][2] / rows[1][2]:.1f}x faster")
    rows[0].append("")
    report.results["token_counting"] = rows
    report.verdict(None, f"token counting with the per-message cache: {rows[1][3]}")
    title = f"Token counting, 20-message window, {args.token_turns:,} turns ({st.COUNTER.name})"
    print(h.markdown(title, ["counter", "messages tokenized/turn", "us/turn", ""], rows))


def latency(args: argparse.Namespace, report: h.Report) -> None:
    turns = st.script(args.latency_turns)
    rows = st.turn_latency(turns, args.budget, args.delay, args.chat_delay)
    report.results["latency"] = rows
    report.verdict(None, f"turn latency, summarizing in the background: {rows[2][5]} of no summary")
    title = (
        f"Turn latency, {args.delay * 1000:.0f} ms summarizer, {args.chat_delay * 1000:.0f} ms "
        f"chat model, {args.latency_turns} turns"
    )
    header = ["memory", "summarizer calls", "median ms", "mean ms", "max ms", "mean vs no summary"]
    print(h.markdown(title, header, rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services = h.Services.discover(args.redis_url, args.postgres_url)
    report = h.Report(
        "bench_memory", "langchain-sessionmem memory-strategy benchmark", args, services
    )
    content = sum(len(a) + len(b) for a, b in st.script(args.turns))
    report.header(
        PACKAGES,
        f"script    {args.turns} turns, {content:,} characters of messages, budget "
        f"{args.budget} tokens ({st.COUNTER.name})",
    )
    names = {"summary"} | {n for c in st.SUMMARIZERS for n in (c.key, *c.tags)}
    if wants(args, *names):
        summarizers(args, services, report)
    if wants(args, "entity"):
        entities(args, services, report)
    if wants(args, "tokens"):
        tokens(args, report)
    if wants(args, "latency"):
        latency(args, report)
    print()
    return report.finish()


if __name__ == "__main__":
    h.entry(main)
