"""Runs in a spawned process: appends turns to a SQLite session file (see test_sqlite_engine.py)."""

from __future__ import annotations

from typing import Any


def append_turns(url: str, writer: int, turns: int, start: Any) -> None:
    """Wait at ``start`` (a multiprocessing barrier) so every writer runs at once, then append."""
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_sessionmem import SessionStore

    with SessionStore.from_url(url, allow_anonymous=True) as store:
        history = store.history("shared", user_id="alice")
        start.wait(60)
        for i in range(turns):
            history.add_messages([HumanMessage(f"p{writer} {i}"), AIMessage(f"re: p{writer} {i}")])
