"""The cache of opened messages never weakens encryption: it serves plaintext only for the exact
bytes it sealed or opened at the same place under the same key; tampered, moved or foreign bytes
still fail with the typed errors; an erase and a rotated keyring leave nothing to serve; it is
bounded; and the stored format is the one every earlier version wrote and reads."""

from __future__ import annotations

import os
import sqlite3

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import (
    ConfigurationError,
    CorruptDataError,
    Keyring,
    KeyUnavailableError,
    SessionStore,
)
from langchain_sessionmem.crypto import Sealer, aad
from langchain_sessionmem.opened import MAX_VALUE_BYTES, OpenedCache

KEY1, KEY2 = os.urandom(32), os.urandom(32)


def _rows(path, namespace, user):
    m, s = f'"{namespace}_messages"', f'"{namespace}_sessions"'
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT session_pk || ':' || seq, data FROM {m} WHERE session_pk IN "
            f"(SELECT id FROM {s} WHERE user_id = ?) ORDER BY session_pk, seq",
            (user,),
        ).fetchall()


def _set(path, namespace, row, data):
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"UPDATE \"{namespace}_messages\" SET data = ? WHERE session_pk || ':' || seq = ?",
            (data, row),
        )


def _opened(store):
    return store.history("probe", user_id="probe").context.keys.opened


@pytest.mark.parametrize("per_user", [False, True], ids=["keyring", "per-user-keys"])
def test_a_byte_changed_after_a_cached_read_still_fails(tmp_path, namespace, per_user):
    path = tmp_path / "t.db"
    keyring = Keyring({"k1": KEY1}, "k1", per_user_keys=per_user)
    with SessionStore.from_url(f"sqlite:///{path}", namespace=namespace, encryption=keyring) as s:
        history = s.history("s", user_id="alice")
        history.add_messages([HumanMessage("first words"), AIMessage("second words")])
        assert [m.content for m in history.tail(2)] == ["first words", "second words"]
        assert len(_opened(s)) == 2  # what it sealed, it can read back without decrypting
        rowid, data = _rows(path, namespace, "alice")[0]
        for at in (len(data) - 1, len(data) - 20, data.index(b"\x00") + 8):  # tag, body, key id
            forged = bytearray(data)
            forged[at] ^= 1
            _set(path, namespace, rowid, bytes(forged))
            with pytest.raises((CorruptDataError, KeyUnavailableError)):
                history.tail(2)
        _set(path, namespace, rowid, data)  # the original bytes read again
        assert history.tail(2)[0].content == "first words"


def test_cached_bytes_moved_to_another_session_of_the_same_user_fail(tmp_path, namespace):
    path = tmp_path / "t.db"
    keyring = Keyring({"k1": KEY1}, "k1")
    with SessionStore.from_url(f"sqlite:///{path}", namespace=namespace, encryption=keyring) as s:
        s.history("s1", user_id="alice").add_user_message("said in s1")
        s.history("s2", user_id="alice").add_user_message("said in s2")
        (row1, data1), (row2, _) = _rows(path, namespace, "alice")
        _set(path, namespace, row2, data1)  # s1's bytes, already opened, now in s2
        with pytest.raises(CorruptDataError):
            _ = s.history("s2", user_id="alice").messages
        assert s.history("s1", user_id="alice").messages[0].content == "said in s1"


def test_an_erase_leaves_no_opened_value_and_a_restored_backup_fails(tmp_path, namespace):
    data, backup = tmp_path / "data.db", tmp_path / "backup.db"
    keyring = Keyring({"k1": KEY1}, "k1", per_user_keys=True)
    keys = SessionStore.from_url(f"sqlite:///{tmp_path / 'keys.db'}")
    url = f"sqlite:///{data}"
    with SessionStore.from_url(url, namespace=namespace, encryption=keyring, key_store=keys) as s:
        s.history("s", user_id="alice").add_user_message("alice's words")
        s.history("s", user_id="carol").add_user_message("carol's words")
        assert s.history("s", user_id="alice").messages[0].content == "alice's words"
        with sqlite3.connect(data) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)  # the nightly backup, taken before the erase
        s.delete_user("alice")
        opened = _opened(s)
        assert len(opened) == 1 and all(k[0][0] == "carol" for k in opened._values)
        with sqlite3.connect(backup) as src, sqlite3.connect(data) as dst:
            src.backup(dst)  # the pre-erase bytes are back, read through the same store
        with pytest.raises((CorruptDataError, KeyUnavailableError)):
            _ = s.history("s", user_id="alice").messages
        assert s.history("s", user_id="carol").messages[0].content == "carol's words"
    keys.close()


