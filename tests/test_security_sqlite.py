"""Security properties of the memory and SQLite backends, checked on the raw storage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore
from langchain_sessionmem.records import SessionKey


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def raw_sqlite(path: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and shared-memory index."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def raw_memory(store: SessionStore) -> bytes:
    """Everything the memory engine holds, as text (stored bytes show up in their repr)."""
    engine = store.engine
    return repr((vars(engine), engine.checkpoints.threads)).encode()


def fill(store: SessionStore, user: str, marker: str) -> None:
    """Sessions, session state, per-user state, a data key and two threads, each with ``marker``."""
    for sid in ("s1", "s2"):
        store.history(sid, user_id=user).add_messages(
            [HumanMessage(f"{marker} question {sid}"), AIMessage(f"{marker} answer {sid}")]
        )
    engine = store.engine
    assert engine.cas_state(SessionKey("s1", user), 0, f'{{"summary": "{marker}"}}'.encode())
    assert engine.cas_user_state(user, 0, f'{{"entities": "{marker}"}}'.encode())
    assert (
        engine.create_user_key(user, f"wrapped-{marker}".encode()) == f"wrapped-{marker}".encode()
    )
    graph = chat_graph(store.checkpointer(user_id=user))
    for tid in ("t1", "t2"):
        graph.invoke(
            {"messages": [HumanMessage(f"{marker} in thread {tid}")]},
            {"configurable": {"thread_id": tid}},
        )


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_erase_leaves_nothing_of_the_user_in_raw_storage(
    kind: str, tmp_path: Path, namespace: str
) -> None:
    path = tmp_path / "erase.db"
    url = f"sqlite:///{path}" if kind == "sqlite" else "memory://"
    user, marker = "erased-" + uuid.uuid4().hex[:8], "ZEBRA" + uuid.uuid4().hex[:8]
    bystander, kept = "kept-" + uuid.uuid4().hex[:8], "OKAPI" + uuid.uuid4().hex[:8]
    store = SessionStore.from_url(url, namespace=namespace)
    try:
        fill(store, bystander, kept)
        fill(store, user, marker)
        raw = raw_sqlite(path) if kind == "sqlite" else raw_memory(store)
        assert raw.count(marker.encode()) > 10 and user.encode() in raw  # the scan sees them

        assert store.delete_user(user) == 2

        raw = raw_sqlite(path) if kind == "sqlite" else raw_memory(store)
        assert raw.count(marker.encode()) == 0
        assert raw.count(user.encode()) == 0
        assert raw.count(kept.encode()) > 10  # the bystander is untouched
        if kind == "sqlite":
            assert (tmp_path / "erase.db-wal").stat().st_size == 0  # the WAL was truncated
        assert store.list_sessions(user_id=user) == [] and store.list_threads(user_id=user) == []
        assert store.engine.get_user_key(user) is None
        assert store.engine.get_user_state(user) == (0, None)
        graph = chat_graph(store.checkpointer(user_id=bystander))
        state = graph.get_state({"configurable": {"thread_id": "t1"}})
        assert state.values["messages"][0].content == f"{kept} in thread t1"
        assert store.engine.get_user_key(bystander) == f"wrapped-{kept}".encode()
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_user_keys_are_created_once(kind: str, tmp_path: Path, namespace: str) -> None:
    """create_user_key inserts only if absent: two racing writers end up with one key."""
    url = f"sqlite:///{tmp_path / 'keys.db'}" if kind == "sqlite" else "memory://"
    with SessionStore.from_url(url, namespace=namespace) as store:
        engine = store.engine
        assert engine.get_user_key("alice") is None
        assert engine.create_user_key("alice", b"first") == b"first"
        assert engine.create_user_key("alice", b"second") == b"first"
        assert engine.get_user_key("alice") == b"first" and engine.get_user_key("bob") is None


async def test_user_keys_async_twins(tmp_path: Path, namespace: str) -> None:
    with SessionStore.from_url(f"sqlite:///{tmp_path / 'k.db'}", namespace=namespace) as store:
        engine = store.engine
        assert await engine.acreate_user_key("carol", b"k1") == b"k1"
        assert await engine.acreate_user_key("carol", b"k2") == b"k1"
        assert await engine.aget_user_key("carol") == b"k1"
        await engine.adelete_user("carol")
        assert await engine.aget_user_key("carol") is None


def test_connections_overwrite_deleted_rows(tmp_path: Path, namespace: str) -> None:
    """secure_delete on every connection (Debian's SQLite defaults to it; other builds do not)."""
    store = SessionStore.from_url(f"sqlite:///{tmp_path / 's.db'}", namespace=namespace)
    with store, store.engine.connections.connection() as conn:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
