"""The same strategies inside LangGraph agents: `create_agent` middleware and a `pre_model_hook`.

Before each model call the agent's messages go through the memory (summarizing and extracting
inline, since an agent step has no "after the reply"), and the state is rewritten to what the
model should see: ``RemoveMessage(REMOVE_ALL_MESSAGES)`` plus system message, blocks and window.
Rewriting (not only filtering the model's view) keeps checkpoints from growing with every step.
Strategy bookkeeping (summary, watermarks, entities) lives in the ``sessionmem`` state key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, RemoveMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from typing_extensions import NotRequired, TypedDict

from ..errors import ConfigurationError
from ..records import SessionState
from .base import SessionMemory
from .local import ListHistory
from .ops import Plan, arun, run
from .pipeline import is_block, load_plan, save_plan
from .reporting import MemoryStats, areport, report

STATE_KEY = "sessionmem"


def _config() -> RunnableConfig | None:
    try:
        from langgraph.config import get_config

        return get_config()
    except RuntimeError:
        return None


def _signature(messages: Sequence[BaseMessage]) -> list[tuple[Any, ...]]:
    return [(m.type, m.id, m.content) for m in messages]


def agent_plan(
    memory: SessionMemory,
    messages: Sequence[BaseMessage],
    data: dict[str, Any],
    config: RunnableConfig | None,
) -> Plan[tuple[dict[str, Any] | None, MemoryStats]]:
    """The state update for one model call (``None`` when nothing changes), and the stats."""
    raw = [m for m in messages if not is_block(m)]
    thread = str(((config or {}).get("configurable") or {}).get("thread_id") or "agent")
    history = ListHistory(raw, SessionState(0, dict(data)), session_id=thread)
    save_stats = yield from save_plan(memory, history, [], config, inline=True)
    view, stats = yield from load_plan(memory, history, [], config)
    stats.add(save_stats)

    system = 1 if raw and isinstance(raw[0], SystemMessage) and view[:1] == raw[:1] else 0
    kept = len([m for m in view if not is_block(m)])
    new_data = dict(history.state.data)
    for part in memory.members():  # positions now count from the rewritten list
        part.rebase(new_data, len(raw) - kept, system)

    update: dict[str, Any] = {}
    if _signature(view) != _signature(messages):
        update["messages"] = [RemoveMessage(id=REMOVE_ALL_MESSAGES), *view]
    if new_data != data:
        update[STATE_KEY] = new_data
    return (update or None), stats


class SessionMemoryState(TypedDict, total=False):
    """Add to an agent's state schema so stateful strategies can keep their bookkeeping."""

    sessionmem: NotRequired[dict[str, Any]]


def _state_parts(state: Any) -> tuple[list[BaseMessage], dict[str, Any]]:
    if isinstance(state, dict):
        return state["messages"], dict(state.get(STATE_KEY) or {})
    return state.messages, dict(getattr(state, STATE_KEY, None) or {})


def pre_model_hook(memory: SessionMemory) -> RunnableLambda:
    """A ``pre_model_hook`` for ``langgraph.prebuilt.create_react_agent`` applying ``memory``.

    Stateful strategies (summary, entities) need ``state_schema`` to include
    :class:`SessionMemoryState`'s key, e.g. ``class State(AgentState, SessionMemoryState)``.
    """

    def hook(state: Any, config: RunnableConfig) -> dict[str, Any]:
        messages, data = _state_parts(state)
        update, stats = run(agent_plan(memory, messages, data, config))
        report(stats, config)
        return update or {}

    async def ahook(state: Any, config: RunnableConfig) -> dict[str, Any]:
        messages, data = _state_parts(state)
        update, stats = await arun(agent_plan(memory, messages, data, config))
        await areport(stats, config)
        return update or {}

    return RunnableLambda(hook, afunc=ahook, name="sessionmem_pre_model_hook")


try:  # the `agents` extra: langchain>=1.0
    from langchain.agents.middleware import AgentMiddleware as _MiddlewareBase
    from langchain.agents.middleware import AgentState as _AgentState
except ImportError:  # pragma: no cover - exercised only without langchain
    _MiddlewareBase = object  # type: ignore[assignment,misc]
    _AgentState = TypedDict  # type: ignore[assignment,misc]


class SessionMemoryAgentState(_AgentState):  # type: ignore[misc,valid-type]
    """``create_agent``'s state plus the memory bookkeeping key."""

    sessionmem: NotRequired[dict[str, Any]]


class SessionMemoryMiddleware(_MiddlewareBase):  # type: ignore[misc,valid-type]
    """``create_agent(..., middleware=[SessionMemoryMiddleware(memory)])``: memory before each model call."""

    state_schema = SessionMemoryAgentState

    def __init__(self, memory: SessionMemory) -> None:
        if _MiddlewareBase is object:
            raise ConfigurationError(
                "SessionMemoryMiddleware needs langchain>=1.0: pip install 'langchain-sessionmem[agents]'"
            )
        super().__init__()
        self.memory = memory

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        config = _config()
        messages, data = _state_parts(state)
        update, stats = run(agent_plan(self.memory, messages, data, config))
        report(stats, config)
        return update

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        config = _config()
        messages, data = _state_parts(state)
        update, stats = await arun(agent_plan(self.memory, messages, data, config))
        await areport(stats, config)
        return update
