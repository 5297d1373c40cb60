"""The same strategies inside LangGraph agents: `create_agent` middleware and a `pre_model_hook`.

Each model call sees what the memory builds from the agent's messages (summarizing and
extracting inline, since an agent step has no "after the reply"): system message, blocks and
window. The agent's state stays bounded with the smallest update that does it: ``RemoveMessage``
for each message no strategy needs any more, dropped in batches of ``trim_batch``. Kept messages
stay the same objects under the same ids, and blocks (summary, entities) are never stored in
``messages``: they are rebuilt from the ``sessionmem`` state key, where the bookkeeping lives. So
a checkpointer that stores list channels as append-only logs (ours) writes each message once,
trims included (a trim references the kept messages and stores the removed ids), instead of the
whole kept list at every model call (a ``REMOVE_ALL`` rewrite).
The middleware works inside the model call (``wrap_model_call``), so it adds no graph step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, RemoveMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Command
from typing_extensions import NotRequired, TypedDict

from ..errors import ConfigurationError
from ..records import SessionState
from .base import SessionMemory
from .local import ListHistory
from .ops import Plan, arun, run
from .pipeline import is_block, load_plan, save_plan
from .reporting import MemoryStats, areport, report

STATE_KEY = "sessionmem"
TRIM_BATCH = 16
"""Default: drop unneeded messages once this many have piled up (each trim is one state update)."""


@dataclass
class AgentStep:
    """What memory decided for one model call: the model's input and the state update."""

    view: list[BaseMessage]
    update: dict[str, Any]
    stats: MemoryStats


def _config() -> RunnableConfig | None:
    try:
        from langgraph.config import get_config

        return get_config()
    except RuntimeError:
        return None


def agent_plan(
    memory: SessionMemory,
    messages: Sequence[BaseMessage],
    data: dict[str, Any],
    config: RunnableConfig | None,
    trim_batch: int = TRIM_BATCH,
) -> Plan[AgentStep]:
    """The model's input for one call, and the smallest state update that keeps state bounded."""
    stale = [m for m in messages if is_block(m)]  # blocks stored by earlier versions
    raw = [m for m in messages if not is_block(m)]
    thread = str(((config or {}).get("configurable") or {}).get("thread_id") or "agent")
    history = ListHistory(raw, SessionState(0, dict(data)), session_id=thread)
    save_stats = yield from save_plan(memory, history, [], config, inline=True)
    view, stats = yield from load_plan(memory, history, [], config)
    stats.add(save_stats)
    new_data = dict(history.state.data)

    # Keep from the first message the prompt uses or a strategy still needs; the system stays.
    system = 1 if raw and isinstance(raw[0], SystemMessage) and view[:1] == raw[:1] else 0
    shown = {id(m) for m in view} | {m.id for m in view if m.id}
    keep_from = next(
        (i for i, m in enumerate(raw) if i >= system and (id(m) in shown or m.id in shown)),
        len(raw) - 1,  # nothing of the window fits: still keep the newest message
    )
    for part in memory.members():
        needed = part.needs_from(new_data, len(raw))
        if needed is not None:
            keep_from = min(keep_from, max(system, needed - 1))
    dropped = raw[system:keep_from] if keep_from - system >= max(1, trim_batch) else []
    if dropped:
        for part in memory.members():  # positions now count from the shortened list
            part.rebase(new_data, len(dropped), system)

    update: dict[str, Any] = {}
    gone = stale + dropped
    if gone and all(m.id for m in gone):
        update["messages"] = [RemoveMessage(id=m.id) for m in gone]  # type: ignore[arg-type]
    elif gone:  # a message without an id cannot be removed alone: rewrite the list once
        kept = raw[:system] + raw[system + len(dropped) :]
        update["messages"] = [RemoveMessage(id=REMOVE_ALL_MESSAGES), *kept]
    if new_data != data:
        update[STATE_KEY] = new_data
    return AgentStep(view, update, stats)


class SessionMemoryState(TypedDict, total=False):
    """Add to an agent's state schema so stateful strategies can keep their bookkeeping."""

    sessionmem: NotRequired[dict[str, Any]]