def test_a_rotated_keyring_reads_through_its_own_keys_only(tmp_path, namespace):
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    with SessionStore.from_url(
        url, namespace=namespace, encryption=Keyring({"old": KEY1}, "old")
    ) as s:
        s.history("s", user_id="alice").add_user_message("old words")
        assert len(_opened(s)) == 1
    with SessionStore.from_url(
        url, namespace=namespace, encryption=Keyring({"new": KEY2}, "new")
    ) as s:
        assert len(_opened(s)) == 0
        with pytest.raises(KeyUnavailableError) as caught:
            _ = s.history("s", user_id="alice").messages
        assert caught.value.key_id == "old"


def test_the_cache_can_be_turned_off_and_is_validated(tmp_path, namespace):
    keyring = Keyring({"k1": KEY1}, "k1", opened_cache_bytes=0)
    url = f"sqlite:///{tmp_path / 'off.db'}"
    with SessionStore.from_url(url, namespace=namespace, encryption=keyring) as s:
        history = s.history("s", user_id="alice")
        history.add_user_message("not cached")
        assert _opened(s) is None and history.messages[0].content == "not cached"
    with pytest.raises(ConfigurationError, match="opened_cache_bytes"):
        Keyring({"k1": KEY1}, "k1", opened_cache_bytes=-1)


def test_the_cache_is_bounded_by_entries_and_bytes():
    sealer = Sealer(Keyring({"k1": KEY1}, "k1"), "ns", "alice")
    cache = OpenedCache(max_bytes=10_000, max_entries=5)
    for i in range(20):
        cache.put((sealer.scope, "s", b"sealed-%d" % i), b"x" * 100)
    assert len(cache) == 5 and cache.get((sealer.scope, "s", b"sealed-19")) == b"x" * 100
    assert cache.get((sealer.scope, "s", b"sealed-0")) is None
    for i in range(20):
        cache.put((sealer.scope, "s", b"big-%d" % i), b"y" * 3000)
    assert cache._bytes <= 10_000 and len(cache) == 3
    cache.put((sealer.scope, "s", b"huge"), b"z" * MAX_VALUE_BYTES)
    assert cache.get((sealer.scope, "s", b"huge")) is None  # too large to keep
    cache.drop_owner("alice")
    assert len(cache) == 0 and cache._bytes == 0


@pytest.mark.parametrize("data_key", [None, os.urandom(32)], ids=["keyring", "data-key"])
def test_the_stored_format_is_unchanged(data_key):
    """What the fast paths write, the keyring's general path opens, and the other way round."""
    keyring = Keyring({"k1": KEY1}, "k1")
    sealer = Sealer(keyring, "ns", "alice", data_key)
    place = ("session", "s1", "message", "m-1")
    associated = aad("ns", "alice", *place)
    for sealed in (sealer.seal_message(b"hello", "s1", "m-1"), sealer.seal(b"hello", *place)):
        assert keyring.decrypt(sealed, associated, key=data_key) == b"hello"
    batch = sealer.seal_messages("s1", [("m-1", b"hello"), ("m-2", b"world"), ("m-1", b"hello")])
    assert keyring.decrypt(batch[0], associated, key=data_key) == b"hello"
    assert sealer.open(batch[1], "session", "s1", "message", "m-2") == b"world"
    at = len(batch[0]) - len(b"hello") - 16 - 12  # header | nonce | ciphertext | tag
    assert len({box[at : at + 12] for box in batch}) == 3  # a nonce of its own per message
    written = keyring.encrypt(b"hello", associated, key=data_key)
    assert sealer.open_message(written, "s1", "m-1") == sealer.open(written, *place) == b"hello"
    with pytest.raises(CorruptDataError):
        sealer.open_message(written, "s1", "m-2")
    with pytest.raises(CorruptDataError):
        Sealer(keyring, "ns", "bob", data_key).open_message(written, "s1", "m-1")
    assert repr(sealer).count("alice") == 1 and "data_key" not in repr(sealer)
