"""The session commands of `sessionmem`: sessions, show, delete, erase-user, purge, stats."""

from __future__ import annotations

import argparse
from typing import Any

from .output import Output


def _who(args: argparse.Namespace) -> str:
    return args.user or "the anonymous namespace"


def sessions(store: Any, args: argparse.Namespace, out: Output) -> int:
    rows = store.list_sessions(user_id=args.user)
    out.table(
        ["session", "messages", "updated", "expires"],
        [[s.session_id, s.message_count, s.updated_at, s.expires_at or "never"] for s in rows],
        records=[
            {
                "session_id": s.session_id,
                "user_id": s.user_id,
                "message_count": s.message_count,
                "created_at": s.created_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in rows
        ],
        title=f"sessions of {_who(args)}",
        empty=f"no sessions for {_who(args)}",
    )
    return 0


STYLES = {"human": "bold green", "ai": "bold blue", "system": "bold magenta", "tool": "yellow"}


def show(store: Any, args: argparse.Namespace, out: Output) -> int:
    entries = store.history(args.session, user_id=args.user).tail_entries(args.last)
    if out.as_json:
        out.json(
            [
                {"seq": e.seq, "type": e.message.type, "id": e.message.id, "text": e.message.text}
                for e in entries
            ]
        )
        return 0 if entries else 1
    if not entries:
        out.note(f"no session {args.session!r} for {_who(args)}")
        return 1
    for entry in entries:
        kind = entry.message.type
        out.line(f"{entry.seq:>5} {kind:>6}: {entry.message.text}", STYLES.get(kind))
    return 0


def delete(store: Any, args: argparse.Namespace, out: Output) -> int:
    deleted = store.delete_session(args.session, user_id=args.user)
    if out.as_json:
        out.json({"session_id": args.session, "deleted": deleted})
    else:
        out.line("deleted" if deleted else "no such session")
    return 0 if deleted else 1


def erase_user(store: Any, args: argparse.Namespace, out: Output) -> int:
    done = []
    for user in out.progress(args.user_ids, len(args.user_ids), "erasing users"):
        done.append({"user_id": user, "deleted_sessions": store.delete_user(user)})
    if out.as_json:
        out.json(done)
    for row in [] if out.as_json else done:
        out.line(f"deleted {row['deleted_sessions']} sessions of {row['user_id']}")
    return 0


def purge(store: Any, args: argparse.Namespace, out: Output) -> int:
    purged = store.purge_expired()
    if out.as_json:
        out.json({"purged": purged})
    else:
        out.line(f"purged {purged} expired sessions")
    return 0


def stats(store: Any, args: argparse.Namespace, out: Output) -> int:
    """Per session: messages, tokens (the default counter) and stored bytes."""
    from ..records import SessionKey
    from ..tokens import default_token_counter

    names = args.sessions or [s.session_id for s in store.list_sessions(user_id=args.user)]
    count = default_token_counter()
    rows = []
    for name in out.progress(names, len(names), "reading sessions"):
        history = store.history(name, user_id=args.user)
        messages = history.messages
        stored = store.engine.tail(SessionKey(name, history.user_id), None)
        rows.append([name, len(messages), count(messages), sum(len(d) for _, d in stored)])
    if len(rows) > 1 and not out.as_json:
        rows.append(["(total)", *(sum(r[i] for r in rows) for i in (1, 2, 3))])
    out.table(
        ["session", "messages", "tokens", "bytes"],
        rows,
        records=[
            dict(zip(("session_id", "messages", "tokens", "bytes"), r, strict=True)) for r in rows
        ],
        title=f"sessions of {_who(args)}",
        empty=f"no sessions for {_who(args)}",
    )
    return 0
