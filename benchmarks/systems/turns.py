"""What a chat turn is (read the last 20 messages, append a human and an AI message) and how one is run.

Every chat-history system implements :class:`ChatSystem` (sync, one turn at a time) and/or
:class:`AsyncChatSystem` (many concurrent sessions in one event loop).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _harness import Workspace, short
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    message_to_dict,
    messages_from_dict,
)

TAIL = 20
OTHER = "other"  # the session that fills a shared table in the "+N other" column
SEED_MESSAGES = 20  # history of each async session before a round

_WORDS = " ".join(
    [
        "the session store keeps every message of a conversation in order and returns the last few",
        "quickly whatever the length of the history tool call answer question user assistant model",
        "token window summary context memory agent graph thread state cache write read append",
    ]
).split()


def _text(rng: random.Random, chars: int = 300) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append(rng.choice(_WORDS))
    return " ".join(out)[:chars]


def chat_text(i: int, chars: int = 350) -> str:
    """The ``i``-th message text of a long conversation: words drawn afresh for each message
    (deterministic), so stored lists compress as conversation text does, not as one repeated
    sentence would."""
    return _text(random.Random(20240601 + i), chars)


_RNG = random.Random(20240601)
_TEXTS = [_text(_RNG) for _ in range(64)]
_SEQ = itertools.count()


def turn_pair(i: int | None = None) -> tuple[BaseMessage, BaseMessage]:
    """A fresh human + AI message without ids, as an application (and RWMH) produces them."""
    i = next(_SEQ) if i is None else i
    return (
        HumanMessage(content=_TEXTS[i % 64]),
        AIMessage(content=_TEXTS[(i * 7 + 3) % 64], response_metadata={"model_name": "bench"}),
    )


class Corpus:
    """Alternating human / AI messages with ids, to populate histories in bulk, and their dumps."""

    def __init__(self, n: int):
        self.messages: list[BaseMessage] = [
            (HumanMessage if i % 2 == 0 else AIMessage)(
                content=_TEXTS[i % 64], id=str(uuid.UUID(int=i + 1, version=4))
            )
            for i in range(n)
        ]
        self.dumped = [encode(m) for m in self.messages]


def encode(message: BaseMessage) -> str:
    """langchain-core's message dict as JSON: what the community classes and the floors store."""
    return json.dumps(message_to_dict(message))


def decode(items: Sequence[str | bytes]) -> list[BaseMessage]:
    return messages_from_dict([json.loads(item) for item in items])


class ChatSystem:
    """One storage system, sync. ``open`` makes fresh storage; sessions are set up untimed."""

    key = ""
    label = ""
    tags: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()  # "redis", "postgres" or modules to import
    supports_other = True

    def __init__(self, ws: Workspace, corpus: Corpus):
        self.ws = ws
        self.corpus = corpus

    def open(self, other_rows: int) -> None: ...
    def new_session(self, n: int) -> Any: ...
    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None: ...
    def drop(self, handle: Any) -> None: ...
    def close(self) -> None: ...


class AsyncChatSystem:
    """One storage system, asyncio; a fresh instance per round."""

    key = ""
    label = ""
    tags: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()
    note = ""

    def __init__(self, ws: Workspace, corpus: Corpus):
        self.ws = ws
        self.corpus = corpus

    async def open(self) -> None: ...
    async def new_session(self, n: int) -> Any: ...
    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None: ...
    async def close(self) -> None: ...


class TurnSampler:
    """One system at one history length: each call times one turn (a fresh session when due).

    A session takes at most ``max(1, length // 50)`` turns (so it grows by at most 4 %), then
    it is dropped and replaced by a fresh one populated in bulk; only turns are timed.
    """

    def __init__(self, system: ChatSystem, length: int):
        self.system, self.length = system, length
        self.per_session = max(1, length // 50)
        self.handle: Any = None
        self.used = self.per_session

    def __call__(self) -> float:
        if self.used >= self.per_session:
            self.drop()
            self.handle, self.used = self.system.new_session(self.length), 0
        h, a = turn_pair()
        start = time.perf_counter()
        self.system.turn(self.handle, h, a)
        elapsed = time.perf_counter() - start
        self.used += 1
        return elapsed

    def drop(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            self.system.drop(handle)


@dataclass
class Round:
    """One async round: turns per second, or why it failed."""

    turns_per_s: float | None
    error: str | None = None


async def _round(system: AsyncChatSystem, sessions: int, turns: int) -> Round:
    await system.open()
    try:
        handles = [await system.new_session(SEED_MESSAGES) for _ in range(sessions)]
        plans = [[turn_pair(s * turns + t) for t in range(turns)] for s in range(sessions)]
        gc.collect()

        async def worker(handle: Any, plan: list[tuple[BaseMessage, BaseMessage]]) -> None:
            for h, a in plan:
                await system.turn(handle, h, a)

        start = time.perf_counter()
        results = await asyncio.gather(
            *(worker(hd, p) for hd, p in zip(handles, plans, strict=True)), return_exceptions=True
        )
        elapsed = time.perf_counter() - start
    finally:
        await system.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        return Round(None, f"{len(errors)}/{sessions} sessions raised {short(errors[0], 70)}")
    return Round(sessions * turns / elapsed)


def run_round(system: AsyncChatSystem, sessions: int, turns: int) -> Round:
    """``sessions`` concurrent sessions of ``turns`` turns each, in a fresh event loop."""
    try:
        return asyncio.run(_round(system, sessions, turns))
    except Exception as exc:  # noqa: BLE001
        return Round(None, short(exc, 70))
