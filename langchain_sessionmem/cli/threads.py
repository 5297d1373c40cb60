"""`sessionmem threads list|show|delete`: a user's LangGraph checkpointer threads."""

from __future__ import annotations

import argparse
from typing import Any

from .output import Output


def threads(store: Any, args: argparse.Namespace, out: Output) -> int:
    saver = store.checkpointer(user_id=args.user)
    if args.action == "list":
        return _list(store, saver, args, out)
    config = {"configurable": {"thread_id": args.thread_id, "checkpoint_ns": ""}}
    found = saver.get_tuple(config)
    if found is None:
        if out.as_json:
            out.json(None)
        else:
            out.note(f"no thread {args.thread_id!r} for {args.user or 'the anonymous namespace'}")
        return 1
    if args.action == "delete":
        saver.delete_thread(args.thread_id)
        if out.as_json:
            out.json({"thread_id": args.thread_id, "deleted": True})
        else:
            out.line(f"deleted thread {args.thread_id}")
        return 0
    return _show(found, args, out)


def _list(store: Any, saver: Any, args: argparse.Namespace, out: Output) -> int:
    if hasattr(store, "list_threads"):
        rows = store.list_threads(user_id=args.user)
    else:  # a store from before list_threads: the saver lists its owner's threads
        rows = saver.list_threads()
    out.table(
        ["thread", "checkpoints", "updated", "expires"],
        [[t.thread_id, t.checkpoints, t.updated_at, t.expires_at or "never"] for t in rows],
        records=[
            {
                "thread_id": t.thread_id,
                "user_id": t.user_id,
                "checkpoints": t.checkpoints,
                "created_at": t.created_at.isoformat(),
                "updated_at": t.updated_at.isoformat(),
                "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            }
            for t in rows
        ],
        title=f"threads of {args.user or 'the anonymous namespace'}",
        empty=f"no threads for {args.user or 'the anonymous namespace'}",
    )
    return 0


def _show(found: Any, args: argparse.Namespace, out: Output) -> int:
    checkpoint, metadata = found.checkpoint, found.metadata or {}
    values = checkpoint.get("channel_values", {})
    record = {
        "thread_id": args.thread_id,
        "checkpoint_id": checkpoint.get("id"),
        "ts": checkpoint.get("ts"),
        "step": metadata.get("step"),
        "source": metadata.get("source"),
        "channels": sorted(values),
        "messages": [
            {"type": getattr(m, "type", "?"), "text": getattr(m, "text", str(m))}
            for m in values.get("messages", []) or []
        ],
    }
    if out.as_json:
        out.json(record)
        return 0
    out.line(f"thread {args.thread_id}  checkpoint {record['checkpoint_id']}", "bold")
    out.line(f"step {record['step']} ({record['source']}) at {record['ts']}")
    out.line("channels: " + ", ".join(record["channels"]))
    for m in record["messages"]:
        out.line(f"{m['type']:>6}: {m['text']}")
    return 0
