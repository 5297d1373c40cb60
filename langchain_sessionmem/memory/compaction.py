"""`ToolResultCompaction`: old tool results become short references, tool_call ids kept paired.

An agent that read ten files carries ten file bodies in every later prompt. Past the newest
``keep_last`` results, each ``ToolMessage`` is replaced by a one-line reference built from a
per-tool template filled with the call's arguments (``"File content from {file_path}. Re-read
if needed."``). The message keeps its id, ``tool_call_id`` and tool name, so the AI tool call
stays answered and the window invariants hold. Stored messages are never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from .base import SessionMemory
from .pipeline import TurnContext

DEFAULT_TEMPLATE = "[Result of {tool_name} omitted to save space ({chars} characters). Call the tool again if needed.]"

Rule = str | Callable[[ToolMessage, dict[str, Any]], str]


class _Fields(dict):
    """Template fields; a placeholder naming an absent argument renders as ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"


class ToolResultCompaction(SessionMemory):
    """Replace all but the newest ``keep_last`` tool results by per-tool references.

    ``rules`` maps a tool name to a template (fields: the call's arguments, ``tool_name``,
    ``tool_call_id``, ``chars``) or to a function ``(message, args) -> str``. Tools without a
    rule use ``default`` (``None`` leaves them as they are). Results shorter than ``min_chars``
    are kept: a reference would not save anything.
    """

    def __init__(
        self,
        rules: Mapping[str, Rule] | None = None,
        *,
        keep_last: int = 2,
        default: Rule | None = DEFAULT_TEMPLATE,
        min_chars: int = 120,
        keep_system: bool = True,
    ) -> None:
        super().__init__()
        self.rules = dict(rules or {})
        self.keep_last = max(0, keep_last)
        self.default = default
        self.min_chars = min_chars
        self.keep_system = keep_system

    def compact(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        """``messages`` with old tool results replaced; the list and its messages are not mutated."""
        positions = [i for i, m in enumerate(messages) if isinstance(m, ToolMessage)]
        old = positions[: len(positions) - self.keep_last] if self.keep_last else positions
        if not old:
            return messages
        calls: dict[str | None, dict[str, Any]] = {
            call.get("id"): dict(call)
            for m in messages
            if isinstance(m, AIMessage)
            for call in m.tool_calls
        }
        out = list(messages)
        for i in old:
            message = out[i]
            assert isinstance(message, ToolMessage)
            call = calls.get(message.tool_call_id) or {}
            tool_name = message.name or call.get("name") or "tool"
            rule = self.rules.get(tool_name, self.default)
            text = message.text
            if (
                rule is None
                or len(text) < self.min_chars
                or message.additional_kwargs.get("sessionmem_compacted")
            ):
                continue
            args = dict(call.get("args") or {})
            if callable(rule):
                reference = rule(message, args)
            else:
                reference = rule.format_map(
                    _Fields(
                        args,
                        tool_name=tool_name,
                        tool_call_id=message.tool_call_id,
                        chars=len(text),
                    )
                )
            if len(reference) >= len(text):
                continue
            out[i] = message.model_copy(
                update={
                    "content": reference,
                    "artifact": None,
                    "additional_kwargs": {
                        **message.additional_kwargs,
                        "sessionmem_compacted": True,
                    },
                }
            )
        return out

    def rewrite_window(self, ctx: TurnContext, messages: list[BaseMessage]) -> list[BaseMessage]:
        return self.compact(messages)

    def __repr__(self) -> str:
        return f"ToolResultCompaction(tools={sorted(self.rules)}, keep_last={self.keep_last})"
