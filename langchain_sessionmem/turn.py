"""What one chat turn reads and writes, without I/O: input and output messages of a chain's
values, the chain's input with the history in place, merged stream chunks, partial replies.

The keys follow ``RunnableWithMessageHistory`` (``input_messages_key``, ``output_messages_key``,
``history_messages_key``), so a chain moves over without changing its prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    message_chunk_to_message,
)

from .errors import ConfigurationError


def as_messages(value: Any, what: str) -> list[BaseMessage]:
    """Messages from a chain value: a str (human input / AI output), message(s), chunks merged."""
    if isinstance(value, str):
        return [HumanMessage(content=value)] if what == "input" else [AIMessage(content=value)]
    if isinstance(value, BaseMessageChunk):
        return [message_chunk_to_message(value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(m, BaseMessage) for m in value):
        return [
            message_chunk_to_message(m) if isinstance(m, BaseMessageChunk) else m for m in value
        ]
    raise ConfigurationError(
        f"cannot read the {what} messages from a {type(value).__name__}: the chain's {what} "
        f"must be a str, a message, a list of messages, or a dict (then set "
        f"{what}_messages_key=...)"
    )


def merge(total: Any, chunk: Any) -> Any:
    """Add up streamed output: message chunks and strings concatenate, dicts merge per key."""
    if total is None:
        return chunk
    if isinstance(total, dict) and isinstance(chunk, dict):
        merged = dict(total)
        for key, value in chunk.items():
            merged[key] = merge(merged.get(key), value)
        return merged
    try:
        return total + chunk
    except TypeError:
        return chunk


def interrupted(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """AI messages marked ``response_metadata["interrupted"] = True``: a reply cut short."""
    return [
        m.model_copy(update={"response_metadata": {**m.response_metadata, "interrupted": True}})
        if isinstance(m, AIMessage)
        else m
        for m in messages
    ]


@dataclass(frozen=True)
class TurnShape:
    """Where a chain's input and output messages live, and where the history goes."""

    input_messages_key: str | None = None
    output_messages_key: str | None = None
    history_messages_key: str | None = None

    def input_messages(self, input: Any) -> list[BaseMessage]:
        if isinstance(input, dict):
            key = self.input_messages_key or "input"
            if key not in input:
                raise ConfigurationError(
                    f"the input dict has no key {key!r} (keys: {sorted(input)}): "
                    "set input_messages_key=..."
                )
            return as_messages(input[key], "input")
        return as_messages(input, "input")

    def chain_input(self, input: Any, history: list[BaseMessage], new: list[BaseMessage]) -> Any:
        if self.history_messages_key:
            if not isinstance(input, dict):
                raise ConfigurationError(
                    "history_messages_key needs a dict input: pass {'input': ..., ...}"
                )
            return {**input, self.history_messages_key: history}
        if isinstance(input, dict):
            return {**input, self.input_messages_key or "input": [*history, *new]}
        return [*history, *new]

    def output_messages(self, output: Any) -> list[BaseMessage]:
        if isinstance(output, dict):
            key = self.output_messages_key
            if key is None and len(output) == 1:
                key = next(iter(output))
            if key not in output:
                raise ConfigurationError(
                    f"the chain returned a dict with keys {sorted(output)}: "
                    "set output_messages_key=..."
                )
            return as_messages(output[key], "output")
        return as_messages(output, "output")

    def partial_messages(self, total: Any) -> list[BaseMessage]:
        """What a consumer saw of a stream cut short, marked interrupted (nothing if no chunk)."""
        return [] if total is None else interrupted(self.output_messages(total))
