"""Conversation text inside memory prompts as inert data: escaped, one record per line, in tags.

Why: the summarizer's and the entity extractor's prompts, and the summary block the chat model
reads, all carry text that users wrote. Inside a data block every message starts exactly one
line with its role, its further lines are indented, and ``<`` is written ``&lt;``, so no message
can forge a role line (``System: ...``), a prompt section (``New summary:``) or the block's
closing tag, whatever it contains; the instruction around the block says it is data. Text a
model wrote can also be cut to a token budget here, so an oversized summary is never sent on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

CUT_MARK = " [...]"
"""Appended to text cut to a budget, so a reader (or model) sees it was cut."""
CHARS_PER_TOKEN_MAX = 16
"""Text longer than this many characters per budget token is cut without counting it whole."""
INDENT = "  "
"""Prefix of a record's continuation lines (a new record always starts at column 0)."""


def escape(text: str) -> str:
    """``text`` with ``<`` written ``&lt;``, so it cannot open or close a tag."""
    return text.replace("<", "&lt;")


def inline(text: str) -> str:
    """``text`` as one escaped line: every line break becomes a space."""
    return " ".join(escape(text).splitlines())


def indented(text: str, first: str = INDENT) -> str:
    """``text`` escaped, its first line after ``first`` and every further line indented.

    Every line break Python knows (``\\r``, ``\\u2028``, ...) counts, so a record cannot smuggle
    a line that starts at column 0.
    """
    lines = escape(text).splitlines() or [""]
    return first + lines[0] + "".join("\n" + INDENT + line for line in lines[1:])


def data_block(tag: str, body: str) -> str:
    """``body`` (already escaped) between ``<tag>`` and ``</tag>`` lines."""
    return f"<{tag}>\n{body}\n</{tag}>"


def format_transcript(messages: Sequence[BaseMessage]) -> str:
    """One record per message (tool calls and results included), escaped for a data block."""
    lines = []
    for message in messages:
        if isinstance(message, HumanMessage):
            lines.append(indented(message.text, "Human: "))
        elif isinstance(message, AIMessage):
            if message.text:
                lines.append(indented(message.text, "AI: "))
            for call in message.tool_calls:
                args = json.dumps(call["args"], ensure_ascii=False)  # one line: JSON escapes breaks
                lines.append(f"AI called {inline(call['name'])}({inline(args)})")
        elif isinstance(message, ToolMessage):
            label = f"Tool result ({inline(message.name or 'tool')}): "
            lines.append(indented(message.text, label))
        elif isinstance(message, SystemMessage):
            lines.append(indented(message.text, "System: "))
        else:
            lines.append(indented(message.text, f"{inline(message.type)}: "))
    return "\n".join(lines)


def cut_to_tokens(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """``text`` if ``count(text) <= max_tokens``, else its longest prefix that fits with
    :data:`CUT_MARK` (ending on a word boundary where one is near). A huge text is sliced
    before it is counted, so cutting costs O(budget), not O(text)."""
    limit = max_tokens * CHARS_PER_TOKEN_MAX
    if len(text) <= limit and count(text) <= max_tokens:
        return text
    lo, hi = 0, min(len(text), limit)
    while lo < hi:  # the longest prefix that fits, by bisection on its length
        mid = (lo + hi + 1) // 2
        if count(text[:mid] + CUT_MARK) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    space = head.rfind(" ")
    if space > len(head) * 4 // 5:
        head = head[:space]
    head = head.rstrip()
    while head and count(head + CUT_MARK) > max_tokens:  # counts need not grow monotonically
        head = head[: len(head) * 9 // 10].rstrip()
    return head + CUT_MARK if head else ""
