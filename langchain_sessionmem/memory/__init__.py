"""Memory strategies: what of a session goes into the prompt (see docs/memory.md).

Each strategy is a Runnable over message lists and a ``memory=`` for ``with_session_memory``;
compose them with ``|`` or :func:`compose`, and use them in agents through
:class:`SessionMemoryMiddleware` (``create_agent``) or :func:`pre_model_hook`. The agent
integrations load on first use, so importing this package loads neither LangGraph's prebuilt
agents nor ``langchain.agents``. To write a strategy, subclass :class:`SessionMemory` and
override its hooks (:class:`MemoryHooks`); plans yield the ops below and read a :class:`History`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import ComposedMemory, SessionMemory, SessionMemoryProtocol, compose
from .compaction import ToolResultCompaction
from .entity import Entity, EntityExtraction, EntityMemory
from .local import ListHistory
from .ops import (
    Count,
    GetState,
    GetUserState,
    History,
    Invoke,
    Op,
    Plan,
    Range,
    Spawn,
    Tail,
    UpdateState,
    UpdateUserState,
)
from .pipeline import BLOCK_MARKER, MemoryHooks, TurnContext, is_block
from .recall import Recall, RecallMemory
from .reporting import MEMORY_EVENT, MemoryStats
from .summary import SummaryBufferMemory, SummaryMemory
from .transcript import format_transcript
from .units import Unit, group_units, select_window
from .window import TokenWindowMemory, WindowMemory

if TYPE_CHECKING:
    from .agents import (
        SessionMemoryAgentState,
        SessionMemoryMiddleware,
        SessionMemoryState,
        pre_model_hook,
    )

_AGENTS = (
    "SessionMemoryAgentState",
    "SessionMemoryMiddleware",
    "SessionMemoryState",
    "pre_model_hook",
)


def __getattr__(name: str) -> Any:
    """Load the agent integrations (LangGraph, ``langchain.agents``) on first use."""
    if name in _AGENTS:
        from . import agents

        return getattr(agents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BLOCK_MARKER",
    "MEMORY_EVENT",
    "ComposedMemory",
    "Count",
    "Entity",
    "EntityExtraction",
    "EntityMemory",
    "GetState",
    "GetUserState",
    "History",
    "Invoke",
    "ListHistory",
    "MemoryHooks",
    "MemoryStats",
    "Op",
    "Plan",
    "Range",
    "Recall",
    "RecallMemory",
    "SessionMemory",
    "SessionMemoryAgentState",
    "SessionMemoryMiddleware",
    "SessionMemoryProtocol",
    "SessionMemoryState",
    "Spawn",
    "SummaryBufferMemory",
    "SummaryMemory",
    "Tail",
    "TokenWindowMemory",
    "ToolResultCompaction",
    "TurnContext",
    "Unit",
    "UpdateState",
    "UpdateUserState",
    "WindowMemory",
    "compose",
    "format_transcript",
    "group_units",
    "is_block",
    "pre_model_hook",
    "select_window",
]
