"""The same strategies in LangGraph agents: create_agent middleware and create_react_agent's pre_model_hook."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel, ensure_tiktoken_cache
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import create_react_agent
from langgraph.prebuilt.chat_agent_executor import AgentState

from langchain_sessionmem.memory import (
    SessionMemoryMiddleware,
    SessionMemoryState,
    SummaryBufferMemory,
    TokenWindowMemory,
    ToolResultCompaction,
    pre_model_hook,
)
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
