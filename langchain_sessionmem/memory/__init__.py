"""Memory strategies: what of a session goes into the prompt (see docs/memory.md).

Each strategy is a Runnable over message lists and a ``memory=`` for ``with_session_memory``;
compose them with ``|`` or :func:`compose`, and use them in agents through
:class:`SessionMemoryMiddleware` (``create_agent``) or :func:`pre_model_hook`.
"""

from .agents import (
    SessionMemoryAgentState,
    SessionMemoryMiddleware,
    SessionMemoryState,
    pre_model_hook,
)
from .base import MEMORY_EVENT, MemoryStats, SessionMemory, SessionMemoryProtocol
from .compaction import ToolResultCompaction
from .compose import ComposedMemory, compose
from .entity import Entity, EntityExtraction, EntityMemory
from .local import ListHistory
from .summary import SummaryBufferMemory, SummaryMemory, format_transcript
from .window import TokenWindowMemory, WindowMemory, group_units, select_window

__all__ = [
    "MEMORY_EVENT",
    "ComposedMemory",
    "Entity",
    "EntityExtraction",
    "EntityMemory",
    "ListHistory",
    "MemoryStats",
    "SessionMemory",
    "SessionMemoryAgentState",
    "SessionMemoryMiddleware",
    "SessionMemoryProtocol",
    "SessionMemoryState",
    "SummaryBufferMemory",
    "SummaryMemory",
    "TokenWindowMemory",
    "ToolResultCompaction",
    "WindowMemory",
    "compose",
    "format_transcript",
    "group_units",
    "pre_model_hook",
    "select_window",
]
