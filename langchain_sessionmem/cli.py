"""`sessionmem`: chat in a session, administer sessions, serve the HTTP app.

The store comes from ``--store`` or ``$SESSIONMEM_URL`` (default ``sqlite:///sessions.db``).

    sessionmem chat --session ticket-42 --user alice
    sessionmem sessions --user alice
    sessionmem show ticket-42 --user alice --last 20
    sessionmem delete ticket-42 --user alice
    sessionmem erase-user alice
    sessionmem purge
    SESSIONMEM_TOKENS="token-a:alice,token-b:bob" sessionmem serve --port 8000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableConfig

from .errors import SessionMemoryError
from .runnable import SessionMemoryRunnable, with_session_memory
from .store import SessionStore

DEFAULT_URL = "sqlite:///sessions.db"
SYSTEM_PROMPT = "You are a helpful assistant. Use the conversation so far."


def build_chain(store: SessionStore, max_messages: int) -> SessionMemoryRunnable:
    """The chat chain of ``chat`` and ``serve``: system prompt, session window, the configured model."""
    from .offline import chat_model

    prompt = ChatPromptTemplate.from_messages(
        [("system", SYSTEM_PROMPT), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return with_session_memory(
        prompt | chat_model(),
        store,
        input_messages_key="input",
        history_messages_key="history",
        max_messages=max_messages,
    )


def _chat(store: SessionStore, args: argparse.Namespace) -> int:
    chain = build_chain(store, args.max_messages)
    config: RunnableConfig = {"configurable": {"session_id": args.session, "user_id": args.user}}
    stored = store.history(args.session, user_id=args.user).count()
    print(
        f"session {args.session!r} of {args.user or 'anonymous'} ({stored} messages). /quit to leave."
    )
    for line in sys.stdin:
        text = line.strip()
        if text in ("/quit", "/exit"):
            break
        if text:
            print(f"ai: {chain.invoke({'input': text}, config).text}", flush=True)
    return 0


def _sessions(store: SessionStore, args: argparse.Namespace) -> int:
    rows = store.list_sessions(user_id=args.user)
    if not rows:
        print(f"no sessions for {args.user or 'anonymous'}")
    for info in rows:
        expires = info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never"
        print(
            f"{info.session_id}\t{info.message_count} messages\tupdated {info.updated_at:%Y-%m-%d %H:%M:%S}"
            f"\texpires {expires}"
        )
    return 0


def _show(store: SessionStore, args: argparse.Namespace) -> int:
    for entry in store.history(args.session, user_id=args.user).tail_entries(args.last):
        print(f"{entry.seq:>5} {entry.message.type:>6}: {entry.message.text}")
    return 0


def _delete(store: SessionStore, args: argparse.Namespace) -> int:
    deleted = store.delete_session(args.session, user_id=args.user)
    print("deleted" if deleted else "no such session")
    return 0 if deleted else 1


def _erase_user(store: SessionStore, args: argparse.Namespace) -> int:
    print(f"deleted {store.delete_user(args.user_id)} sessions of {args.user_id}")
    return 0


def _purge(store: SessionStore, args: argparse.Namespace) -> int:
    print(f"purged {store.purge_expired()} expired sessions")
    return 0


def _serve(store: SessionStore, args: argparse.Namespace) -> int:
    import uvicorn

    from .server import bearer_tokens, create_app

    pairs = [p for p in os.environ.get("SESSIONMEM_TOKENS", "").split(",") if p.strip()]
    tokens = dict(p.strip().split(":", 1) for p in pairs if ":" in p)
    if not tokens:
        print(
            "set SESSIONMEM_TOKENS='token:user,...': every request must authenticate as a user",
            file=sys.stderr,
        )
        return 2
    app = create_app(
        build_chain(store, args.max_messages), store, authenticate=bearer_tokens(tokens)
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="sessionmem", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument(
        "--store",
        default=os.environ.get("SESSIONMEM_URL", DEFAULT_URL),
        help="store URL (default: $SESSIONMEM_URL or %(default)s)",
    )
    root.add_argument(
        "--namespace", default="sessionmem", help="key / table prefix (default: %(default)s)"
    )
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        return sub

    chat = command("chat", _chat, "chat in a session (lines from stdin)")
    chat.add_argument("--session", required=True)
    chat.add_argument("--user")
    chat.add_argument("--max-messages", type=int, default=50)
    command("sessions", _sessions, "list a user's sessions").add_argument("--user")
    show = command("show", _show, "print the last messages of a session")
    show.add_argument("session")
    show.add_argument("--user")
    show.add_argument("--last", type=int, default=20)
    delete = command("delete", _delete, "delete one session")
    delete.add_argument("session")
    delete.add_argument("--user")
    command("erase-user", _erase_user, "delete every session of a user").add_argument("user_id")
    command("purge", _purge, "delete expired sessions (SQLite / memory)")
    serve = command("serve", _serve, "serve the HTTP app (tokens from $SESSIONMEM_TOKENS)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-messages", type=int, default=50)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # The command line is an operator tool: no --user means the anonymous namespace.
        with SessionStore.from_url(
            args.store, namespace=args.namespace, allow_anonymous=True
        ) as store:
            return args.handler(store, args)
    except SessionMemoryError as exc:
        print(f"sessionmem: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
