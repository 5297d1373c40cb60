"""PostgreSQL plans without a server: each operation's statements, fed scripted rows."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs psycopg (the postgres extra)")

from langchain_sessionmem.backends.postgres.plans import Plans  # noqa: E402
from langchain_sessionmem.backends.postgres.statements import Statements  # noqa: E402
from langchain_sessionmem.records import EncodedMessage, SessionKey  # noqa: E402

KEY = SessionKey("s1", "alice")


def run(plan, replies):
    """Drive ``plan`` with scripted replies; return (result, the queries it sent)."""
    sent, reply = [], None
    try:
        while True:
            query = plan.send(reply)
            sent.append(query)
            reply = replies.pop(0) if query.fetch == "all" else None
    except StopIteration as done:
        return done.value, sent


def plans(**options):
    return Plans(Statements("unit"), options.pop("ttl", None), options.pop("refresh", False))


def test_a_tail_is_one_statement_and_comes_back_oldest_first():
    result, sent = run(plans().tail(KEY, 2), [[(5, b"e"), (4, b"d")]])
    assert len(sent) == 1 and result == [(4, b"d"), (5, b"e")]
    assert sent[0].params["user"] == "alice" and sent[0].params["sid"] == "s1"


def test_refresh_on_read_slides_the_expiry_in_the_same_statement():
    _, sent = run(plans(ttl=60.0, refresh=True).tail(KEY, 2), [[]])
    assert len(sent) == 1 and "expires" in sent[0].params  # the read itself slides it


def test_appending_to_a_live_session_is_one_statement():
    batch = [
        EncodedMessage("m1", b"{}", generated=True),
        EncodedMessage("m2", b"{}", generated=True),
    ]
    result, sent = run(plans().append(KEY, batch), [[(2,)]])
    assert result == 2 and len(sent) == 1  # touch and inserts together, no id lookup


def test_a_new_session_is_created_by_a_second_statement():
    batch = [EncodedMessage("m1", b"{}", generated=True)]
    result, sent = run(plans().append(KEY, batch), [[], [(1,)]])
    assert result == 1 and len(sent) == 2


def test_an_expired_session_tells_the_caller_to_restart():
    batch = [EncodedMessage("m1", b"{}", generated=True)]
    result, _ = run(plans().append(KEY, batch), [[], []])
    assert result is None
