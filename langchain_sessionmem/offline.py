"""The chat model of the demo and the CLI when no OpenAI-compatible server is configured.

It is not an LLM and says so in every reply: it answers "what did I report?" from the messages
it is sent, so memory can be seen at work without any network access.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import SecretStr

LABEL = "[offline model]"


class OfflineSupportModel(BaseChatModel):
    """Answers from the messages it receives; it knows nothing it was not sent."""

    @property
    def _llm_type(self) -> str:
        return "offline-support"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        asked = [m.text for m in messages if isinstance(m, HumanMessage)]
        question = asked[-1] if asked else ""
        if "?" in question:
            reports = [q for q in asked[:-1] if "?" not in q]
            answer = (
                f"You reported: {reports[0]!r}."
                if reports
                else "I have no report from you in this session."
            )
        else:
            answer = f"Thanks, I have noted: {question!r}."
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=f"{LABEL} {answer}"))]
        )


def chat_model() -> BaseChatModel:
    """ChatOpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, else the labelled offline model."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ImportError(
                "OPENAI_* is set but langchain-openai is not: "
                "pip install 'langchain-sessionmem[openai]'"
            ) from exc

        return ChatOpenAI(
            model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            api_key=SecretStr(os.environ.get("OPENAI_API_KEY", "not-needed")),
        )
    print(
        f"{LABEL} OPENAI_API_KEY / OPENAI_BASE_URL are not set: using a local offline model, not an LLM."
    )
    return OfflineSupportModel()
