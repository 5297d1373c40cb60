"""The same strategies in LangGraph agents: create_agent middleware and create_react_agent's pre_model_hook."""

from __future__ import annotations

import uuid

import pytest
from fakes import ScriptedChatModel, ensure_tiktoken_cache
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import create_react_agent
from langgraph.prebuilt.chat_agent_executor import AgentState

from langchain_sessionmem import SessionStore
from langchain_sessionmem.memory import (
    SessionMemoryMiddleware,
    SessionMemoryState,
    SummaryBufferMemory,
    TokenWindowMemory,
    ToolResultCompaction,
    is_block,
    pre_model_hook,
)
from langchain_sessionmem.memory.agents import TRIM_BATCH
from langchain_sessionmem.tokens import tiktoken_counter

ensure_tiktoken_cache()
COUNTER = tiktoken_counter(encoding="cl100k_base")
BUDGET = 700
CALLS = 25


@tool
def read_page(n: int) -> str:
    """Read page n of the manual."""
    return f"page {n}: " + "the valve must be closed before the pump starts " * 8


def tool_caller() -> ScriptedChatModel:
    """Calls read_page CALLS times, then answers: far more than the budget holds."""

    def script(messages):
        i = len(model.prompts)
        if i <= CALLS:
            return AIMessage(
                "", tool_calls=[{"name": "read_page", "args": {"n": i}, "id": f"call{i}"}]
            )
        return AIMessage("The valve comes first.")

    model = ScriptedChatModel(script=script)
    return model


def assert_paired(messages):
    open_calls: set[str] = set()
    for m in messages:
        if isinstance(m, ToolMessage):
            assert m.tool_call_id in open_calls
            open_calls.discard(m.tool_call_id)
        elif isinstance(m, AIMessage):
            open_calls = {c["id"] for c in m.tool_calls}


def test_create_agent_middleware_keeps_every_model_call_in_budget():
    model = tool_caller()
    summarizer = ScriptedChatModel(script=lambda m: "Pages read so far say: close the valve first.")
    memory = SummaryBufferMemory(summarizer, max_tokens=BUDGET, token_counter=COUNTER)
    agent = create_agent(
        model,
        tools=[read_page],
        middleware=[SessionMemoryMiddleware(memory)],
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "t1"}}
    result = agent.invoke(
        {"messages": [HumanMessage("Read the manual and tell me what comes first.")]}, config
    )
    assert result["messages"][-1].text == "The valve comes first."
    assert model.calls == CALLS + 1
    unbounded = COUNTER(
        [
            HumanMessage("x"),
            *[ToolMessage(read_page.invoke({"n": i}), tool_call_id="c") for i in range(CALLS)],
        ]
    )
    assert unbounded > 2 * BUDGET  # without memory the history would far exceed the budget
    for prompt in model.prompts:
        assert COUNTER(prompt) <= BUDGET
        assert_paired(prompt)
    assert 1 <= summarizer.calls <= 5
    # The summary is in the model's view and the bookkeeping in the agent state (checkpointed).
    assert "close the valve first" in model.prompts[-1][0].text
    assert result["sessionmem"]["summary"]["text"].startswith("Pages read")
    # The checkpoint holds the rewritten (bounded) list, not the whole run.
    assert COUNTER(agent.get_state(config).values["messages"]) <= BUDGET + 200


async def test_create_agent_middleware_async():
    model = tool_caller()
    memory = TokenWindowMemory(BUDGET, token_counter=COUNTER) | ToolResultCompaction(keep_last=1)
    agent = create_agent(model, tools=[read_page], middleware=[SessionMemoryMiddleware(memory)])
    result = await agent.ainvoke({"messages": [HumanMessage("Read the manual.")]})
    assert result["messages"][-1].text == "The valve comes first."
    for prompt in model.prompts:
        assert COUNTER(prompt) <= BUDGET
        assert_paired(prompt)
    # Compaction: only the newest tool result is verbatim in the last prompt.
    tools = [m for m in model.prompts[-1] if isinstance(m, ToolMessage)]
    assert sum(m.text.startswith("page ") for m in tools) == 1 and len(tools) > 1


