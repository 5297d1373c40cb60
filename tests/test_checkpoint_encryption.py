"""Checkpoint encryption on the memory and SQLite savers: sealed values bound to their place."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore
from langchain_sessionmem.crypto import Keyring
from langchain_sessionmem.errors import CorruptDataError, KeyUnavailableError

pytest.importorskip("cryptography")

KEY1, KEY2 = os.urandom(32), os.urandom(32)


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("echo: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def contents(saver: Any, tid: str) -> list[str]:
    return [m.content for m in chat_graph(saver).get_state(cfg(tid)).values.get("messages", [])]


def sqlite_saver(path: Path, namespace: str, **options: Any) -> Any:
    from langchain_sessionmem.checkpoint import SqliteCheckpointSaver

    return SqliteCheckpointSaver(path=str(path), namespace=namespace, **options)


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Any:
    """Savers on one shared storage: ``make(**options)``."""
    from langchain_sessionmem.checkpoint import MemoryCheckpointSaver
    from langchain_sessionmem.checkpoint.saver import SessionSaverBase

    made: list[SessionSaverBase] = []
    data: list[Any] = []

    def build(**options: Any) -> Any:
        if request.param == "memory":
            saver = MemoryCheckpointSaver(data[0] if data else None, **options)
            data[:] = [saver.data]
        else:
            saver = sqlite_saver(tmp_path / "enc.db", namespace, **options)
        made.append(saver)
        return saver

    yield build
    for saver in made:
        saver.close()


def test_raw_sqlite_holds_no_plaintext(tmp_path: Path, namespace: str) -> None:
    marker = "ZEBRA" + uuid.uuid4().hex[:8]
    saver = sqlite_saver(tmp_path / "raw.db", namespace, encryption=Keyring({"k1": KEY1}, "k1"))
    alice = saver.for_user("alice")
    graph = chat_graph(alice)
    for turn in range(3):
        graph.invoke({"messages": [HumanMessage(f"{marker} turn {turn}")]}, cfg("t"))
    writes = [("messages", [HumanMessage(f"{marker} pending")])]
    alice.put_writes(alice.get_tuple(cfg("t")).config, writes, "task-1")
    assert contents(alice, "t")[-2:] == [f"{marker} turn 2", f"echo: {marker} turn 2"]
    assert alice.get_tuple(cfg("t")).pending_writes[0][2][0].content == f"{marker} pending"
    saver.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("raw.db*"))
    assert raw.count(marker.encode()) == 0
    plain = sqlite_saver(tmp_path / "plain.db", namespace)
    chat_graph(plain).invoke({"messages": [HumanMessage(f"{marker} turn 0")]}, cfg("t"))
    plain.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("plain.db*"))
    assert raw.count(marker.encode()) > 0  # the scan does see plaintext


def _rows(conn: Any, table: str, key: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} WHERE thread_id = ?", (key,)).fetchall()


def test_a_value_copied_into_another_thread_fails(tmp_path: Path, namespace: str) -> None:
    """Alice's sealed rows written over bob's: bob reads CorruptDataError, never her text."""
    from langchain_sessionmem.checkpoint.config import thread_key

    saver = sqlite_saver(tmp_path / "move.db", namespace, encryption=Keyring({"k1": KEY1}, "k1"))
    alice, bob = saver.for_user("alice"), saver.for_user("bob")
    chat_graph(alice).invoke({"messages": [HumanMessage("alice's secret")]}, cfg("t"))
    chat_graph(bob).invoke({"messages": [HumanMessage("bob's text")]}, cfg("t"))
    a, b = thread_key("alice", "t"), thread_key("bob", "t")
    s = saver.sql
    with saver.connections.connection() as conn:
        # a channel blob: alice's sealed value under bob's row of the same channel
        a_blobs = {r[2]: r for r in _rows(conn, s.blobs, a) if r[4].endswith("+sealed")}
        b_blobs = {r[2]: r for r in _rows(conn, s.blobs, b) if r[4].endswith("+sealed")}
        channel = sorted(set(a_blobs) & set(b_blobs))[0]
        conn.execute(
            f"UPDATE {s.blobs} SET type = ?, blob = ? WHERE thread_id = ? AND channel = ? "
            "AND version = ?",
            (a_blobs[channel][4], a_blobs[channel][5], b, channel, b_blobs[channel][3]),
        )
    with pytest.raises(CorruptDataError, match="moved|tampered"):
        list(bob.list(cfg("t")))
    with saver.connections.connection() as conn:  # put bob's blob back, then move the log items
        conn.execute(
            f"UPDATE {s.blobs} SET blob = ? WHERE thread_id = ? AND channel = ? AND version = ?",
            (b_blobs[channel][5], b, channel, b_blobs[channel][3]),
        )
        conn.execute(
            f"UPDATE {s.logs} SET blob = (SELECT x.blob FROM {s.logs} x WHERE x.thread_id = ? "
            f"AND x.seq = {s.logs}.seq) WHERE thread_id = ?",
            (a, b),
        )
    assert contents(bob, "t")[0] == "bob's text"  # this process still holds bob's log decoded
    cold = sqlite_saver(tmp_path / "move.db", namespace, encryption=Keyring({"k1": KEY1}, "k1"))
    with pytest.raises(CorruptDataError, match="log"):
        cold.for_user("bob").get_tuple(cfg("t"))
    assert contents(cold.for_user("alice"), "t")[0] == "alice's secret"
    cold.close()
    assert contents(alice, "t")[0] == "alice's secret"  # alice's own rows still open
    saver.close()


def test_a_value_moved_within_its_thread_fails(make: Any) -> None:
    saver = make(encryption=Keyring({"k1": KEY1}, "k1"))
    graph = chat_graph(saver)
    for turn in range(2):
        graph.invoke({"messages": [HumanMessage(f"q{turn}")]}, cfg("t"))
    if hasattr(saver, "sql"):
        with saver.connections.connection() as conn:
            rows = conn.execute(f"SELECT seq, blob FROM {saver.sql.logs} ORDER BY seq").fetchall()
            conn.execute(f"UPDATE {saver.sql.logs} SET blob = ? WHERE seq = 0", (rows[1][1],))
    else:
        (th,) = saver.data.threads.values()
        (items,) = th.logs.values()
        items[0] = items[1]
    fresh = make(encryption=Keyring({"k1": KEY1}, "k1"))  # no cached log
    with pytest.raises(CorruptDataError, match="log"):
        fresh.get_tuple(cfg("t"))


def test_rotation_copy_prune_and_delta_history_under_encryption(make: Any) -> None:
    old = make(encryption=Keyring({"k1": KEY1}, "k1"), user_id="alice")
    chat_graph(old).invoke({"messages": [HumanMessage("first")]}, cfg("t"))
    rotated = make(encryption=Keyring({"k1": KEY1, "k2": KEY2}, "k2"), user_id="alice")
    graph = chat_graph(rotated)
    graph.invoke({"messages": [HumanMessage("second")]}, cfg("t"))
    assert contents(rotated, "t") == ["first", "echo: first", "second", "echo: second"]
    rotated.copy_thread("t", "t-copy")  # re-sealed under the copy's key
    assert contents(rotated, "t-copy") == contents(rotated, "t")
    chat_graph(rotated).invoke({"messages": [HumanMessage("third")]}, cfg("t-copy"))
    rotated.prune(["t"], strategy="keep_latest")
    assert contents(rotated, "t")[-1] == "echo: second"
    from langgraph.checkpoint.base import BaseCheckpointSaver

    latest = rotated.get_tuple(cfg("t-copy")).config
    history = rotated.get_delta_channel_history(config=latest, channels=["messages"])
    assert history["messages"]["writes"]  # sealed pending writes and seed, opened
    assert history == BaseCheckpointSaver.get_delta_channel_history(
        rotated, config=latest, channels=["messages"]
    )
    only_new = make(encryption=Keyring({"k2": KEY2}, "k2"), user_id="alice")
    with pytest.raises(KeyUnavailableError, match="'k1'") as info:
        list(only_new.list(cfg("t")))  # its first items are still sealed with k1
    assert info.value.key_id == "k1"
    with pytest.raises(KeyUnavailableError, match="encrypted"):
        make(user_id="alice").get_tuple(cfg("t"))  # no keyring at all
    with pytest.raises(CorruptDataError, match="unencrypted"):
        chat_graph(make(user_id="bob")).invoke({"messages": [HumanMessage("x")]}, cfg("p"))
        make(encryption=Keyring({"k1": KEY1}, "k1"), user_id="bob").get_tuple(cfg("p"))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_encryption_with_per_user_keys_shreds_on_erase(
    kind: str, tmp_path: Path, namespace: str
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}" if kind == "sqlite" else "memory://"
    keyring = Keyring({"k1": KEY1}, "k1", per_user_keys=True)
    with SessionStore.from_url(url, namespace=namespace, encryption=keyring) as store:
        saver = store.checkpointer(user_id="alice")
        chat_graph(saver).invoke({"messages": [HumanMessage("hers")]}, cfg("t"))
        assert contents(saver, "t") == ["hers", "echo: hers"]
        wrapped = store.engine.get_user_key("alice")
        assert wrapped is not None
        # a copy of the rows survives in a backup, but the erase destroyed the data key
        if kind == "memory":
            backup = {k: th.copy() for k, th in saver.data.threads.items()}
        store.delete_user("alice")
        assert store.engine.get_user_key("alice") is None
        if kind == "memory":
            saver.data.threads.update(backup)
            with pytest.raises(CorruptDataError, match="user data key"):
                store.checkpointer(user_id="alice").get_tuple(cfg("t"))


def test_encrypted_serde_keeps_working(make: Any) -> None:
    from langchain_sessionmem.checkpoint import encrypted_serde

    saver = make(serde=encrypted_serde({"k1": KEY1}, "k1"))
    chat_graph(saver).invoke({"messages": [HumanMessage("old style")]}, cfg("t"))
    assert contents(make(serde=encrypted_serde({"k1": KEY1}, "k1")), "t")[0] == "old style"


def test_per_user_keyring_needs_a_data_key_source() -> None:
    from langchain_sessionmem.checkpoint import MemoryCheckpointSaver
    from langchain_sessionmem.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="data_key"):
        MemoryCheckpointSaver(encryption=Keyring({"k1": KEY1}, "k1", per_user_keys=True))
    with pytest.raises(ConfigurationError, match="Keyring"):
        MemoryCheckpointSaver(encryption={"k1": KEY1})
    keys: dict[str | None, bytes] = {}
    saver = MemoryCheckpointSaver(
        encryption=Keyring({"k1": KEY1}, "k1", per_user_keys=True),
        data_key=lambda owner: keys.setdefault(owner, os.urandom(32)),
    ).for_user("dora")
    chat_graph(saver).invoke({"messages": [HumanMessage("x")]}, cfg("t"))
    assert contents(saver, "t")[0] == "x" and set(keys) == {"dora"}
    keys.clear()  # the data key is gone: what it sealed cannot be read
    keys["dora"] = os.urandom(32)
    with pytest.raises(CorruptDataError):
        saver.get_tuple(cfg("t"))
