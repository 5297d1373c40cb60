#!/usr/bin/env python
"""Where a chat turn's time goes on SQLite: each layer of ours beside the bare-driver floor.

    python benchmarks/profile_sqlite_turn.py [--calls 400] [--history 10] [--cprofile]

A turn is ``tail(20)`` then ``add_messages([human, ai])``. Every step below runs in batches in a
rotating order, so all of them see the same machine load; medians in microseconds. Rows peel one
layer at a time: the floor's two calls (SELECT, then an IMMEDIATE transaction of SELECT max +
2 INSERT), the engine (connections, statements, parameters), the history (encode / decode in
Python), then the codec alone. ``--cprofile`` also prints the functions that take the most time
over a run of whole turns.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402
from systems.floors import (  # noqa: E402
    SQLITE_SCHEMA,
    sqlite_connect,
    sqlite_fill,
    sqlite_read,
    sqlite_write,
)
from systems.turns import Corpus, decode, encode, turn_pair  # noqa: E402

from langchain_sessionmem import SessionStore  # noqa: E402
from langchain_sessionmem.codec import decode_many  # noqa: E402
from langchain_sessionmem.codec import encode as our_encode  # noqa: E402
from langchain_sessionmem.records import SessionKey  # noqa: E402

USER = "bench-user"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=400)
    p.add_argument("--history", type=int, default=10, help="messages stored before timing")
    p.add_argument("--cprofile", action="store_true", help="also profile whole turns")
    p.add_argument("--ttl", action="store_true", help="a store TTL (sliding on writes)")
    p.add_argument("--refresh-on-read", action="store_true", help="sliding TTL on reads too")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sessionmem-prof-") as tmp:
        options: dict[str, Any] = {}
        if args.ttl or args.refresh_on_read:
            options["ttl"] = 86400
        if args.refresh_on_read:
            options["refresh_on_read"] = True
        store = SessionStore.from_url(f"sqlite:///{tmp}/ours.db", **options)
        bare = sqlite_connect(f"{tmp}/floor.db")
        try:
            return run(args, store, bare)
        finally:
            store.close()
            bare.close()


def run(args: argparse.Namespace, store: Any, bare: Any) -> int:
    corpus = Corpus(max(args.history, 20))
    history = store.history("s", user_id=USER)
    history.add_messages(corpus.messages[: args.history])
    engine = store.engine
    key = SessionKey("s", USER)
    bare.execute(SQLITE_SCHEMA)
    sqlite_fill(bare, "s", corpus.dumped[: args.history])
    texts = corpus.dumped[-20:]  # both sides decode 20 messages
    records = [(i, m.data) for i, m in enumerate(our_encode(corpus.messages[-20:]), 1)]

    batches = [our_encode(list(turn_pair())) for _ in range(args.calls * 2 + 200)]

    def with_ids() -> None:
        h, a = turn_pair()
        h.id, a.id = uuid.uuid4().hex, uuid.uuid4().hex
        history.add_messages([h, a])

    def floor_write() -> None:
        h, a = turn_pair()
        sqlite_write(bare, "s", h, a)

    steps: dict[str, Callable[[], Any]] = {
        "read  floor: SELECT + decode": lambda: sqlite_read(bare, "s"),
        "read  floor: SELECT (no decode)": lambda: bare.execute(
            "SELECT seq, data FROM messages WHERE session = ? ORDER BY seq DESC LIMIT ?",
            ("s", 20),
        ).fetchall(),
        "read  engine.tail(key, 20) (no decode)": lambda: engine.tail(key, 20),
        "read  history.tail(20) (with decode)": lambda: history.tail(20),
        "read  floor decode (json.loads + messages_from_dict)": lambda: decode(texts),
        "read  our decode_many (20 records)": lambda: decode_many(records, session_id="s"),
        "write floor: IMMEDIATE max + 2 INSERT + encode": floor_write,
        "write engine.append (pre-encoded, generated ids)": lambda: engine.append(
            key, batches.pop()
        ),
        "write history.add_messages (no ids)": lambda: history.add_messages(list(turn_pair())),
        "write history.add_messages (ids given)": with_ids,
        "write floor encode (json.dumps of 2)": lambda: [encode(m) for m in turn_pair()],
        "write our encode (2 messages)": lambda: our_encode(list(turn_pair())),
        "misc  turn_pair()": turn_pair,
        "conn  engine connection() borrow/return": lambda: (
            engine.connections.connection().__enter__().__class__
        ),
        "conn  bare SELECT 1": lambda: bare.execute("SELECT 1").fetchall(),
    }
    with_conn = engine.connections.connection

    def borrow() -> None:
        with with_conn():
            pass

    steps["conn  engine connection() borrow/return"] = borrow
    medians = h.medians_us(steps, args.calls)
    title = (
        f"SQLite, {args.history} messages stored, medians of {args.calls} interleaved calls, "
        f"load average {h.load_average()}"
    )
    h.print_turn_profile(
        title,
        medians,
        floor=["read  floor: SELECT + decode", "write floor: IMMEDIATE max + 2 INSERT + encode"],
        ours=["read  history.tail(20) (with decode)", "write history.add_messages (no ids)"],
        minus="misc  turn_pair()",
    )
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            history.tail(20)
            history.add_messages(list(turn_pair()))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
