"""Agent checkpoints with and without ``SessionMemoryMiddleware``: stored bytes per turn.

A ``create_agent`` agent (a fake model, ~350-character messages, one human and one AI message
per turn, as in the issue's measurement) runs on one thread of each saver three ways: without
middleware, with ``SessionMemoryMiddleware(TokenWindowMemory(...))`` and with
``SessionMemoryMiddleware(SummaryBufferMemory(...))``. A bounded state must mean bounded storage
growth: the steady-state growth per turn (the second half of the run) with the middleware is
compared with the growth without it. Our savers are measured by ``saver.thread_info()["bytes"]``
(what the thread stores: checkpoints, metadata, blobs, writes, log items); LangGraph's by the
same means as in ``systems/savers.py``. Each human message comes with an id (as ``add_messages``
would give it): without one, LangGraph stores the input's pending write with or without the id
it assigns, depending on which of its threads runs first, ±37 bytes from one run to the next.
On the memory engine, :func:`own_bytes` also splits out what only the middleware stores, so the
rest can be compared with the run without it.
"""

from __future__ import annotations

import uuid
from typing import Any

from _harness import Workspace
from langchain_core.messages import HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.checkpoint.removals import REMOVALS, UUID_REMOVALS
from langchain_sessionmem.checkpoint.spans import decode_spans, encode_spans
from langchain_sessionmem.checkpoint.values import LOGREF, ValueCodec, checkpoint_place
from langchain_sessionmem.memory.agents import STATE_KEY

from .fakes import scripted
from .savers import InMemory, Sqlite

HUMAN = "Could you tell me more about the design of the storage layer and why it matters here? " * 4
AI = "Certainly. The storage layer keeps each message once, in an append-only log per thread. " * 4
BUDGET = 1500
"""Memory budget in (approximate) tokens: about 16 messages of the scenario."""
COLUMNS = [  # (result key, table header)
    ("bytes", "stored"),
    ("first_half", "bytes/turn, 1st half"),
    ("per_turn", "bytes/turn, 2nd half"),
    ("messages", "messages in state"),
]


class Ours:
    """A saver from ``SessionStore.from_url(url).checkpointer(user_id=...)``."""

    key = label = "sessionmem-memory"
    tags = frozenset({"ours", "memory"})
    needs: tuple[str, ...] = ()

    def __init__(self, ws: Workspace):
        self.ws = ws

    def url(self) -> str:
        return "memory://"

    def build(self) -> Any:
        self.namespace = self.ws.name("agent")
        self.store = SessionStore.from_url(self.url(), namespace=self.namespace)
        return self.store.checkpointer(user_id="bench-user")

    def size(self, saver: Any, thread_id: str) -> int:
        return int(saver.thread_info(thread_id)["bytes"])

    def own(self, saver: Any, thread_id: str) -> dict[str, int] | None:
        """What only the middleware stores: split on the memory engine (the others store rows)."""
        return own_bytes(saver, thread_id) if type(self) is Ours else None

    def close(self) -> None:
        self.store.close()


class OursSqlite(Ours):
    key = label = "sessionmem-sqlite"
    tags = frozenset({"ours", "sqlite"})

    def url(self) -> str:
        return f"sqlite:///{self.ws.db_path('agent')}"


class OursRedis(Ours):
    key = label = "sessionmem-redis"
    tags = frozenset({"ours", "redis"})
    needs = ("redis",)

    def url(self) -> str:
        self.ws.redis_used = True
        return self.ws.services.redis_url

    def close(self) -> None:
        super().close()
        self.ws.forget_keys(self.namespace)


class OursPostgres(Ours):
    key = label = "sessionmem-postgres"
    tags = frozenset({"ours", "postgres"})
    needs = ("postgres",)

    def url(self) -> str:
        return self.ws.postgres()


ALL = [Ours, OursSqlite, OursRedis, OursPostgres, InMemory, Sqlite]
NEEDS = ("langchain.agents.middleware",)
OWN = ("removals", "kept ranges", "log restarts", "its state", "its version in headers")
"""What only the middleware stores (:func:`own_bytes`), in table order."""


