"""Checkpointer benchmark: a one-node MessagesState chat graph, 10 / 100 / 300 turns.

    python benchmarks/bench_checkpoint.py                 # all savers, 10/100/300 turns
    python benchmarks/bench_checkpoint.py --turns 10 100  # shorter
    python benchmarks/bench_checkpoint.py --savers sessionmem-sqlite SqliteSaver

Compares LangGraph's InMemorySaver, SqliteSaver and PostgresSaver (local PostgreSQL, a fresh
schema per run) with the sessionmem savers on memory, SQLite and Redis (a fresh namespace).
Measures, at each milestone: bytes stored, invoke latency (mean of the last 5 turns), get_tuple,
get_state, list(limit=10) and a full list() (what get_state_history does). Prints a table per
milestone and the ratios SqliteSaver / sessionmem-sqlite.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402

REDIS_URL = os.environ.get("SESSIONMEM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "SESSIONMEM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
HUMAN = (
    "Could you tell me more about the design of the storage layer and why it matters here? " * 4
)  # ~340 chars
AI = "Certainly. The storage layer keeps each message once, in an append-only log per thread. " * 4


def graph_for(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(AI + str(len(state["messages"])))]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


class Subject:
    """One saver under test: how to build it, how to measure its bytes, how to clean up."""

    def __init__(
        self,
        name: str,
        build: Callable[[], Any],
        size: Callable[[Any, str], int],
        cleanup: Callable[[], None] = lambda: None,
    ):
        self.name, self.build, self.size, self.cleanup = name, build, size, cleanup


def _inmemory_size(saver: Any, _tid: str) -> int:
    total = sum(
        len(c[1]) + len(m[1])
        for ns in saver.storage.values()
        for cs in ns.values()
        for c, m, _p in cs.values()
    )
    total += sum(len(v[1]) for v in saver.blobs.values())
    return total + sum(len(w[2][1]) for ws in saver.writes.values() for w in ws.values())


def _file_size(path: str) -> Callable[[Any, str], int]:
    def size(_saver: Any, _tid: str) -> int:
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))

    return size


def subjects(workdir: str, names: set[str] | None) -> list[Subject]:
    out: list[Subject] = []

    def want(name: str) -> bool:
        return names is None or name in names

    if want("InMemorySaver"):
        from langgraph.checkpoint.memory import InMemorySaver

        out.append(Subject("InMemorySaver", InMemorySaver, _inmemory_size))
    if want("SqliteSaver"):
        from langgraph.checkpoint.sqlite import SqliteSaver

        lg_path = os.path.join(workdir, "langgraph.db")
        out.append(
            Subject(
                "SqliteSaver",
                lambda: SqliteSaver(sqlite3.connect(lg_path, check_same_thread=False)),
                _file_size(lg_path),
            )
        )
    if want("PostgresSaver"):
        pg = _postgres_subject()
        if pg is not None:
            out.append(pg)
    if want("sessionmem-memory"):
        from langchain_sessionmem.checkpoint import MemoryCheckpointSaver

        out.append(
            Subject(
                "sessionmem-memory",
                MemoryCheckpointSaver,
                lambda s, tid: s.thread_info(tid)["bytes"],
            )
        )
    if want("sessionmem-sqlite"):
        from langchain_sessionmem.store import SessionStore

        sm_path = os.path.join(workdir, "sessionmem.db")
        out.append(
            Subject(
                "sessionmem-sqlite",
                lambda: SessionStore.from_url(f"sqlite:///{sm_path}").checkpointer(),
                _file_size(sm_path),
            )
        )
    if want("sessionmem-redis"):
        red = _redis_subject()
        if red is not None:
            out.append(red)
    return out


def _postgres_subject() -> Subject | None:
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError:
        print("# PostgresSaver skipped: pip install langgraph-checkpoint-postgres", file=sys.stderr)
        return None
    schema = "bench_" + uuid.uuid4().hex[:8]
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        print(f"# PostgresSaver skipped: {exc}", file=sys.stderr)
        return None
    admin.execute(f"CREATE SCHEMA {schema}")

    def build() -> Any:
        conn = psycopg.connect(
            POSTGRES_DSN,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            options=f"-c search_path={schema}",
        )
        saver = PostgresSaver(conn)
        saver.setup()
        return saver

    def size(_saver: Any, _tid: str) -> int:
        admin.execute("VACUUM")  # settle TOAST and free space maps before measuring
        row = admin.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
        return int(row[0])

    def cleanup() -> None:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()

    return Subject("PostgresSaver", build, size, cleanup)


def _redis_subject() -> Subject | None:
    try:
        import redis
    except ImportError:
        return None
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        print(f"# sessionmem-redis skipped: {exc}", file=sys.stderr)
        return None
    from langchain_sessionmem.store import SessionStore

    store = SessionStore.from_url(REDIS_URL, namespace="bench" + uuid.uuid4().hex[:8])

    def cleanup() -> None:
        saver = store.checkpointer()
        for tid in saver.client.zrange(saver.keys.threads, 0, -1):
            saver.delete_thread(tid.decode())
        saver.client.delete(saver.keys.threads)
        store.close()

    return Subject(
        "sessionmem-redis", store.checkpointer, lambda s, tid: s.thread_info(tid)["bytes"], cleanup
    )


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run(subject: Subject, milestones: list[int]) -> dict[int, dict[str, float]]:
    saver = subject.build()
    graph = graph_for(saver)
    tid = "bench-" + uuid.uuid4().hex[:8]
    config = {"configurable": {"thread_id": tid}}
    results: dict[int, dict[str, float]] = {}
    turn_ms: list[float] = []
    for turn in range(1, max(milestones) + 1):
        start = time.perf_counter()
        graph.invoke({"messages": [HumanMessage(HUMAN + str(turn))]}, config)
        turn_ms.append((time.perf_counter() - start) * 1000)
        if turn in milestones:
            full_repeat = 1 if turn >= 100 else 3
            results[turn] = {
                "bytes": subject.size(saver, tid),
                "turn_ms": statistics.mean(turn_ms[-5:]),
                "get_tuple_ms": timed(lambda: saver.get_tuple(config), 5),
                "get_state_ms": timed(lambda: graph.get_state(config), 5),
                "list10_ms": timed(lambda: list(saver.list(config, limit=10)), 3),
                "list_all_ms": timed(lambda: list(saver.list(config)), full_repeat),
            }
            assert len(graph.get_state(config).values["messages"]) == 2 * turn
    return results


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


COLUMNS = [
    ("bytes", "stored"),
    ("turn_ms", "turn ms"),
    ("get_tuple_ms", "get_tuple ms"),
    ("get_state_ms", "get_state ms"),
    ("list10_ms", "list(10) ms"),
    ("list_all_ms", "list() ms"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--savers", nargs="+", default=None)
    args = parser.parse_args()
    milestones = sorted(args.turns)
    all_results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for subject in subjects(workdir, set(args.savers) if args.savers else None):
            began = time.perf_counter()
            try:
                all_results[subject.name] = run(subject, milestones)
            finally:
                subject.cleanup()
            print(f"# {subject.name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    for turn in milestones:
        print(f"\n### {turn} turns ({2 * turn} messages)\n")
        print("| saver | " + " | ".join(label for _k, label in COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for name, res in all_results.items():
            r = res[turn]
            cells = [human_bytes(r["bytes"])] + [f"{r[k]:.2f}" for k, _l in COLUMNS[1:]]
            print(f"| {name} | " + " | ".join(cells) + " |")
    base, ours = "SqliteSaver", "sessionmem-sqlite"
    if base in all_results and ours in all_results:
        print(f"\n### ratios {base} / {ours} (higher = sessionmem better)\n")
        print("| turns | " + " | ".join(label for _k, label in COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for turn in milestones:
            a, b = all_results[base][turn], all_results[ours][turn]
            print(
                f"| {turn} | "
                + " | ".join(f"{a[k] / b[k]:.1f}x" if b[k] else "-" for k, _l in COLUMNS)
                + " |"
            )


if __name__ == "__main__":
    main()
