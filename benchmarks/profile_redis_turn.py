#!/usr/bin/env python
"""Where a chat turn's time goes on Redis: each layer of ours beside the bare-driver floor.

    python benchmarks/profile_redis_turn.py [--redis-url URL] [--calls 400] [--history 10]
        [--ttl] [--refresh-on-read] [--cprofile] [--smoke]

A turn is ``tail(20)`` then ``add_messages([human, ai])``. Every step below runs in slices of
a few milliseconds, in a rotating order, so all of them see the same machine load; medians in
microseconds. Rows peel one layer at a time: the floor's two calls through redis-py (LRANGE,
then RPUSH of 2), the same commands written on our lane (one held connection, packed by
hiredis), our requests on the lane with arguments built beforehand (the server and the wire),
the engine (keys, arguments, reply), the history (encode / decode in Python), then the codec
alone. Writes move to a fresh session of ``--history`` messages every ``max(1, H / 50)`` calls,
as the benchmark does, so H stays within 4 %. Then the server's own time per request
(``INFO commandstats`` before and after each request run alone, commands inside scripts
included) and, with ``--cprofile``, the functions that take the most time over whole turns.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402
from systems.turns import Corpus, decode, encode, turn_pair  # noqa: E402

from langchain_sessionmem import SessionStore  # noqa: E402
from langchain_sessionmem.backends.redis.connections import Cmd, Pipe, _transaction  # noqa: E402
from langchain_sessionmem.backends.redis.engine import _APPEND  # noqa: E402
from langchain_sessionmem.backends.redis.keys import escape  # noqa: E402
from langchain_sessionmem.backends.redis.scripts import script  # noqa: E402
from langchain_sessionmem.codec import decode_many  # noqa: E402
from langchain_sessionmem.codec import encode as our_encode  # noqa: E402
from langchain_sessionmem.records import SessionKey  # noqa: E402

USER = "bench-user"
TAIL = 20


class Rotating:
    """A sampler timing ``write(handle)``; every ``per`` calls the handle is replaced by a fresh
    session of H messages (made untimed), the old one dropped."""

    def __init__(self, fresh: Callable[[], Any], drop: Callable[[Any], Any], per: int, write: Any):
        self.fresh, self.drop, self.per, self.write = fresh, drop, per, write
        self.handle: Any = None
        self.used = per

    def __call__(self) -> float:
        if self.used >= self.per:
            if self.handle is not None:
                self.drop(self.handle)
            self.handle, self.used = self.fresh(), 0
        self.used += 1
        began = time.perf_counter()
        self.write(self.handle)
        return time.perf_counter() - began

    def close(self) -> None:
        if self.handle is not None:
            self.drop(self.handle)
            self.handle = None


def main() -> int:
    p = h.parser(__doc__)
    p.add_argument("--calls", type=int, help="timed calls per step (400; --quick 200, smoke 10)")
    p.add_argument("--history", type=int, default=10, help="messages stored before timing")
    p.add_argument("--cprofile", action="store_true", help="also profile whole turns")
    p.add_argument("--ttl", action="store_true", help="a store TTL (sliding on writes)")
    p.add_argument("--refresh-on-read", action="store_true", help="sliding TTL on reads too")
    args = h.parse(p)
    args.calls = args.calls or h.by_mode(args.mode, 400, 200, 10)
    services = h.Services.discover(args.redis_url, args.postgres_url)
    if "redis" in services.problems:
        print(f"skipped: {services.problems['redis']}")
        return 0
    ns = "prof" + uuid.uuid4().hex[:8]
    options: dict[str, Any] = {}
    if args.ttl or args.refresh_on_read:
        options["ttl"] = 86400
    if args.refresh_on_read:
        options["refresh_on_read"] = True
    store = SessionStore.from_url(args.redis_url, namespace=ns, **options)
    try:
        return run(args, store, ns)
    finally:
        store.delete_user(USER)
        client = store.engine.client
        floor_keys = list(client.scan_iter(match=f"{ns}:floor:*", count=1000))
        if floor_keys:
            client.delete(*floor_keys)
        store.close()


def run(args: Any, store: Any, ns: str) -> int:
    corpus = Corpus(max(args.history, TAIL))
    engine = store.engine
    client = engine.client  # redis-py: the floor's client (its usual command path)
    lane = engine.connections._lane  # our held connection, as the engine's scripts use it
    per = max(1, args.history // 50)
    seeded = corpus.messages[: args.history]

    def fresh_history() -> Any:
        history = store.history(uuid.uuid4().hex, user_id=USER)
        if seeded:
            history.add_messages(seeded)
        return history

    def fresh_floor() -> str:
        key = f"{ns}:floor:{uuid.uuid4().hex}"
        for i in range(0, args.history, 1000):
            client.rpush(key, *corpus.dumped[i : min(args.history, i + 1000)])
        return key

    def drop_history(history: Any) -> None:
        history.clear()

    history = fresh_history()  # the one every read step reads
    floor_key = fresh_floor()
    key = SessionKey(history.session_id, USER)
    touch = engine.keys.touch_keys(key)
    texts = corpus.dumped[-TAIL:]  # both sides decode 20 messages
    records = [(i, m.data) for i, m in enumerate(our_encode(corpus.messages[-TAIL:]), 1)]
    d1, d2 = (encode(m) for m in turn_pair())
    batches = [our_encode(list(turn_pair())) for _ in range(args.calls * 12 + 400)]
    bare_append = script("append").source.replace(script("session_touch").source, "")
    noop_sha = client.script_load("return {0, 0}")
    bare_sha = client.script_load(bare_append)

    def script_args(sha: str, session_id: str) -> tuple[Any, ...]:
        """EVALSHA ``sha`` as the engine sends an append of 2 to ``session_id``."""
        a, b = batches.pop()
        keys = engine.keys.touch_keys(SessionKey(session_id, USER))
        head = ("EVALSHA", sha, len(keys), *keys, engine._now_ms(), engine._ttl_ms())
        return (*head, escape(session_id), a.id, a.data, b.id, b.data)

    def prepared(sha: str) -> Callable[[], tuple[Any, list[Any]]]:
        """A fresh session and the EVALSHA requests of its writes, built untimed."""
        return lambda: (s := fresh_history(), [script_args(sha, s.session_id) for _ in range(per)])

    def floor_write(key: str) -> None:
        m1, m2 = turn_pair()
        client.rpush(key, encode(m1), encode(m2))

    def with_ids(history: Any) -> None:
        m1, m2 = turn_pair()
        m1.id, m2.id = uuid.uuid4().hex, uuid.uuid4().hex
        history.add_messages([m1, m2])

    tail_tx = _transaction(Pipe([Cmd("llen", (touch[0],)), Cmd("lrange", (touch[0], -TAIL, -1))]))
    rotating: dict[str, Rotating] = {
        "write floor: RPUSH of 2 + encode (redis-py)": Rotating(
            fresh_floor, client.delete, per, floor_write
        ),
        "write floor: RPUSH of 2, pre-encoded (redis-py)": Rotating(
            fresh_floor, client.delete, per, lambda k: client.rpush(k, d1, d2)
        ),
        "write RPUSH of 2 on our lane": Rotating(
            fresh_floor, client.delete, per, lambda k: lane.call(("RPUSH", k, d1, d2))
        ),
        "write append.lua on our lane (args built before)": Rotating(
            prepared(_APPEND.sha), lambda s: s[0].clear(), per, lambda s: lane.call(s[1].pop())
        ),
        "write append.lua without session_touch, on our lane": Rotating(
            prepared(bare_sha), lambda s: s[0].clear(), per, lambda s: lane.call(s[1].pop())
        ),
        "write engine.append (pre-encoded, generated ids)": Rotating(
            fresh_history, drop_history, per, lambda s: engine.append(s._key, batches.pop())
        ),
        "write history.add_messages (no ids)": Rotating(
            fresh_history, drop_history, per, lambda s: s.add_messages(list(turn_pair()))
        ),
        "write history.add_messages (ids given)": Rotating(
            fresh_history, drop_history, per, with_ids
        ),
    }
    steps: dict[str, Callable[[], Any]] = {
        "read  floor: LRANGE + decode (redis-py)": lambda: decode(
            client.lrange(floor_key, -TAIL, -1)
        ),
        "read  floor: LRANGE (redis-py, no decode)": lambda: client.lrange(floor_key, -TAIL, -1),
        "read  LRANGE on our lane (no decode)": lambda: lane.call(("LRANGE", touch[0], -TAIL, -1)),
        "read  MULTI LLEN LRANGE EXEC on our lane": lambda: lane.call(*tail_tx),
        "read  engine.tail(key, 20) (no decode)": lambda: engine.tail(key, TAIL),
        "read  history.tail(20) (with decode)": lambda: history.tail(TAIL),
        "read  floor decode (json.loads + messages_from_dict)": lambda: decode(texts),
        "read  our decode_many (20 records)": lambda: decode_many(records, session_id="s"),
        **rotating,
        "write EVALSHA of a no-op script, same keys and args": lambda: lane.call(
            script_args(noop_sha, key.session_id)
        ),
        "write floor encode (json.dumps of 2)": lambda: [encode(m) for m in turn_pair()],
        "write our encode (2 messages)": lambda: our_encode(list(turn_pair())),
        "misc  turn_pair()": turn_pair,
        "conn  PING (redis-py)": client.ping,
        "conn  PING on our lane": lambda: lane.call(("PING",)),
    }
    try:
        medians = h.medians_us(steps, args.calls, sampled=rotating)
    finally:
        for sampler in rotating.values():
            sampler.close()
    title = (
        f"Redis at {args.redis_url}, {args.history} messages stored, ttl "
        f"{'on' if engine.ttl else 'off'}{', refresh_on_read' if engine.refresh_on_read else ''}"
        f", medians of {args.calls} interleaved calls, load average {h.load_average()}"
    )
    h.print_turn_profile(
        title,
        medians,
        floor=[
            "read  floor: LRANGE + decode (redis-py)",
            "write floor: RPUSH of 2 + encode (redis-py)",
        ],
        ours=["read  history.tail(20) (with decode)", "write history.add_messages (no ids)"],
        minus="misc  turn_pair()",
    )
    server(args, client, engine, history, key, tail_tx, noop_sha, bare_sha, script_args)
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            history.tail(TAIL)
            history.add_messages(list(turn_pair()))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


def server(args: Any, client: Any, engine: Any, history: Any, key: SessionKey, *rest: Any) -> None:
    """The server's own microseconds per request: each request alone, ``INFO commandstats``
    before and after (commands run inside a script are counted too)."""
    tail_tx, noop_sha, bare_sha, script_args = rest
    lane = engine.connections._lane
    keys, sid = engine.keys.touch_keys(key), key.session_id
    n = max(args.calls, 10)
    requests: dict[str, Callable[[], Any]] = {
        "LRANGE -20 -1 (floor read)": lambda: lane.call(("LRANGE", keys[0], -TAIL, -1)),
        "MULTI LLEN LRANGE EXEC (our read)": lambda: lane.call(*tail_tx),
        "RPUSH of 2 (floor write)": lambda: lane.call(("RPUSH", f"{keys[0]}:floor", "a", "b")),
        "EVALSHA no-op, same keys and args": lambda: lane.call(script_args(noop_sha, sid)),
        "EVALSHA append.lua (our write)": lambda: lane.call(script_args(_APPEND.sha, sid)),
        "EVALSHA append.lua without session_touch": lambda: lane.call(script_args(bare_sha, sid)),
    }
    print(f"\nServer time per request (INFO commandstats over {n} requests each, run alone;")
    print("commands of other clients in the same moments would show as a fraction of a call)")
    for name, request in requests.items():
        before = client.info("commandstats")
        for _ in range(n):
            request()
        after = client.info("commandstats")
        parts, total = [], 0.0
        for cmd, stats in after.items():
            old = before.get(cmd, {"calls": 0, "usec": 0})
            calls = stats["calls"] - old["calls"]
            if calls <= 0 or cmd in ("cmdstat_info",):
                continue
            usec = (stats["usec"] - old["usec"]) / n
            parts.append(f"{cmd[8:]} {calls / n:g}x {usec:.1f}")
            total = max(total, usec)
        print(f"  {name:<44}{total:>7.1f} us   {', '.join(parts)}")
    client.delete(f"{keys[0]}:floor")
    log, ids = keys[0], keys[1]
    encodings = [
        f"{what} {client.object('encoding', k).decode()} {client.memory_usage(k)} bytes"
        for what, k in (("log", log), ("ids", ids))
    ]
    print(f"  session keys after the runs: {'; '.join(encodings)}")
    _ = history


if __name__ == "__main__":
    h.entry(main)