def own_bytes(saver: Any, thread_id: str) -> dict[str, int]:
    """Bytes of a memory-engine thread that only the middleware makes: its trims' removal writes,
    the kept-range part of trimmed log references, the kept messages copied when a log that holds
    mostly trimmed items is restarted (so that prune can drop the old one), its state key's writes
    and blobs, and that key's entries in checkpoint headers (the header re-encoded without them)."""
    key = saver._key(saver._thread_ids([thread_id])[0])  # noqa: SLF001 - a benchmark's look inside
    th = saver.data.threads[key]
    out = dict.fromkeys(OWN, 0)
    for rows in th.writes.values():
        for w in rows.values():
            if w.channel == STATE_KEY:
                out["its state"] += len(w.value)
            elif w.type.split("+")[0] in (REMOVALS, UUID_REMOVALS):
                out["removals"] += len(w.value)
    for (_ns, channel, _version), (typ, data) in th.blobs.items():
        if channel == STATE_KEY:
            out["its state"] += len(data)
        elif typ == LOGREF:  # the part a reference to the whole prefix would not have
            log_id, end, _spans = decode_spans(data)
            out["kept ranges"] += len(data) - len(encode_spans(log_id, [(0, end)])[1])
    seen: set[bytes] = set()
    for items in th.logs.values():  # in the order the logs were started
        for _typ, data in items:
            out["log restarts"] += len(data) if data in seen else 0
            seen.add(data)
    codec = ValueCodec(saver.serde)  # the headers as the saver stores them
    for ns, ckpts in th.ckpts.items():
        for cid, c in ckpts.items():
            place = checkpoint_place(key, ns, cid)
            skeleton = codec.load(c.ckpt, "checkpoint", thread_id, place)
            if skeleton["channel_versions"].pop(STATE_KEY, None) is None:
                continue
            for node_seen in skeleton["versions_seen"].values():
                node_seen.pop(STATE_KEY, None)
            skeleton["updated_channels"] = [
                ch for ch in skeleton.get("updated_channels") or () if ch != STATE_KEY
            ]
            without = codec.dump(skeleton, "checkpoint", place)
            out["its version in headers"] += len(c.ckpt[1]) - len(without[1])
    return out


def memories() -> dict[str, Any]:
    """The three ways the agent runs: no middleware, a token window, summary + window."""
    from langchain_sessionmem.memory import (
        SessionMemoryMiddleware,
        SummaryBufferMemory,
        TokenWindowMemory,
    )

    summarizer = scripted("The user asked about the storage layer; it keeps each message once.")
    return {
        "none": None,
        "window": SessionMemoryMiddleware(TokenWindowMemory(BUDGET, token_counter="approximate")),
        "summary": SessionMemoryMiddleware(
            SummaryBufferMemory(summarizer, max_tokens=BUDGET, token_counter="approximate")
        ),
    }


def run(subject: Any, middleware: Any, turns: int) -> dict[str, float]:
    """``turns`` agent turns on one thread; bytes after each turn, growth per turn by half."""
    from langchain.agents import create_agent

    saver = subject.build()
    try:
        model = scripted(lambda m: AI + str(len(m)))
        agent = create_agent(
            model, tools=[], middleware=[middleware] if middleware else [], checkpointer=saver
        )
        tid = "agent-" + uuid.uuid4().hex[:8]
        config = {"configurable": {"thread_id": tid}}
        own = getattr(subject, "own", lambda _saver, _tid: None)
        half, sizes, owns = turns // 2, [0], {}
        for turn in range(1, turns + 1):
            human = HumanMessage(HUMAN + str(turn), id=str(uuid.uuid4()))  # see the docstring
            agent.invoke({"messages": [human]}, config)
            sizes.append(subject.size(saver, tid))
            if turn in (half, turns):  # the split is read where the second half starts and ends
                owns[turn] = own(saver, tid) if middleware else dict.fromkeys(OWN, 0)
        messages = len(agent.get_state(config).values["messages"])
        if middleware is None and messages != 2 * turns:
            raise RuntimeError(f"{subject.label} lost messages: {messages} of {2 * turns}")
        return {
            "bytes": sizes[-1],
            "first_half": (sizes[half] - sizes[1]) / max(1, half - 1),
            "per_turn": (sizes[-1] - sizes[half]) / max(1, turns - half),
            "messages": messages,
            **{
                f"own:{part}": (owns[turns][part] - owns[half][part]) / max(1, turns - half)
                for part in OWN
                if owns.get(turns) is not None and owns.get(half) is not None
            },
        }
    finally:
        subject.close()
