"""Two users, two support sessions, one SQLite file: each session remembers only its own issue.

    python examples/support_demo.py            # run it twice: the second run continues the sessions
    python examples/support_demo.py --fresh    # start over

Uses ChatOpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set; otherwise a labelled offline model.
"""

from __future__ import annotations

import argparse

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda

from langchain_sessionmem import SessionStore, with_session_memory
from langchain_sessionmem.offline import chat_model

TICKETS = [
    ("alice", "ticket-vpn", "My VPN is not working"),
    ("bob", "ticket-email", "I cannot access email"),
]


def show_prompt(prompt_value):
    """Print exactly what the model receives for this turn."""
    messages: list[BaseMessage] = prompt_value.to_messages()
    for message in messages:
        print(f"    {message.type:>6}: {message.text}")
    return prompt_value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", default="support_sessions.db", help="SQLite file (default: %(default)s)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the demo sessions first")
    args = parser.parse_args()

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a helpdesk assistant. Answer from this conversation only."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    store = SessionStore.from_url(f"sqlite:///{args.db}")
    chain = with_session_memory(
        prompt | RunnableLambda(show_prompt) | chat_model(),
        store,
        input_messages_key="input",
        history_messages_key="history",
        max_messages=20,
    )
    with store:
        for user, session, _ in TICKETS:
            if args.fresh:
                store.delete_session(session, user_id=user)
        for user, session, report in TICKETS:
            config = {"configurable": {"session_id": session, "user_id": user}}
            stored = store.history(session, user_id=user).count()
            print(f"\n== {user} / {session} ({stored} messages stored in {args.db})")
            turns = (
                [report, "What issue did I report?"]
                if stored == 0
                else ["What issue did I report?"]
            )
            for text in turns:
                print(f"  {user} says: {text}\n  the model receives:")
                reply = chain.invoke({"input": text}, config)
                print(f"  reply: {reply.content}")
        print("\nSessions per user:")
        for user, _, _ in TICKETS:
            for info in store.list_sessions(user_id=user):
                print(f"  {user}: {info.session_id} with {info.message_count} messages")


if __name__ == "__main__":
    main()
