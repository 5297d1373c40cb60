#!/usr/bin/env python
"""What preparing the PostgreSQL checkpointer's statements buys: the same calls on connections
that prepare every hot statement once (the default) and on connections that never prepare.

    python benchmarks/bench_postgres_statements.py [--postgres-url URL] [--turns 300] [--calls 200]

Builds one thread of ``--turns`` chat turns, then times ``get_tuple``, ``list(limit=10)``,
``put_writes`` and ``put`` (medians of ``--calls`` calls, interleaved round by round so both
sides see the same machine load) and prints the ratios unprepared / prepared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from typing import Any

import psycopg
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem.backends.postgres.connections import PostgresConnections
from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver

URL = os.environ.get("SESSIONMEM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def graph(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("noted: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def saver_on(url: str, namespace: str, prepare: bool) -> PostgresCheckpointSaver:
    connections = PostgresConnections(url, prepare=prepare, max_size=2)
    return PostgresCheckpointSaver(connections, namespace=namespace, user_id="bench")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--postgres-url", default=URL)
    p.add_argument("--turns", type=int, default=300)
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args()
    namespace = "bs" + uuid.uuid4().hex[:8]
    sides = {"prepared": saver_on(args.postgres_url, namespace, True)}
    sides["unprepared"] = saver_on(args.postgres_url, namespace, False)
    config = {"configurable": {"thread_id": "t"}}
    try:
        g = graph(sides["prepared"])
        for i in range(args.turns):
            g.invoke({"messages": [HumanMessage(f"turn {i}: " + "some words " * 20)]}, config)
        latest, older = list(sides["prepared"].list(config, limit=2))  # writes go to the older
        calls = {
            "get_tuple": lambda s: s.get_tuple(config),
            "list(limit=10)": lambda s: list(s.list(config, limit=10)),
            "put_writes": lambda s: s.put_writes(older.config, [("x", 1)], uuid.uuid4().hex),
            "put": lambda s: s.put(latest.config, latest.checkpoint, latest.metadata, {}),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.calls):
            for name, call in calls.items():
                for side, saver in sides.items():
                    began = time.perf_counter()
                    call(saver)
                    times.setdefault((name, side), []).append(time.perf_counter() - began)
        print(f"PostgreSQL at {args.postgres_url}, {args.turns} turns, medians of {args.calls}")
        print(f"{'call':<16}{'prepared ms':>14}{'unprepared ms':>16}{'ratio':>9}")
        for name in calls:
            a = statistics.median(times[(name, "prepared")]) * 1000
            b = statistics.median(times[(name, "unprepared")]) * 1000
            print(f"{name:<16}{a:>14.3f}{b:>16.3f}{b / a:>8.2f}x")
    finally:
        for saver in sides.values():
            saver.connections.close()
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)",
                (namespace + "_",),
            ).fetchall()
            if tables:
                conn.execute("DROP TABLE " + ", ".join(f'"{t}"' for (t,) in tables) + " CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
