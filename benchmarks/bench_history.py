#!/usr/bin/env python
"""Chat-history cost per turn and async throughput, this package beside the usual alternatives.

    python benchmarks/bench_history.py                 # full run (a few minutes)
    python benchmarks/bench_history.py --quick         # well under a minute, sane ratios
    python benchmarks/bench_history.py --smoke         # seconds: every system once, tiny sizes
    python benchmarks/bench_history.py --lengths 10,1000 --only sqlite,memory --skip-async

A turn reads the last 20 messages, then appends one human and one AI message of ~300 characters.
Part 1 times single turns at several history lengths, plus a short history in a table that also
holds 10,000 rows of another session. Part 2 runs 64 concurrent asyncio sessions x 50 turns.
Systems: ours (systems/ours.py), the LangChain histories (systems/community.py) and the floors
(systems/floors.py). Prints PASS / MISS per target and exits 0; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics

import _harness as h
from systems import community, floors, ours
from systems.turns import SEED_MESSAGES, TAIL, Corpus, Round, TurnSampler, run_round

SYSTEMS = [
    ours.OursSqlite, floors.FloorSqlite, floors.FloorSqliteApart, community.CommunitySql,
    ours.OursRedis, floors.FloorRedis, floors.FloorRedisApart, community.CommunityRedis,
    ours.OursPostgres, floors.FloorPostgres, floors.FloorPostgresApart,
    community.CommunityPostgres,
    community.InMemory, ours.OursMemory,
]  # fmt: skip
ASYNC_SYSTEMS = [
    ours.AsyncOursSqlite, floors.AsyncFloorSqlite, floors.AsyncFloorSqliteApart,
    community.AsyncCommunitySql,
    ours.AsyncOursRedis, floors.AsyncFloorRedis, floors.AsyncFloorRedisApart,
    community.AsyncCommunityRedis,
    ours.AsyncOursPostgres, floors.AsyncFloorPostgres, floors.AsyncFloorPostgresApart,
]  # fmt: skip
RATIOS = [  # (label, numerator, denominator, target) of part 1
    ("ours sqlite / sqlite3 floor", "ours-sqlite", "floor-sqlite", "<= 1.5x"),
    ("ours redis / redis-py floor", "ours-redis", "floor-redis", "<= 1.5x"),
    ("ours sqlite / sqlite3 floor, read then write", "ours-sqlite", "floor-sqlite-apart", "info"),
    ("ours redis / redis-py floor, read then write", "ours-redis", "floor-redis-apart", "<= 1.25x"),
    ("SQLChatMessageHistory sqlite / ours sqlite", "community-sql", "ours-sqlite", "speed-up"),
    ("SQLChatMessageHistory postgres / ours sqlite", "community-pg", "ours-sqlite", "speed-up"),
    ("RedisChatMessageHistory / ours redis", "community-redis", "ours-redis", "speed-up"),
    ("ours postgres / psycopg floor", "ours-pg", "floor-pg", "<= 1.5x"),
    ("ours postgres / psycopg floor, read then write", "ours-pg", "floor-pg-apart", "<= 1.25x"),
    ("SQLChatMessageHistory postgres / ours postgres", "community-pg", "ours-pg", "speed-up"),
    ("InMemoryChatMessageHistory / ours sqlite", "memory", "ours-sqlite", "reference"),
    ("ours memory / InMemoryChatMessageHistory", "ours-memory", "memory", "reference"),
]
ENGINES = [  # (engine, ours, floor, community histories compared at the longest H)
    ("SQLite", "ours-sqlite", "floor-sqlite", ("community-sql", "community-pg")),
    ("Redis", "ours-redis", "floor-redis", ("community-redis",)),
    ("PostgreSQL", "ours-pg", "floor-pg", ("community-pg",)),
]
ASYNC_FLOOR = {
    "ours-sqlite": "floor-sqlite", "floor-sqlite-apart": "floor-sqlite",
    "community-sql": "floor-sqlite", "ours-redis": "floor-redis",
    "floor-redis-apart": "floor-redis", "community-redis": "floor-redis", "ours-pg": "floor-pg",
    "floor-pg-apart": "floor-pg",
}  # fmt: skip
TWO_CALL = [  # (engine, its read-then-write floor, most ours / that floor per turn): issue 11
    ("SQLite", "floor-sqlite-apart", 1.25),
    ("Redis", "floor-redis-apart", 1.25),
    ("PostgreSQL", "floor-pg-apart", 1.25),
]
# least ours / one-call floor in part 2 (issue 11); others 0.7
ASYNC_MIN = {"SQLite": 0.85, "Redis": 0.85, "PostgreSQL": 0.85}
PACKAGES = ("langchain-core", "langchain-community", "SQLAlchemy", "redis", "aiosqlite", "psycopg")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = h.parser(__doc__)
    p.add_argument("--lengths", default=None, help="part-1 history lengths (default 10,1000,10000)")
    p.add_argument("--other-rows", type=int, default=None, help="rows of the other session (10000)")
    p.add_argument("--no-other", action="store_true", help="skip the '+N other' column")
    p.add_argument("--engines", dest="only", default=argparse.SUPPRESS, help="same as --only")
    p.add_argument("--skip-turn", action="store_true", help="skip part 1 (per-turn cost)")
    p.add_argument("--skip-async", action="store_true", help="skip part 2 (async throughput)")
    p.add_argument("--cell-seconds", type=float, default=None, help="wall budget per part-1 cell")
    p.add_argument("--sessions", type=int, default=None, help="concurrent sessions (64)")
    p.add_argument("--turns", type=int, default=None, help="turns per session (50, quick 5)")
    p.add_argument("--rounds", type=int, default=None, help="rounds per system (3, quick 2)")
    args = h.parse(p, argv)
    m = args.mode
    args.lengths = [
        int(x) for x in (args.lengths or h.by_mode(m, *["10,1000,10000"] * 2, "10,100")).split(",")
    ]
    args.other_rows = 0 if args.no_other else args.other_rows or h.by_mode(m, 10_000, 10_000, 200)
    seconds = args.cell_seconds or h.by_mode(m, 2.0, 0.3, 0.0)
    args.budget = h.by_mode(
        m, h.Budget(seconds, 9, 500), h.Budget(seconds, 3, 60), h.Budget(0, 1, 1, warmup=0)
    )
    args.sessions = args.sessions or h.by_mode(m, 64, 64, 4)
    args.turns = args.turns or h.by_mode(m, 50, 5, 2)
    args.rounds = args.rounds or h.by_mode(m, 3, 2, 1)
    return args


def part1(args: argparse.Namespace, ws: h.Workspace, corpus: Corpus, report: h.Report) -> None:
    b, other = args.budget, f"H=10 +{args.other_rows:,} other"
    columns = [f"H={n:,}" for n in args.lengths] + ([other] if args.other_rows else [])
    print("Part 1: per-turn cost, median milliseconds per turn (lower is better)")
    print(
        f"  each cell: >= {b.min_samples} timed turns (up to {b.max_samples}) in ~{b.seconds:g} s "
        f"of wall time, after {b.warmup} warm-up turns;\n  the systems of a column alternate in "
        "~50 ms slices; histories are populated in bulk; a session\n  takes at most max(1, H/50) "
        "turns, then a fresh one is used (so H stays within 4 %)\n"
    )
    classes, skipped = h.pick(SYSTEMS, args.wanted, ws.services)
    labels = {c.key: c.label for c in classes}
    cells: dict[str, dict[str, h.Cell]] = {c.key: {} for c in classes}
    for col, length in zip(columns, [*args.lengths, 10], strict=False):
        rows = args.other_rows if col == other else 0
        systems = [c(ws, corpus) for c in classes if col != other or c.supports_other]
        samplers: dict[str, TurnSampler] = {}
        for system in systems:
            try:
                system.open(rows)
                samplers[system.key] = TurnSampler(system, length)
            except Exception as exc:  # noqa: BLE001
                cells[system.key][col] = h.Cell(error=h.short(exc))
        try:
            for key, cell in h.interleave(dict(samplers), b).items():
                cells[key][col] = cell
        finally:
            for sampler in samplers.values():
                try:
                    sampler.drop()
                    sampler.system.close()
                except Exception:  # noqa: BLE001 - cleanup of a failed system
                    pass

    def med(key: str, col: str) -> float | None:
        cell = cells.get(key, {}).get(col)
        return None if cell is None or cell.error else cell.median

    def shown(cell: h.Cell | None) -> str:
        if cell is None:
            return "n/a"
        return "error" if cell.error else f"{h.fmt_ms(cell.median)} ({len(cell.samples)})"

    rows = [[labels[k], *(shown(cs.get(c)) for c in columns)] for k, cs in cells.items()]
    print(h.table(["system            median ms (samples)", *columns], rows))
    for cls in classes:
        for col, cell in cells[cls.key].items():
            if cell.error:
                print(f"  error in {cls.label} at {col}: {cell.error}")
                report.failed(cls, f"{col}: {cell.error}")
    for line in skipped:
        print(line)
    if "memory" in cells and args.other_rows:
        print("  n/a: an in-memory history has no shared table")
    report.results["part1"] = {
        k: {c: x.summary() for c, x in cs.items()} for k, cs in cells.items()
    }
    ratios = [
        (label, [h.ratio(med(a, c), med(b_, c)) for c in columns], target)
        for label, a, b_, target in RATIOS
        if a in cells and b_ in cells
    ]
    report.results["part1_ratios"] = {
        label: dict(zip(columns, rs, strict=True)) for label, rs, _ in ratios
    }
    if ratios:
        print("\nPart 1 ratios (time of the first / time of the second)")
        rrows = [[label, *map(h.fmt_ratio, rs), target] for label, rs, target in ratios]
        print(h.table(["ratio", *columns, "target"], rrows, first_width=44))
    print()
    for engine, ours_key, floor_key, communities in ENGINES:
        if ours_key not in cells or floor_key not in cells:
            continue
        valid = [(c, med(ours_key, c), med(floor_key, c)) for c in columns]
        valid = [(c, o, f) for c, o, f in valid if o is not None and f is not None]
        if not valid:
            report.verdict(False, f"per-turn {engine}: no valid measurement")
            continue
        worst = max(valid, key=lambda t: t[1] / t[2])
        ok = all(o / f <= 1.5 for _, o, f in valid) and len(valid) == len(columns)
        detail = ", ".join(f"{c} {h.fmt_ms(o)}/{h.fmt_ms(f)} ms" for c, o, f in valid)
        report.verdict(
            ok,
            f"per-turn ours {engine} <= 1.5x floor at every length: "
            f"worst {worst[1] / worst[2]:.2f}x at {worst[0]} ({detail})",
        )
        for name, apart, most in TWO_CALL:
            if name != engine or apart not in cells:
                continue
            pairs = [(c, o, med(apart, c)) for c, o, _ in valid if med(apart, c) is not None]
            if pairs:
                top = max(pairs, key=lambda t: t[1] / t[2])
                report.verdict(
                    all(o / f <= most for _, o, f in pairs) and len(pairs) == len(columns),
                    f"per-turn ours {engine} <= {most}x floor read-then-write at every length: "
                    f"worst {top[1] / top[2]:.2f}x at {top[0]} ("
                    + ", ".join(f"{c} {h.fmt_ms(o)}/{h.fmt_ms(f)} ms" for c, o, f in pairs)
                    + ")",
                )
        big = f"H={max(args.lengths):,}"
        for key in (k for k in communities if k in cells):
            if (r := h.ratio(med(key, big), med(ours_key, big))) is not None:
                report.verdict(
                    None,
                    f"{labels[key]} / ours {engine} at {big}: {h.fmt_ratio(r)} "
                    f"({h.fmt_ms(med(key, big))} vs {h.fmt_ms(med(ours_key, big))} ms)",
                )


def part2(args: argparse.Namespace, ws: h.Workspace, corpus: Corpus, report: h.Report) -> None:
    print(
        f"Part 2: async throughput, {args.sessions} concurrent sessions x {args.turns} turns "
        f"(each session starts with {SEED_MESSAGES} messages), {args.rounds} rounds, "
        "turns/s (higher is better)\n"
    )
    classes, skipped = h.pick(ASYNC_SYSTEMS, args.wanted, ws.services)
    rounds: dict[str, list[Round]] = {c.key: [] for c in classes}
    for _ in range(args.rounds):  # round 1 of every system, then round 2, ...: drift hits all alike
        for cls in classes:
            rounds[cls.key].append(run_round(cls(ws, corpus), args.sessions, args.turns))

    def tps(key: str | None) -> float | None:
        ok = [r.turns_per_s for r in rounds.get(key or "", []) if r.turns_per_s is not None]
        return statistics.median(ok) if ok else None

    def failed(key: str) -> int:
        return sum(r.turns_per_s is None for r in rounds[key])

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    rows = []
    for cls in classes:
        rs, floor = rounds[cls.key], ASYNC_FLOOR.get(cls.key)
        vs = h.fmt_ratio(h.ratio(tps(cls.key), tps(floor))) if floor in rounds else "-"
        line = " ".join("fail" if r.turns_per_s is None else num(r.turns_per_s) for r in rs)
        rows.append([cls.label, num(tps(cls.key)), line, vs, f"{failed(cls.key)}/{len(rs)}"])
        rows[-1].append(cls.note)
    header = ["system", "turns/s median", "rounds", "vs floor", "failed rounds", "note"]
    print(h.table(header, rows))
    for cls in classes:
        for i, r in enumerate(rounds[cls.key], 1):
            if r.error:
                print(f"  {cls.label} round {i} failed: {r.error}")
                report.failed(cls, f"round {i}: {r.error}")
    for line in skipped:
        print(line)
    print()
    report.results["part2"] = {k: [r.__dict__ for r in rs] for k, rs in rounds.items()}
    for engine, ours_key, floor_key, _ in ENGINES:
        if ours_key not in rounds or floor_key not in rounds:
            continue
        o, f, r = tps(ours_key), tps(floor_key), h.ratio(tps(ours_key), tps(floor_key))
        least = ASYNC_MIN.get(engine, 0.7)
        report.verdict(
            r is not None and r >= least and failed(ours_key) == 0,
            f"async ours {engine} >= {least}x floor, 0 failed rounds: {h.fmt_ratio(r)} "
            f"({num(o)} vs {num(f)} turns/s), {failed(ours_key)}/{args.rounds} failed rounds",
        )
        if (apart := tps(floor_key + "-apart")) is not None and o is not None:
            report.verdict(
                None,
                f"async ours {engine} / floor read-then-write: {h.fmt_ratio(h.ratio(o, apart))} "
                f"({o:.0f} vs {apart:.0f} turns/s)",
            )
    for cls in classes:
        if cls.key.startswith("community"):
            report.verdict(
                None,
                f"async {cls.label}: {num(tps(cls.key))} turns/s, "
                f"{failed(cls.key)}/{args.rounds} failed rounds",
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services = h.Services.discover(args.redis_url, args.postgres_url)
    report = h.Report(
        "bench_history", "langchain-sessionmem chat-history benchmark", args, services
    )
    report.header(
        PACKAGES,
        f"turn      read the last {TAIL} messages, append 1 human + 1 AI message of ~300 characters",
    )
    ws = h.Workspace(services)
    corpus = Corpus(max([*args.lengths, args.other_rows, SEED_MESSAGES]))
    try:
        if not args.skip_turn:
            part1(args, ws, corpus, report)
        if not args.skip_async:
            part2(args, ws, corpus, report)
    finally:
        notes = ws.close()
    return report.finish(notes)


if __name__ == "__main__":
    h.entry(main)
