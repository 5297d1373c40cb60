"""A scripted chat model that records every prompt it receives (no network, no randomness)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Replies with ``reply(messages)`` (default: 'reply <n>'), streaming it word by word.

    ``received`` keeps the exact message lists the model was called with, in call order.
    ``fail_after`` makes a stream raise after that many chunks, to test mid-stream errors.
    """

    reply: Callable[[list[BaseMessage]], str] | None = None
    received: list[list[BaseMessage]] = Field(default_factory=list)
    fail_after: int | None = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _text(self, messages: list[BaseMessage]) -> str:
        self.received.append(list(messages))
        return self.reply(messages) if self.reply else f"reply number {len(self.received)}"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._text(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        words = self._text(messages).split(" ")
        for i, word in enumerate(words):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("the model failed mid-stream")
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
