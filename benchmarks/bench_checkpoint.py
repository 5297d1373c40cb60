#!/usr/bin/env python
"""Checkpointer benchmark: a one-node MessagesState chat graph, 10 / 100 / 300 turns.

    python benchmarks/bench_checkpoint.py                 # all savers, 10/100/300 turns
    python benchmarks/bench_checkpoint.py --quick         # 10/50 turns
    python benchmarks/bench_checkpoint.py --smoke         # seconds: every saver, 1 and 2 turns
    python benchmarks/bench_checkpoint.py --turns 10 100 --savers sessionmem-sqlite SqliteSaver

Compares LangGraph's InMemorySaver, SqliteSaver and PostgresSaver (local PostgreSQL, a fresh
schema per run) with ours from ``store.checkpointer()`` on memory, SQLite, Redis (a fresh
namespace) and PostgreSQL (skipped, with the reason, while the store has no saver there).
Measures, at each milestone: bytes stored, turn latency (mean of the last 5 turns), get_tuple,
get_state, list(limit=10) and a full list() (what get_state_history does). Prints a table per
milestone and the ratios LangGraph's saver / ours for each pair that ran (systems/savers.py).
"""

from __future__ import annotations

import argparse
import sys
import time

import _harness as h
from systems import savers

from langchain_sessionmem import ConfigurationError

PACKAGES = ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite")
PACKAGES += ("langgraph-checkpoint-postgres", "redis", "psycopg")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "-"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = h.parser(__doc__)
    p.add_argument("--turns", type=int, nargs="+", default=None, help="milestones (10 100 300)")
    p.add_argument(
        "--savers", nargs="+", dest="only", default=argparse.SUPPRESS, help="same as --only"
    )
    args = h.parse(p, argv)
    args.milestones = sorted(args.turns or h.by_mode(args.mode, [10, 100, 300], [10, 50], [1, 2]))
    args.reads, args.lists = h.by_mode(args.mode, (5, 3), (5, 3), (1, 1))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services = h.Services.discover(args.redis_url, args.postgres_url)
    report = h.Report(
        "bench_checkpoint", "langchain-sessionmem checkpointer benchmark", args, services
    )
    report.header(PACKAGES, f"graph     one node, MessagesState, turns {args.milestones}")
    ws = h.Workspace(services)
    classes, skipped = h.pick(savers.ALL, args.wanted, services)
    results: dict[str, dict[int, dict[str, float]]] = {}
    try:
        for cls in classes:
            began = time.perf_counter()
            try:
                results[cls.label] = savers.run(cls(ws), args.milestones, args.reads, args.lists)
            except ConfigurationError as exc:  # the store has no saver on this engine yet
                skipped.append(f"  skipped {cls.label}: {h.short(exc, 240)}")
            except Exception as exc:  # noqa: BLE001 - a saver that fails is reported
                skipped.append(f"  error in {cls.label}: {h.short(exc, 240)}")
                report.failed(cls, h.short(exc, 240))
            print(f"# {cls.label}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    finally:
        notes = ws.close()
    for line in skipped:
        print(line)
    report.results = {name: {str(t): r for t, r in res.items()} for name, res in results.items()}
    labels = [label for _k, label in savers.COLUMNS]
    for turn in args.milestones:
        rows = [
            [name, human_bytes(res[turn]["bytes"])]
            + [f"{res[turn][k]:.2f}" for k, _l in savers.COLUMNS[1:]]
            for name, res in results.items()
        ]
        print(h.markdown(f"{turn} turns ({2 * turn} messages)", ["saver", *labels], rows))
    last = args.milestones[-1]
    for base, ours in savers.PAIRS:
        if base not in results or ours not in results:
            continue
        rows = []
        for turn in args.milestones:
            a, b = results[base][turn], results[ours][turn]
            rows.append([turn, *(times(a[k], b[k]) for k, _l in savers.COLUMNS)])
        title = f"ratios {base} / {ours} (higher = sessionmem better)"
        print(h.markdown(title, ["turns", *labels], rows))
        a, b = results[base][last], results[ours][last]
        report.verdict(
            None,
            f"{base} / {ours} at {last} turns: "
            + ", ".join(f"{lbl} {times(a[k], b[k])}" for k, lbl in savers.COLUMNS),
        )
    print()
    return report.finish(notes)


if __name__ == "__main__":
    h.entry(main)
