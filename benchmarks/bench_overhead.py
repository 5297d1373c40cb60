#!/usr/bin/env python
"""What encryption and recall cost per chat turn, beside the same turn without them, in one run.

    python benchmarks/bench_overhead.py            # SQLite, Redis, PostgreSQL; ~1-2 minutes
    python benchmarks/bench_overhead.py --quick    # shorter cells
    python benchmarks/bench_overhead.py --smoke    # seconds, no verdicts

A turn reads the last 20 messages and appends a human and an AI message (~300 characters) to a
session that already holds 1,000. Variants on each engine, interleaved so a noisy moment hits all
alike: plain; encryption (a Keyring: AES-GCM per message, bound to its place); encryption with
per-user data keys; a recall index kept (postings written with each append, no query); and a turn
that also recalls (RecallMemory's query at 1,000 messages, scope user). Prints medians and the
ratio of each variant to plain (target: encryption and the index <= 1.10x; disabled costs nothing
because a store without them runs the plain code). The recall index is written by a background
worker, so the recall rows also report the worker's CPU time per turn and the ratio of turn plus
that time to plain (info: the work no longer on the turn's path, but still on the machine).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import _harness as h
from systems.turns import TAIL, Corpus, turn_pair

from langchain_sessionmem import Keyring, SessionStore
from langchain_sessionmem.tokens import approximate_counter

KEY = os.urandom(32)
COUNTER = approximate_counter()  # the recall query packs within 600 tokens
USER = "bench-user"


def variants() -> dict[str, dict[str, Any]]:
    return {
        "plain": {},
        "encrypted": {"encryption": Keyring({"k1": KEY}, "k1")},
        "encrypted, per-user keys": {"encryption": Keyring({"k1": KEY}, "k1", per_user_keys=True)},
        "recall index": {"recall": True},
        "recall index + query": {"recall": True},
    }


def sampler(
    store: SessionStore, corpus: Corpus, history_length: int, query: bool, turn: list[int]
) -> Callable:
    """A timed turn; ``turn[0]`` counts the turns taken (warm-up included)."""
    history = store.history(uuid.uuid4().hex, user_id=USER)
    history.add_messages(corpus.messages[:history_length])
    if store.recall is not None:
        store.recall.wait(60)  # no background backfill left to compete with the turns

    def sample() -> float:
        human, ai = turn_pair(turn[0])
        turn[0] += 1
        started = time.perf_counter()
        history.tail(TAIL)
        if query:
            history.recall(human.text, 600, scope="user", cost=COUNTER)
        history.add_messages([human, ai])
        return time.perf_counter() - started

    return sample


def main() -> int:
    p = h.parser(__doc__)
    p.add_argument("--length", type=int, default=None, help="messages already stored (1000)")
    args = h.parse(p)
    services = h.Services.discover(args.redis_url, args.postgres_url)
    report = h.Report("bench_overhead", "Encryption and recall per chat turn", args, services)
    report.header(("langchain-core", "redis", "psycopg", "cryptography"))
    length = args.length or h.by_mode(args.mode, 1000, 1000, 40)
    budget = h.Budget(
        seconds=h.by_mode(args.mode, 3.0, 1.0, 0.05),
        min_samples=h.by_mode(args.mode, 200, 60, 3),
        max_samples=h.by_mode(args.mode, 5000, 1500, 20),
    )
    corpus = Corpus(max(length, 50))
    ws = h.Workspace(services)
    engines: dict[str, Callable[[str], str]] = {
        "SQLite": lambda name: f"sqlite:///{ws.db_path(name)}",
        "Redis": lambda name: services.redis_url,
        "PostgreSQL": lambda name: ws.postgres(),
    }
    needs = {"SQLite": None, "Redis": "redis", "PostgreSQL": "postgres"}
    try:
        for engine, url_of in engines.items():
            if needs[engine] and services.problem([needs[engine]]):
                print(f"  skipped {engine}: {services.problem([needs[engine]])}")
                continue
            stores, samplers, turns, busy = [], {}, {}, {}
            for label, options in variants().items():
                name = ws.name("ovh")
                if engine == "Redis":
                    ws.redis_used = True
                store = SessionStore.from_url(url_of(name), namespace=name, **options)
                stores.append((store, name))
                turns[label] = [0]
                samplers[label] = sampler(
                    store, corpus, length, label.endswith("query"), turns[label]
                )
                if store.recall is not None:
                    busy[label] = (store, store.recall.busy_seconds)
            cells = h.interleave(samplers, budget)
            background = {}  # the recall worker's CPU per turn: work moved off the turn's path
            for label, (store, before) in busy.items():
                store.recall.wait(60)
                background[label] = (store.recall.busy_seconds - before) / max(1, turns[label][0])
            plain = cells["plain"].median
            rows = []
            for label, cell in cells.items():
                ratio = h.ratio(cell.median, plain)
                rows.append([label, h.fmt_ms(cell.median), h.fmt_ratio(ratio), cell.error or ""])
                report.results[f"{engine} {label}"] = cell.summary()
                if label != "plain":
                    target = (
                        None if label.endswith("query") else ratio is not None and ratio <= 1.10
                    )
                    report.verdict(
                        target,
                        f"{engine}: {label} / plain = {h.fmt_ratio(ratio)}"
                        + ("" if label.endswith("query") else " (target <= 1.10x)"),
                    )
                if label in background and cell.median is not None and plain:
                    cpu = background[label]
                    report.results[f"{engine} {label} background s/turn"] = cpu
                    report.verdict(
                        None,
                        f"{engine}: {label}, turn + background indexing CPU "
                        f"({h.fmt_ms(cpu)} ms/turn) / plain = "
                        f"{h.fmt_ratio(h.ratio(cell.median + cpu, plain))}",
                    )
            print(f"\n{engine}, {length} messages stored, median ms per turn")
            print(h.table(["variant", "ms", "vs plain", "error"], rows))
            for store, name in stores:
                store.close()
                if engine == "Redis":
                    ws.forget_keys(name)
                elif engine == "PostgreSQL":
                    ws.drop_tables(name)
    finally:
        ws.close()
    return report.finish()


if __name__ == "__main__":
    h.entry(main)
