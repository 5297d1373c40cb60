"""Memory strategies: what of a session goes into the prompt (see docs/memory.md)."""

from .base import MEMORY_EVENT, MemoryStats, SessionMemory, SessionMemoryProtocol
from .local import ListHistory
from .window import TokenWindowMemory, WindowMemory, group_units, select_window

__all__ = [
    "MEMORY_EVENT",
    "ListHistory",
    "MemoryStats",
    "SessionMemory",
    "SessionMemoryProtocol",
    "TokenWindowMemory",
    "WindowMemory",
    "group_units",
    "select_window",
]