class ReactState(AgentState, SessionMemoryState):
    pass


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_create_react_agent_pre_model_hook():
    model = tool_caller()
    summarizer = ScriptedChatModel(script=lambda m: "summary of the pages")
    memory = SummaryBufferMemory(summarizer, max_tokens=BUDGET, token_counter=COUNTER)
    agent = create_react_agent(
        model, [read_page], pre_model_hook=pre_model_hook(memory), state_schema=ReactState
    )
    result = agent.invoke(
        {"messages": [HumanMessage("Read the manual.")]}, {"recursion_limit": 100}
    )
    assert result["messages"][-1].text == "The valve comes first."
    for prompt in model.prompts:
        assert COUNTER(prompt) <= BUDGET
        assert_paired(prompt)
    assert (
        summarizer.calls >= 1 and result["sessionmem"]["summary"]["text"] == "summary of the pages"
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stateless_hook_needs_no_state_schema():
    model = tool_caller()
    agent = create_react_agent(
        model,
        [read_page],
        pre_model_hook=pre_model_hook(TokenWindowMemory(BUDGET, token_counter=COUNTER)),
    )
    agent.invoke({"messages": [HumanMessage("Read the manual.")]}, {"recursion_limit": 100})
    assert all(COUNTER(p) <= BUDGET for p in model.prompts)


HUMAN = "Could you tell me more about the design of the storage layer and why it matters here? " * 4
AI = "Certainly. The storage layer keeps each message once, in an append-only log per thread. " * 4


def chat_agent(tmp_path, name, middleware):
    """A create_agent chat on a real SQLite store's checkpointer; returns (run, saver, model)."""
    store = SessionStore.from_url(f"sqlite:///{tmp_path / name}.db", allow_anonymous=True)
    saver = store.checkpointer(user_id="alice")
    model = ScriptedChatModel(script=lambda m: AI + str(len(m)))
    agent = create_agent(model, tools=[], middleware=middleware, checkpointer=saver)
    config = {"configurable": {"thread_id": "t1"}}

    def run(turns):
        sizes, states = [], []
        for turn in range(turns):
            agent.invoke({"messages": [HumanMessage(HUMAN + str(turn))]}, config)
            sizes.append(saver.thread_info("t1")["bytes"])
            states.append(agent.get_state(config).values)
        return sizes, states

    return run, store, model


def growth(sizes, start, end):
    return (sizes[end - 1] - sizes[start - 1]) / (end - start)


def test_a_bounded_agent_state_grows_storage_by_about_what_a_plain_agent_does(tmp_path):
    turns = 60
    plain, store_a, _ = chat_agent(tmp_path, "plain", [])
    plain_sizes, _ = plain(turns)
    memory = TokenWindowMemory(1500, token_counter="approximate")
    bounded, store_b, model = chat_agent(tmp_path, "mw", [SessionMemoryMiddleware(memory)])
    sizes, states = bounded(turns)
    store_a.close()
    store_b.close()

    # The state stays bounded: the window (~16 messages) plus at most one trim batch.
    lengths = [len(s["messages"]) for s in states]
    assert max(lengths) <= 16 + TRIM_BATCH + 2 and lengths[-1] < 2 * turns / 3
    assert all(COUNTER(p) <= 1500 + 50 for p in model.prompts)
    # Each update only dropped a prefix and appended the turn: kept messages keep their ids.
    for before, after in zip(states, states[1:], strict=False):
        old = [m.id for m in before["messages"]]
        new = [m.id for m in after["messages"]]
        kept = old[old.index(new[0]) :]
        assert new[: len(kept)] == kept and len(new) == len(kept) + 2
    # Storage growth per turn is steady (bounded) and within a few percent of the plain agent's:
    # a trim stores the removed ids and references the kept messages. Rewriting the whole kept
    # list at every model call (REMOVE_ALL) cost 5.8x, copying it into a fresh log per trim 1.4x.
    base = growth(plain_sizes, 21, turns)
    first, second = growth(sizes, 21, 40), growth(sizes, 41, turns)
    assert abs(first - second) <= 0.05 * base
    assert growth(sizes, 21, turns) <= 1.05 * base, (growth(sizes, 21, turns), base)


def test_summary_lives_in_the_bookkeeping_not_in_the_messages(tmp_path):
    summarizer = ScriptedChatModel(script=lambda m: "They talked about the storage layer.")
    memory = SummaryBufferMemory(summarizer, max_tokens=1500, token_counter="approximate")
    run, store, model = chat_agent(tmp_path, "sum", [SessionMemoryMiddleware(memory)])
    _, states = run(30)
    store.close()
    assert summarizer.calls >= 1
    assert not any(is_block(m) for s in states for m in s["messages"])
    assert states[-1]["sessionmem"]["summary"]["text"] == "They talked about the storage layer."
    blocks = [m for m in model.prompts[-1] if is_block(m)]
    assert len(blocks) == 1 and "They talked about the storage layer." in blocks[0].text
    assert len(states[-1]["messages"]) < 30


def _benchmark_split():
    """``own_bytes`` of benchmarks/systems/agents.py: the split the checkpoint benchmark prints."""
    import importlib.util
    import pathlib
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location("systems.agents", root / "systems/agents.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(root))
    return module.own_bytes


@pytest.mark.parametrize("strategy", ["window", "summary"])
def test_with_the_middleware_a_turn_stores_only_its_own_records_more(strategy):
    own_bytes = _benchmark_split()
    if strategy == "window":
        memory = TokenWindowMemory(1500, token_counter="approximate")
    else:
        summarizer = ScriptedChatModel(script=lambda m: "They talked about the storage layer.")
        memory = SummaryBufferMemory(summarizer, max_tokens=1500, token_counter="approximate")
    turns, growth_of = 40, {}
    for name, middleware in (("none", []), (strategy, [SessionMemoryMiddleware(memory)])):
        store = SessionStore.from_url("memory://", allow_anonymous=True)
        saver = store.checkpointer(user_id="alice")
        model = ScriptedChatModel(script=lambda m: AI + str(len(m)))
        agent = create_agent(model, tools=[], middleware=middleware, checkpointer=saver)
        config = {"configurable": {"thread_id": "t1"}}
        rest = []
        for turn in range(turns):
            human = HumanMessage(HUMAN + str(turn), id=str(uuid.uuid4()))  # stored the same
            agent.invoke({"messages": [human]}, config)  # way every time (see systems/agents.py)
            own = sum(own_bytes(saver, "t1").values()) if middleware else 0
            rest.append(saver.thread_info("t1")["bytes"] - own)
        growth_of[name] = growth(rest, 21, turns)
        store.close()
    # Messages, checkpoints and their values cost what they cost without the middleware: the
    # bounded state is stored by reference (rewriting the kept list at each call cost 5.8x).
    assert growth_of[strategy] <= growth_of["none"], growth_of
