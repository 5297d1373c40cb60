"""A LangGraph agent with durable, per-user threads and a bounded history, on one SQLite file.

    python examples/agent_demo.py            # run it twice: the second run continues the thread
    python examples/agent_demo.py --fresh    # start over

The agent (``langchain.agents.create_agent``) looks up support tickets with a tool. Its state is
saved by ``store.checkpointer(user_id=...)``, so the thread belongs to its user and survives a
restart; ``SessionMemoryMiddleware(TokenWindowMemory(...))`` keeps what the model sees (and what
is checkpointed) within a token budget however long the thread grows. Uses ChatOpenAI when
OPENAI_API_KEY or OPENAI_BASE_URL is set; otherwise a labelled offline model that calls the tool.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from langchain_sessionmem import SessionStore
from langchain_sessionmem.memory import SessionMemoryMiddleware, TokenWindowMemory

TICKETS = {
    "T-100": "VPN client fails to connect since the 2.3 update",
    "T-200": "Mailbox over quota",
}


@tool
def lookup_ticket(ticket_id: str) -> str:
    """Return the status of a support ticket."""
    return TICKETS.get(ticket_id.upper(), f"no ticket {ticket_id}")


class OfflineToolModel(BaseChatModel):
    """[offline model] Not an LLM: calls lookup_ticket for a ticket id, then reports the result."""

    @property
    def _llm_type(self) -> str:
        return "offline-tools"

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflineToolModel:  # type: ignore[override]
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"[offline model] Ticket status: {last.text}")
        elif isinstance(last, HumanMessage) and (
            found := re.search(r"T-\d+", last.text, re.IGNORECASE)
        ):
            call = {
                "name": "lookup_ticket",
                "args": {"ticket_id": found.group(0)},
                "id": f"call-{len(messages)}",
            }
            reply = AIMessage(content="", tool_calls=[call])
        else:
            reply = AIMessage(
                content=f"[offline model] I can look up tickets like T-100. I see "
                f"{len(messages)} messages of this thread."
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def chat_model() -> BaseChatModel:
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        from langchain_sessionmem.offline import chat_model as openai_or_offline

        return openai_or_offline()
    print(
        "[offline model] OPENAI_API_KEY / OPENAI_BASE_URL are not set: using a local offline model, not an LLM."
    )
    return OfflineToolModel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", default="agent_threads.db", help="SQLite file (default: %(default)s)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the demo thread first")
    args = parser.parse_args()

    with SessionStore.from_url(f"sqlite:///{args.db}") as store:
        saver = store.checkpointer(user_id="alice")  # threads of alice; other users cannot see them
        if args.fresh:
            saver.delete_thread("alice-support")
        agent = create_agent(
            chat_model(),
            [lookup_ticket],
            checkpointer=saver,
            middleware=[
                # trim_batch: drop what the window no longer needs once 4 messages piled up
                SessionMemoryMiddleware(
                    TokenWindowMemory(300, token_counter="approximate"), trim_batch=4
                )
            ],
        )
        config = {"configurable": {"thread_id": "alice-support"}}
        for text in ["What is the status of T-100?", "And T-200?", "Thanks!"]:
            result = agent.invoke({"messages": [HumanMessage(text)]}, config)
            print(f"alice: {text}\n  agent: {result['messages'][-1].text}")
        state = agent.get_state(config)
        info = saver.thread_info("alice-support")
        print(
            f"\nthread alice-support: {len(state.values['messages'])} messages in state (budget 300 tokens), "
            f"{info['checkpoints']} checkpoints, {info['bytes']} bytes stored in {args.db}"
        )
        bob = store.checkpointer(user_id="bob")
        print(f"bob sees alice's thread: {bob.get_tuple(config) is not None}")


if __name__ == "__main__":
    main()
