"""A scripted fake chat model for memory tests: records every prompt, counts calls, can fail or sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

Reply = Any  # str | AIMessage | Exception


class ScriptedChatModel(BaseChatModel):
    """Replies from ``script`` (a list consumed in order, or a function of the prompt messages).

    A reply that is an exception is raised. ``delay`` seconds are slept per call (to time
    background work). ``bind_tools`` records the tools and returns the model itself, so the
    model drives agents and ``with_structured_output`` through scripted tool calls.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Any = Field(default_factory=list)
    delay: float = 0.0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[Any] = Field(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def calls(self) -> int:
        return len(self.prompts)

    def prompt_texts(self) -> list[str]:
        """Each call's prompt as one string (the text of its messages joined by newlines)."""
        return ["\n".join(m.text for m in prompt) for prompt in self.prompts]

    def _next(self, messages: Sequence[BaseMessage]) -> AIMessage:
        with self._lock:
            self.prompts.append(list(messages))
            if callable(self.script):
                reply: Reply = self.script(list(messages))
            elif self.script:
                reply = self.script.pop(0)
            else:
                raise RuntimeError("ScriptedChatModel: the script ran out of replies")
        if isinstance(reply, BaseException):
            raise reply
        return reply if isinstance(reply, AIMessage) else AIMessage(content=str(reply))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.tools = list(tools)
        return self


def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so ``wrapper.calls`` counts its calls."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wrapper.calls += 1  # type: ignore[attr-defined]
        return fn(*args, **kwargs)

    wrapper.calls = 0  # type: ignore[attr-defined]
    return wrapper
