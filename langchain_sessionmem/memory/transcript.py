"""Conversation text for memory prompts: one line per message, as the summarizer and extractor read it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage


def format_transcript(messages: Sequence[BaseMessage]) -> str:
    """One line per message (tool calls and results included), as the summarizer reads them."""
    lines = []
    for message in messages:
        if isinstance(message, HumanMessage):
            lines.append(f"Human: {message.text}")
        elif isinstance(message, AIMessage):
            if message.text:
                lines.append(f"AI: {message.text}")
            for call in message.tool_calls:
                lines.append(
                    f"AI called {call['name']}({json.dumps(call['args'], ensure_ascii=False)})"
                )
        elif isinstance(message, ToolMessage):
            lines.append(f"Tool result ({message.name or 'tool'}): {message.text}")
        elif isinstance(message, SystemMessage):
            lines.append(f"System: {message.text}")
        else:
            lines.append(f"{message.type}: {message.text}")
    return "\n".join(lines)
