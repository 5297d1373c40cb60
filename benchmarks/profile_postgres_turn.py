#!/usr/bin/env python
"""Where a chat turn's time goes on PostgreSQL: each layer of ours beside the bare-driver floor.

    python benchmarks/profile_postgres_turn.py [--postgres-url URL] [--calls 400] [--history 10]

A turn is ``tail(20)`` then ``add_messages([human, ai])``. Every step below runs once per
iteration, in a rotating order, so all of them see the same machine load; medians in
microseconds. Rows peel one layer at a time: the floor's SQL, our SQL on a bare connection
(server cost of our statements), the engine (pool checkout, plans, parameters), the history
(encode / decode in Python), then the codec alone. ``--cprofile`` also prints the functions
that take the most time over a run of whole turns.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import sys
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from langchain_core.messages import AIMessage, HumanMessage, messages_from_dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402
from systems.turns import Corpus, decode, encode, turn_pair  # noqa: E402

from langchain_sessionmem import SessionStore  # noqa: E402
from langchain_sessionmem.codec import decode_many  # noqa: E402
from langchain_sessionmem.codec import encode as our_encode  # noqa: E402
from langchain_sessionmem.records import SessionKey  # noqa: E402

URL = os.environ.get("SESSIONMEM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
USER = "bench-user"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--postgres-url", default=URL)
    p.add_argument("--calls", type=int, default=400)
    p.add_argument("--history", type=int, default=10, help="messages stored before timing")
    p.add_argument("--cprofile", action="store_true", help="also profile whole turns")
    p.add_argument("--refresh-on-read", action="store_true", help="sliding TTL on reads too")
    args = p.parse_args()
    ns = "prof" + uuid.uuid4().hex[:8]
    options: dict[str, Any] = {}
    if args.refresh_on_read:
        options = {"ttl": 86400, "refresh_on_read": True}
    store = SessionStore.from_url(args.postgres_url, namespace=ns, **options)
    bare = psycopg.connect(args.postgres_url, autocommit=True)
    floor_table = f"{ns}_floor"
    try:
        return run(args, store, bare, ns, floor_table)
    finally:
        store.close()
        for table in ("messages", "sessions", "user_state", "user_keys", "migrations", "floor"):
            bare.execute(f'DROP TABLE IF EXISTS "{ns}_{table}" CASCADE')
        bare.close()


def run(args: argparse.Namespace, store: Any, bare: Any, ns: str, floor_table: str) -> int:
    corpus = Corpus(max(args.history, 20))
    history = store.history("s", user_id=USER)
    history.add_messages(corpus.messages[: args.history])
    engine = store.engine
    key = SessionKey("s", USER)
    sql = engine.sql
    bare.execute(
        f'CREATE TABLE "{floor_table}" (session TEXT NOT NULL, seq BIGINT NOT NULL, '
        "data TEXT NOT NULL, PRIMARY KEY (session, seq))"
    )
    floor_tail = (
        f'SELECT seq, data FROM "{floor_table}" WHERE session = %s ORDER BY seq DESC LIMIT %s'
    )
    floor_insert = (
        f'INSERT INTO "{floor_table}" (session, seq, data) VALUES (%s, %s, %s), (%s, %s, %s)'
    )
    seqs = itertools.count(1)
    for d in corpus.dumped[: args.history]:
        bare.execute(f'INSERT INTO "{floor_table}" VALUES (%s, %s, %s)', ("s", next(seqs), d))
    texts = corpus.dumped[-20:]  # both sides decode 20 messages
    records = [(i, m.data) for i, m in enumerate(our_encode(corpus.messages[-20:]), 1)]

    def floor_write() -> None:
        h, a = turn_pair()
        i = next(seqs)
        next(seqs)
        bare.execute(floor_insert, ("s", i, encode(h), "s", i + 1, encode(a)))

    def our_sql_append() -> None:
        h, a = turn_pair()
        (mh, ma), now = our_encode([h, a]), engine.plans._now()
        params = {"user": USER, "sid": "s", "now": now, "expires": None}
        params.update(i1=mh.id, d1=mh.data, i2=ma.id, d2=ma.data)
        bare.execute(sql.appends.sql(2, False, create=False), params, prepare=True).fetchall()

    def engine_append() -> None:
        engine.append(key, our_encode(list(turn_pair())))

    def with_ids() -> None:
        h, a = turn_pair()
        h.id, a.id = uuid.uuid4().hex, uuid.uuid4().hex
        history.add_messages([h, a])

    steps: dict[str, Callable[[], Any]] = {
        "read  floor: SELECT (bare, no decode)": lambda: bare.execute(
            floor_tail, ("s", 20)
        ).fetchall(),
        "read  our tail SQL on a bare connection": lambda: bare.execute(
            sql.tail,
            {"user": USER, "sid": "s", "now": engine.plans._now(), "k": 20},
            prepare=True,
            binary=True,
        ).fetchall(),
        "read  engine.tail(key, 20) (no decode)": lambda: engine.tail(key, 20),
        "read  history.tail(20) (with decode)": lambda: history.tail(20),
        "read  floor decode (json.loads + messages_from_dict)": lambda: decode(texts),
        "read  our decode_many (20 records)": lambda: decode_many(records, session_id="s"),
        "write floor: one INSERT of 2 rows (bare)": floor_write,
        "write our append SQL on a bare connection": our_sql_append,
        "write engine.append (pre-encoded, generated ids)": engine_append,
        "write history.add_messages (no ids)": lambda: history.add_messages(list(turn_pair())),
        "write history.add_messages (ids given)": with_ids,
        "write floor encode (json.dumps of 2)": lambda: [encode(m) for m in turn_pair()],
        "write our encode (2 messages)": lambda: our_encode(list(turn_pair())),
        "conn  bare SELECT 1": lambda: bare.execute("SELECT 1", prepare=True).fetchall(),
    }
    medians = h.medians_us(steps, args.calls)
    title = (
        f"PostgreSQL at {args.postgres_url}, {args.history} messages stored, medians of "
        f"{args.calls} interleaved calls, load average {h.load_average()}"
    )
    h.print_turn_profile(
        title,
        medians,
        floor=[
            "read  floor: SELECT (bare, no decode)",
            "read  floor decode (json.loads + messages_from_dict)",
            "write floor: one INSERT of 2 rows (bare)",
            "write floor encode (json.dumps of 2)",
        ],
        ours=["read  history.tail(20) (with decode)", "write history.add_messages (no ids)"],
    )
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            history.tail(20)
            history.add_messages([HumanMessage("hi " * 100), AIMessage("ok " * 100)])
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    _ = messages_from_dict
    return 0


if __name__ == "__main__":
    sys.exit(main())
