"""A long conversation within a small token budget: running summary + recent window.

    python examples/summary_demo.py

``SummaryBufferMemory`` keeps the prompt under ``max_tokens``: when the session outgrows it, the
oldest messages are summarized (each exactly once, the previous summary extended) and the newest
stay verbatim. The summary and its watermark live in the session's state, so nothing is
re-summarized on the next turn or after a restart. Uses ChatOpenAI when OPENAI_API_KEY or
OPENAI_BASE_URL is set; otherwise labelled offline models (not LLMs) for chat and summary.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda

from langchain_sessionmem import SessionStore, with_session_memory
from langchain_sessionmem.memory import SummaryBufferMemory
from langchain_sessionmem.offline import chat_model

FACTS = [
    "My name is Ana.",
    "I live in Porto.",
    "I have a boat called Maré.",
    "My boat's engine is a Yanmar 3YM30.",
    "The engine overheats above 2,000 rpm.",
    "I replaced the impeller last month.",
    "The raw-water filter is clean.",
    "The thermostat is original, 15 years old.",
    "I sail mostly in summer.",
    "What should I check next?",
]


class OfflineSummarizer(BaseChatModel):
    """[offline summarizer] Not an LLM: keeps the previous summary and the human lines it is sent."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "offline-summarizer"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls += 1
        prompt = messages[-1].text
        previous = prompt.split("Previous summary:\n", 1)[1].split("\n\nNew lines", 1)[0].strip()
        previous = "" if previous.startswith("(") else previous  # "(none yet)" on the first call
        said = re.findall(r"^Human: (.*)$", prompt, re.MULTILINE)
        summary = " ".join(part for part in [previous, *said] if part)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=summary))])


def show(prompt_value):
    print("  the model receives:")
    for message in prompt_value.to_messages():
        print(f"    {message.type:>6}: {message.text.replace(chr(10), ' ')[:120]}")
    return prompt_value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", default="summary_sessions.db", help="SQLite file (default: %(default)s)"
    )
    args = parser.parse_args()

    online = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
    summarizer = chat_model() if online else OfflineSummarizer()
    memory = SummaryBufferMemory(summarizer, max_tokens=220, token_counter="approximate")
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a boat mechanic."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    with SessionStore.from_url(f"sqlite:///{args.db}") as store:
        store.delete_session("boat", user_id="ana")
        chain = with_session_memory(
            prompt | RunnableLambda(show) | chat_model(),
            store,
            memory=memory,
            input_messages_key="input",
            history_messages_key="history",
        )
        config = {"configurable": {"session_id": "boat", "user_id": "ana"}}
        for fact in FACTS:
            print(f"ana: {fact}")
            chain.invoke({"input": fact}, config)
        history = store.history("boat", user_id="ana")
        record = history.get_state().data.get("summary", {})
        print(
            f"\n{history.count()} messages stored; prompt kept under 220 tokens; "
            f"the summary covers messages 1..{record.get('watermark', 0)}"
        )
        if not online:
            print(f"summarizer calls: {summarizer.calls} for {len(FACTS)} turns")


if __name__ == "__main__":
    main()
