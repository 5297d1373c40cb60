"""A third-party strategy written with public names only, run on real stores, composed with ours."""

from __future__ import annotations

import re

from fakes import ensure_tiktoken_cache
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from langchain_sessionmem.memory import (
    BLOCK_MARKER,
    GetState,
    History,
    ListHistory,
    MemoryHooks,
    Plan,
    Range,
    SessionMemory,
    TokenWindowMemory,
    TurnContext,
    UpdateState,
    compose,
)
from langchain_sessionmem.tokens import tiktoken_counter

ensure_tiktoken_cache()
COUNTER = tiktoken_counter(encoding="cl100k_base")


class TicketMemory(SessionMemory):
    """Remembers every ticket id (``T-123``) the user mentioned and injects them as one block.

    Written as a user of the package would: it keeps state, reads only new messages (its own
    watermark), and contributes a block that the pipeline fits into the shared budget.
    """

    keeps_state = True

    def prepare(self, ctx: TurnContext) -> Plan[None]:
        tickets = (ctx.state.get("tickets") or {}).get("ids") or []
        if tickets:
            block = SystemMessage(
                "Tickets this user mentioned: " + ", ".join(tickets),
                additional_kwargs={BLOCK_MARKER: "entities"},
            )
            ctx.blocks["entities"] = [block]
        return None
        yield  # pragma: no cover - makes this a generator

    def after_turn(self, ctx: TurnContext, turn_messages: list[BaseMessage]) -> Plan[None]:
        state = yield GetState(ctx.history)
        record = state.data.get("tickets") or {}
        seen = int(record.get("watermark", 0))
        entries = yield Range(ctx.history, seen + 1)
        if not entries:
            return
        found = [
            t
            for e in entries
            if isinstance(e.message, HumanMessage)
            for t in re.findall(r"T-\d+", e.message.text)
        ]
        last = entries[-1].seq

        def merge(data: dict) -> dict | None:
            current = data.get("tickets") or {}
            if int(current.get("watermark", 0)) >= last:
                return None  # another worker got there first
            ids = list(current.get("ids") or [])
            ids += [t for t in found if t not in ids]
            return {**data, "tickets": {"ids": ids, "watermark": last}}

        yield UpdateState(ctx.history, merge)


def chat(memory: SessionMemory, history: History, turns: list[str]) -> list[list[BaseMessage]]:
    contexts = []
    for text in turns:
        human = HumanMessage(text)
        contexts.append(memory.load_context(history, [human]))
        reply = [human, AIMessage("noted: " + text)]
        history.add_messages(reply)  # type: ignore[attr-defined]
        memory.save_context(history, reply)
    return contexts


def test_a_third_party_strategy_on_a_real_store_composed_with_a_window(store):
    history = store.history("tickets", user_id="alice")
    assert isinstance(history, History)  # the store's history is what strategies read
    memory = compose(TicketMemory(), TokenWindowMemory(120, token_counter=COUNTER))
    assert isinstance(memory.members()[0], TicketMemory)
    turns = ["My laptop broke, ticket T-100.", "Also T-205 for the VPN."]
    turns += [f"Filler question number {i} about something else entirely." for i in range(8)]
    contexts = chat(memory, history, turns)

    state = history.get_state().data["tickets"]
    assert state == {"ids": ["T-100", "T-205"], "watermark": 20}
    last = contexts[-1]
    assert last[0].additional_kwargs[BLOCK_MARKER] == "entities"
    assert last[0].text == "Tickets this user mentioned: T-100, T-205"
    # The tickets left the window long ago, and the budget holds with the block paid first.
    assert not any("T-100" in m.text for m in last[1:])
    assert COUNTER([*last, HumanMessage(turns[-1])]) <= 120


async def test_the_same_strategy_async_and_standalone():
    memory = TicketMemory() | TokenWindowMemory(200, token_counter=COUNTER)
    history = ListHistory([], session_id="s", user_id="bob")
    assert isinstance(history, History)
    for text in ["see T-7", "and T-8"]:
        human = HumanMessage(text)
        await memory.aload_context(history, [human])
        history.add_messages([human, AIMessage("ok")])
        await memory.asave_context(history, [])
    context = await memory.aload_context(history, [HumanMessage("which tickets?")])
    assert context[0].text == "Tickets this user mentioned: T-7, T-8"
    # Standalone over a list (state kept per thread_id), like trim_messages.
    out = memory.invoke([HumanMessage("ticket T-9 please"), AIMessage("ok")])
    assert out[0].text == "Tickets this user mentioned: T-9" and out[-1].text == "ok"


def test_strategies_implement_the_documented_hooks():
    hooks = [n for n in MemoryHooks.__dict__ if not n.startswith("_")]
    names = ("prepare", "choose_window", "rewrite_window", "after_turn", "rebase", "needs_from")
    for name in (*names, "members"):
        assert name in hooks and callable(getattr(SessionMemory, name))
    for flag in ("chooses_window", "keeps_state"):
        assert isinstance(getattr(SessionMemory, flag), bool)
