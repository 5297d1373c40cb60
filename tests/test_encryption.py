"""Encryption at rest through the store, on every engine: histories and checkpoints under one keyring,
no plaintext in raw storage, ciphertexts bound to their place, rotation, missing keys named, and
per-user keys kept apart so an erase shreds the user's backups too."""

from __future__ import annotations

import os
import shutil
import sqlite3
from typing import Any

import backends
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import CorruptDataError, Keyring, KeyUnavailableError, SessionStore

MARK = "zebra-sapphire-4417"  # a text marker that must never appear in raw storage
KEY1, KEY2 = os.urandom(32), os.urandom(32)


def graph_on(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def raw_bytes(store: SessionStore, kind: str, url: str, namespace: str) -> bytes:
    """Everything the engine holds for ``namespace``, as stored."""
    if kind == "sqlite":
        path = url[len("sqlite:///") :]
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    if kind == "redis":
        client = store.engine.client
        out = []
        for key in client.scan_iter(match=f"*{namespace}*", count=1000):
            kind_of = client.type(key).decode()
            if kind_of == "string":
                out.append(client.get(key) or b"")
            elif kind_of == "list":
                out += client.lrange(key, 0, -1)
            elif kind_of == "hash":
                out += [k + v for k, v in client.hgetall(key).items()]
            elif kind_of == "zset":
                out += client.zrange(key, 0, -1)
            elif kind_of == "set":
                out += list(client.smembers(key))
        return b"".join(out)
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)",
                (namespace + "_",),
            )
        ]
        return b"".join(
            str(row).encode() for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')
        )


@pytest.fixture(params=backends.params("sqlite", "redis", "postgres"))
def engine_url(request, tmp_path):
    return request.param, backends.url_for(request.param, request, tmp_path)


@pytest.mark.parametrize("per_user", [False, True], ids=["keyring", "per-user-keys"])
def test_raw_storage_holds_no_plaintext(engine_url, namespace, per_user):
    kind, url = engine_url
    keyring = Keyring({"k1": KEY1}, "k1", per_user_keys=per_user)
    with backends.stores_on(url, namespace) as make:
        store = make(encryption=keyring)
        history = store.history("s1", user_id="alice")
        history.add_messages([HumanMessage(f"my secret is {MARK}"), AIMessage(f"noted {MARK}")])
        history.update_state(lambda d: {**d, "summary": f"user said {MARK}"})
        history.update_user_state(lambda d: {**d, "entities": [MARK]})
        graph = graph_on(store.checkpointer(user_id="alice"))
        graph.invoke(
            {"messages": [HumanMessage(f"thread {MARK}")]}, {"configurable": {"thread_id": "t1"}}
        )
        assert MARK.encode() not in raw_bytes(store, kind, url, namespace)
        # ... and everything reads back through the store
        assert [m.content for m in history.messages][0] == f"my secret is {MARK}"
        assert history.get_state().data["summary"] == f"user said {MARK}"
        assert history.get_user_state().data["entities"] == [MARK]
        state = graph.get_state({"configurable": {"thread_id": "t1"}})
        assert state.values["messages"][-1].content == f"echo thread {MARK}"


async def test_async_paths_encrypt_too(engine_url, namespace):
    kind, url = engine_url
    with backends.stores_on(url, namespace) as make:
        store = make(encryption=Keyring({"k1": KEY1}, "k1", per_user_keys=True))
        history = store.history("s1", user_id="bob")
        await history.aadd_messages([HumanMessage(f"async {MARK}")])
        graph = graph_on(store.checkpointer(user_id="bob"))
        await graph.ainvoke(
            {"messages": [HumanMessage(MARK)]}, {"configurable": {"thread_id": "t"}}
        )
        assert MARK.encode() not in raw_bytes(store, kind, url, namespace)
        assert (await history.aget_messages())[0].content == f"async {MARK}"
        await store.aclose()


def test_a_message_copied_into_another_session_does_not_decrypt(tmp_path, namespace):
    url = f"sqlite:///{tmp_path / 'moved.db'}"
    with SessionStore.from_url(
        url, namespace=namespace, encryption=Keyring({"k1": KEY1}, "k1")
    ) as store:
        store.history("s-alice", user_id="alice").add_user_message("alice's words")
        store.history("s-bob", user_id="bob").add_user_message("bob's words")
        with sqlite3.connect(tmp_path / "moved.db") as conn:
            m = f'"{namespace}_messages"'
            s = f'"{namespace}_sessions"'
            conn.execute(
                f"UPDATE {m} SET data = (SELECT data FROM {m} WHERE session_pk = "
                f"(SELECT id FROM {s} WHERE user_id = 'alice')) WHERE session_pk = "
                f"(SELECT id FROM {s} WHERE user_id = 'bob')"
            )
        with pytest.raises(CorruptDataError):
            _ = store.history("s-bob", user_id="bob").messages
        assert store.history("s-alice", user_id="alice").messages[0].content == "alice's words"


def test_rotation_reads_old_data_and_a_missing_key_is_named(tmp_path):
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    with SessionStore.from_url(url, encryption=Keyring({"old": KEY1}, "old")) as store:
        store.history("s", user_id="alice").add_user_message("written with the old key")
    rotated = Keyring({"old": KEY1, "new": KEY2}, "new")
    with SessionStore.from_url(url, encryption=rotated) as store:
        history = store.history("s", user_id="alice")
        history.add_user_message("written with the new key")
        assert [m.content for m in history.messages] == [
            "written with the old key",
            "written with the new key",
        ]
    with SessionStore.from_url(url, encryption=Keyring({"new": KEY2}, "new")) as store:
        with pytest.raises(KeyUnavailableError) as caught:
            _ = store.history("s", user_id="alice").messages
        assert caught.value.key_id == "old" and "'old'" in str(caught.value)
    with (
        SessionStore.from_url(url) as store,  # no keyring at all: ciphertext is not text
        pytest.raises(CorruptDataError),
    ):
        _ = store.history("s", user_id="alice").messages


def test_erasing_a_user_shreds_backups_when_keys_live_apart(tmp_path):
    """With a separate key store, the only copy of a user's key goes with the erase."""
    keyring = Keyring({"k1": KEY1}, "k1", per_user_keys=True)
    data, backup = tmp_path / "data.db", tmp_path / "backup.db"
    keys = SessionStore.from_url(f"sqlite:///{tmp_path / 'keys.db'}")
    with SessionStore.from_url(f"sqlite:///{data}", encryption=keyring, key_store=keys) as store:
        store.history("s", user_id="alice").add_user_message(f"alice {MARK}")
        store.history("s", user_id="carol").add_user_message("carol stays")
        store.close()
        shutil.copy(data, backup)  # the nightly backup, taken before the erase
        store2 = SessionStore.from_url(f"sqlite:///{data}", encryption=keyring, key_store=keys)
        store2.delete_user("alice")
        store2.close()
    restored = SessionStore.from_url(f"sqlite:///{backup}", encryption=keyring, key_store=keys)
    with pytest.raises(CorruptDataError):  # the backup still has alice's bytes, not her key
        _ = restored.history("s", user_id="alice").messages
    assert restored.history("s", user_id="carol").messages[0].content == "carol stays"