def _state_parts(state: Any) -> tuple[list[BaseMessage], dict[str, Any]]:
    if isinstance(state, dict):
        return state["messages"], dict(state.get(STATE_KEY) or {})
    return state.messages, dict(getattr(state, STATE_KEY, None) or {})


def pre_model_hook(memory: SessionMemory, *, trim_batch: int = TRIM_BATCH) -> RunnableLambda:
    """A ``pre_model_hook`` for ``langgraph.prebuilt.create_react_agent`` applying ``memory``.

    The model reads the memory's view as ``llm_input_messages``; ``messages`` only loses what no
    strategy needs. Stateful strategies (summary, entities) need ``state_schema`` to include
    :class:`SessionMemoryState`'s key, e.g. ``class State(AgentState, SessionMemoryState)``.
    """

    def hook(state: Any, config: RunnableConfig) -> dict[str, Any]:
        step = run(agent_plan(memory, *_state_parts(state), config, trim_batch))
        report(step.stats, config)
        return {"llm_input_messages": step.view, **step.update}

    async def ahook(state: Any, config: RunnableConfig) -> dict[str, Any]:
        step = await arun(agent_plan(memory, *_state_parts(state), config, trim_batch))
        await areport(step.stats, config)
        return {"llm_input_messages": step.view, **step.update}

    return RunnableLambda(hook, afunc=ahook, name="sessionmem_pre_model_hook")


try:  # the `agents` extra: langchain>=1.0
    from langchain.agents.middleware import AgentMiddleware as _MiddlewareBase
    from langchain.agents.middleware import AgentState as _AgentState
except ImportError:  # pragma: no cover - exercised only without langchain
    _MiddlewareBase = object  # type: ignore[assignment,misc]
    _AgentState = TypedDict  # type: ignore[assignment,misc]
try:  # state updates from wrap_model_call
    from langchain.agents.middleware.types import ExtendedModelResponse
except ImportError:  # pragma: no cover - exercised only with an older langchain
    ExtendedModelResponse = None  # type: ignore[assignment,misc]


class SessionMemoryAgentState(_AgentState):  # type: ignore[misc,valid-type]
    """``create_agent``'s state plus the memory bookkeeping key."""

    sessionmem: NotRequired[dict[str, Any]]


class SessionMemoryMiddleware(_MiddlewareBase):  # type: ignore[misc,valid-type]
    """``create_agent(..., middleware=[SessionMemoryMiddleware(memory)])``: memory at each model call.

    The model receives the memory's view (middleware listed after this one see it as the
    request); the state update rides along with the model's reply, so no graph step is added.
    ``trim_batch``: drop unneeded messages from the state once this many piled up (1: at every
    call; larger batches mean fewer, larger removal updates).
    """

    state_schema = SessionMemoryAgentState

    def __init__(self, memory: SessionMemory, *, trim_batch: int = TRIM_BATCH) -> None:
        if _MiddlewareBase is object or ExtendedModelResponse is None:
            raise ConfigurationError(
                "SessionMemoryMiddleware needs langchain>=1.0 with state updates from "
                "wrap_model_call (ExtendedModelResponse): pip install -U 'langchain-sessionmem[agents]' langchain"
            )
        super().__init__()
        self.memory = memory
        self.trim_batch = trim_batch

    @staticmethod
    def _reply(step: AgentStep, response: Any) -> Any:
        if not step.update:
            return response
        return ExtendedModelResponse(model_response=response, command=Command(update=step.update))

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        config = _config()
        messages, data = _state_parts(request.state)
        step = run(agent_plan(self.memory, messages, data, config, self.trim_batch))
        report(step.stats, config)
        return self._reply(step, handler(request.override(messages=step.view)))

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        config = _config()
        messages, data = _state_parts(request.state)
        step = await arun(agent_plan(self.memory, messages, data, config, self.trim_batch))
        await areport(step.stats, config)
        return self._reply(step, await handler(request.override(messages=step.view)))
