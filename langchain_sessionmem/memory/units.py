"""Tool-call units: the pieces a window may keep or drop, so it never splits a tool call.

An ``AIMessage`` that calls tools forms one unit with the ``ToolMessage`` answers that follow
it. Cutting only between units means a window never starts on an orphan ``ToolMessage`` and never
keeps a tool call without its results (the ``trim_messages`` failure modes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage


@dataclass
class Unit:
    """Messages ``[start, end)`` that must be kept or dropped together."""

    start: int
    end: int
    keep: bool = True
    """False for an orphan ToolMessage, or a tool call whose results are missing mid-history."""


def group_units(messages: Sequence[BaseMessage]) -> list[Unit]:
    """Split a conversation into atomic units, oldest first."""
    units: list[Unit] = []
    i = 0
    n = len(messages)
    while i < n:
        message = messages[i]
        if isinstance(message, AIMessage) and message.tool_calls:
            pending = {call.get("id") for call in message.tool_calls}
            j = i + 1
            while j < n:
                answer = messages[j]
                if not (isinstance(answer, ToolMessage) and answer.tool_call_id in pending):
                    break
                pending.discard(answer.tool_call_id)
                j += 1
            # An unanswered call is fine only at the very end (the tools are still running).
            units.append(Unit(i, j, keep=not pending or j == n))
            i = j
        else:
            units.append(Unit(i, i + 1, keep=not isinstance(message, ToolMessage)))
            i += 1
    return units


def select_window(
    messages: Sequence[BaseMessage],
    costs: Sequence[int],
    *,
    budget: int | None = None,
    max_messages: int | None = None,
) -> list[BaseMessage]:
    """The longest run of whole units ending at the newest message within both limits.

    Orphans inside the run are left out; the run stops at the first unit that does not fit,
    so the window is always a contiguous stretch of the conversation.
    """
    kept: list[Unit] = []
    used_tokens = 0
    used_messages = 0
    for unit in reversed(group_units(messages)):
        if not unit.keep:
            continue
        size = unit.end - unit.start
        tokens = sum(costs[unit.start : unit.end])
        if budget is not None and used_tokens + tokens > budget:
            break
        if max_messages is not None and used_messages + size > max_messages:
            break
        kept.append(unit)
        used_tokens += tokens
        used_messages += size
    return [m for unit in reversed(kept) for m in messages[unit.start : unit.end]]
