#!/usr/bin/env python
"""Checkpointer benchmark: a one-node MessagesState chat graph, 10 / 100 / 300 turns.

    python benchmarks/bench_checkpoint.py                 # all savers, 10/100/300 turns
    python benchmarks/bench_checkpoint.py --quick         # 10/50 turns
    python benchmarks/bench_checkpoint.py --smoke         # seconds: every saver, 1 and 2 turns
    python benchmarks/bench_checkpoint.py --turns 10 100 --savers sessionmem-sqlite SqliteSaver

    python benchmarks/bench_checkpoint.py --scenario agents --agent-turns 30 --savers sessionmem-sqlite

Chat graph: compares LangGraph's InMemorySaver, SqliteSaver and PostgresSaver (local PostgreSQL, a fresh
schema per run) with ours from ``store.checkpointer()`` on memory, SQLite, Redis (a fresh
namespace) and PostgreSQL (skipped, with the reason, while the store has no saver there).
Measures, at each milestone: bytes stored, turn latency (mean of the last 5 turns), get_tuple,
get_state, list(limit=10) and a full list() (what get_state_history does). Prints a table per
milestone and the ratios LangGraph's saver / ours for each pair that ran (systems/savers.py).

Agents (``--scenario agents``): a ``create_agent`` agent with no middleware, with
``SessionMemoryMiddleware(TokenWindowMemory)`` and with ``SessionMemoryMiddleware(SummaryBufferMemory)``
on each saver; stored bytes per turn in the first and second half of the run, and messages left in
the state (systems/agents.py). Target: with the middleware, growth per turn does not exceed the
growth without it.
"""

from __future__ import annotations

import argparse
import sys
import time

import _harness as h
from systems import agents, savers

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
    p.add_argument(
        "--scenario", choices=("all", "chat", "agents"), default="all", help="what to run"
    )
    p.add_argument("--agent-turns", type=int, default=None, help="agent turns (60)")
    args = h.parse(p, argv)
    args.agent_turns = max(2, args.agent_turns or h.by_mode(args.mode, 60, 30, 4))
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
    if args.scenario == "agents":
        classes = []
    results: dict[str, dict[int, dict[str, float]]] = {}
    agent_results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        if args.scenario in ("all", "agents"):
            agent_results = run_agents(args, ws, services, report, skipped)
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
    if agent_results:
        report.results["agents"] = agent_results
        print_agents(args, agent_results, report)
    labels = [label for _k, label in savers.COLUMNS]
    for turn in args.milestones if results else []:
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


def run_agents(
    args: argparse.Namespace,
    ws: h.Workspace,
    services: h.Services,
    report: h.Report,
    skipped: list[str],
) -> dict[str, dict[str, dict[str, float]]]:
    """Every selected saver, an agent without and with the middleware (systems/agents.py)."""
    problem = next(filter(None, map(h.package_problem, agents.NEEDS)), None)
    if problem:
        skipped.append(f"  skipped the agent scenario: {problem}")
        return {}
    classes, missing = h.pick(agents.ALL, args.wanted, services)
    skipped.extend(missing)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for cls in classes:
        began = time.perf_counter()
        try:
            out[cls.label] = {
                name: agents.run(cls(ws), middleware, args.agent_turns)
                for name, middleware in agents.memories().items()
            }
        except ConfigurationError as exc:  # the store has no saver on this engine yet
            skipped.append(f"  skipped agents on {cls.label}: {h.short(exc, 240)}")
        except Exception as exc:  # noqa: BLE001 - a saver that fails is reported
            skipped.append(f"  error in agents on {cls.label}: {h.short(exc, 240)}")
            report.failed(cls, h.short(exc, 240))
        print(f"# agents on {cls.label}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return out


def print_agents(
    args: argparse.Namespace, results: dict[str, dict[str, dict[str, float]]], report: h.Report
) -> None:
    """One table per saver; a verdict per middleware on our savers (growth vs no middleware)."""
    for label, runs in results.items():
        base = runs["none"]["per_turn"]
        rows = [
            [
                name,
                human_bytes(r["bytes"]),
                f"{r['first_half']:.0f}",
                f"{r['per_turn']:.0f}",
                f"{r['messages']:.0f}",
                f"{r['per_turn'] / base:.2f}x" if base else "-",
            ]
            for name, r in runs.items()
        ]
        header = [lbl for _k, lbl in agents.COLUMNS] + ["2nd half vs none"]
        title = f"agent, {args.agent_turns} turns on {label}: no middleware, window, summary"
        print(h.markdown(title, ["middleware", *header], rows))
        if "ours" not in {t for cls in agents.ALL if cls.label == label for t in cls.tags}:
            continue
        for name in ("window", "summary"):
            r = runs[name]
            report.verdict(
                r["per_turn"] <= base,
                f"{label}, {name} middleware: {r['per_turn']:.0f} bytes/turn vs {base:.0f} "
                f"without ({r['per_turn'] / base if base else 0:.2f}x), state "
                f"{r['messages']:.0f} vs {runs['none']['messages']:.0f} messages",
            )
        if "own:removals" in runs["window"]:
            print_own(label, runs, report)


def print_own(label: str, runs: dict[str, dict[str, float]], report: h.Report) -> None:
    """What only the middleware stores, per turn (memory engine), and everything else."""
    base = runs["none"]["per_turn"]
    rows = []
    for name in ("window", "summary"):
        r = runs[name]
        own = sum(r[f"own:{part}"] for part in agents.OWN)
        rest = r["per_turn"] - own
        rows.append(
            [name, *(f"{r[f'own:{part}']:.1f}" for part in agents.OWN), f"{own:.1f}", f"{rest:.1f}"]
        )
        report.verdict(
            rest <= base,
            f"{label}, {name} middleware: all but its own records {rest:.1f} bytes/turn vs "
            f"{base:.1f} without; its own records {own:.1f} bytes/turn",
        )
    header = ["middleware", *agents.OWN, "all its own", "the rest"]
    title = (
        f"bytes/turn (2nd half) only the middleware stores on {label}; the rest vs none {base:.1f}"
    )
    print(h.markdown(title, header, rows))


if __name__ == "__main__":
    h.entry(main)
