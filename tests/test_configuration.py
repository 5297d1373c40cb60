"""Configuration mistakes get typed errors that say the fix; familiar spellings just work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from langchain_sessionmem import ANONYMOUS, ConfigurationError, InvalidIdError, SessionStore


@pytest.mark.parametrize(
    ("ttl", "seconds"), [("7d", 604800), ("12h", 43200), ("30m", 1800), ("90s", 90), ("1.5h", 5400)]
)
def test_ttl_accepts_duration_texts(ttl, seconds):
    assert SessionStore.from_url("memory://", ttl=ttl).ttl == timedelta(seconds=seconds)


@pytest.mark.parametrize("ttl", ["7x", "seven days", -1, 0, float("nan"), float("inf"), True, []])
def test_a_bad_ttl_names_the_accepted_forms(ttl):
    with pytest.raises(ConfigurationError, match="ttl"):
        SessionStore.from_url("memory://", ttl=ttl)


def test_sqlalchemy_style_urls_map_to_the_packaged_drivers(tmp_path):
    for scheme in ("sqlite+aiosqlite", "sqlite+pysqlite"):
        with SessionStore.from_url(f"{scheme}:///{tmp_path / scheme}.db") as store:
            store.history("s", user_id="alice").add_user_message("hi")
            assert store.engine.kind == "sqlite"
            assert store.history("s", user_id="alice").count() == 1


def test_an_unknown_driver_suffix_says_what_to_write():
    with pytest.raises(ConfigurationError, match="write sqlite://"):
        SessionStore.from_url("sqlite+nosuchdriver:///x.db")


def test_an_unsupported_url_never_shows_its_password():
    with pytest.raises(ConfigurationError) as caught:
        SessionStore.from_url("mysql://app:hunter2@db/chat")
    assert "hunter2" not in str(caught.value) and "postgresql://" in str(caught.value)


def test_forgetting_user_id_is_an_error_that_says_how():
    store = SessionStore.from_url("memory://")
    with pytest.raises(InvalidIdError, match="ANONYMOUS"):
        store.history("ticket-1")
    with pytest.raises(TypeError):  # user_id is keyword-only: ids can no longer be swapped
        store.history("alice", "ticket-1")  # type: ignore[misc]
    store.history("ticket-1", user_id=ANONYMOUS).add_user_message("anonymous on purpose")
    assert store.list_sessions(ANONYMOUS)[0].session_id == "ticket-1"
    assert SessionStore.from_url("memory://", allow_anonymous=True).history("t").user_id is None


def test_a_user_scoped_chain_without_user_id_is_refused():
    from langchain_core.runnables import RunnableLambda

    from langchain_sessionmem import with_session_memory

    chain = with_session_memory(RunnableLambda(lambda m: "ok"), SessionStore.from_url("memory://"))
    with pytest.raises(ConfigurationError, match="user_id"):
        chain.invoke("hi", {"configurable": {"session_id": "s"}})


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_list_sessions_pages_with_a_cursor(kind, tmp_path):
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'p.db'}"
    with SessionStore.from_url(url) as store:
        for i in range(7):
            store.history(f"s{i}", user_id="alice").add_user_message(f"m{i}")
        seen, after = [], None
        while page := store.list_sessions("alice", limit=3, after=after):
            assert len(page) <= 3
            seen += [info.session_id for info in page]
            after = store.cursor(page[-1])
        assert sorted(seen) == [f"s{i}" for i in range(7)] and len(seen) == 7
        assert [i.session_id for i in store.list_sessions("alice")] == seen  # same order
