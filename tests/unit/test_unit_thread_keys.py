"""Thread keys and config parsing (checkpoint/config.py): pure functions, no storage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_sessionmem.checkpoint.config import (
    check_limit,
    encode_metadata,
    list_query,
    next_version,
    split_filter,
    split_thread_key,
    target,
    thread_key,
)
from langchain_sessionmem.errors import InvalidArgumentError, InvalidIdError, SerializationError

OWNERS = st.none() | st.text(min_size=1, max_size=12)  # real user ids are never empty
IDS = st.text(min_size=1, max_size=12) | st.sampled_from(["|", "%", "%7C", "{x}", "a|b", "%25"])


@given(owner=OWNERS, thread_id=IDS)
def test_thread_keys_round_trip_and_hold_no_braces(owner: str | None, thread_id: str) -> None:
    key = thread_key(owner, thread_id)
    assert split_thread_key(key) == (owner, thread_id)
    assert "{" not in key and "}" not in key  # usable inside a Redis hash tag


@given(a=st.tuples(OWNERS, IDS), b=st.tuples(OWNERS, IDS))
def test_thread_keys_are_injective(a: tuple, b: tuple) -> None:
    assert (thread_key(*a) == thread_key(*b)) == (a == b)


def test_look_alike_owners_and_ids_never_collide() -> None:
    pairs = [("a|b", "c"), ("a", "b|c"), ("a", "b%7Cc"), ("a%7Cb", "c"), (None, "a|b|c"), ("x", "")]
    keys = [thread_key(o, t) for o, t in pairs]
    assert len(set(keys)) == len(keys)
    assert thread_key("alice", "t-1") != thread_key("bob", "t-1") != thread_key(None, "t-1")


def test_target_validates_before_ids_become_keys() -> None:
    t = target({"configurable": {"thread_id": "t", "checkpoint_ns": "sub", "checkpoint_id": "c"}})
    assert (t.thread_id, t.ns, t.checkpoint_id) == ("t", "sub", "c")
    assert target({"configurable": {"thread_id": "t"}}).ns == ""
    for bad in ({"configurable": {"thread_id": 5}}, {"configurable": {}}):
        with pytest.raises(InvalidIdError):
            target(bad)
    for bad_config in (None, "t", {"configurable": "t"}):
        with pytest.raises(InvalidArgumentError):
            target(bad_config)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError, match="surrogate"):
        target({"configurable": {"thread_id": "t", "checkpoint_ns": "\ud800"}})


def test_list_query_and_limits() -> None:
    q = list_query(
        {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
        {"source": "loop", "nested": {"a": 1}, "big": 2**70},
        {"configurable": {"checkpoint_id": "c9"}},
        2**80,
    )
    assert (q.thread_id, q.ns, q.before, q.limit) == ("t", "", "c9", 2**62)
    assert q.pushed == {"source": "loop"} and set(q.local) == {"nested", "big"}
    assert list_query(None, None, None, None).thread_id is None
    assert check_limit(-3) == 0 and check_limit(None) is None
    for bad in ("3", 2.5, True):
        with pytest.raises(InvalidArgumentError):
            check_limit(bad)


def test_filters_only_push_what_a_driver_binds_as_is() -> None:
    pushed, local = split_filter(
        {"k": "v", "n": 3, 'q"uote': 1, "back\\slash": 1, "x'": 1, "s": "\udcff", "nul\x00": 1}
    )
    assert pushed == {"k": "v", "n": 3, "x'": 1}  # a quote is bound as a path, never spliced
    assert set(local) == {'q"uote', "back\\slash", "s", "nul\x00"}
    with pytest.raises(InvalidArgumentError):
        split_filter(["k"])  # type: ignore[arg-type]


def test_metadata_is_json_or_a_serialization_error() -> None:
    config = {"configurable": {"thread_id": "t"}, "metadata": {"run_id": "r1"}}
    text, run_id = encode_metadata(config, {"step": 1, "source": "loop"})
    assert run_id == "r1" and '"step":1' in text
    deep: dict = {}
    for _ in range(5000):
        deep = {"d": deep}
    for bad in ({"x": object()}, {"x": float("nan")}, {"x": deep}, {"x": "\ud800"}):
        with pytest.raises(SerializationError):
            encode_metadata({"configurable": {"thread_id": "t"}}, bad)
    with pytest.raises(InvalidArgumentError):
        encode_metadata({"configurable": {"thread_id": "t"}}, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_versions_sort_and_never_repeat() -> None:
    versions = [next_version(None)]
    for _ in range(50):
        versions.append(next_version(versions[-1]))
    assert versions == sorted(versions) and len(set(versions)) == 51
    assert next_version(7).startswith("000000000008.")
    assert next_version("000000000003.abcdef") != next_version("000000000003.abcdef")  # forks
