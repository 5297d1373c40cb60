"""The DeltaChannel ancestor walk (checkpoint/delta.py), fed pages of links by hand."""

from __future__ import annotations

import pytest

from langchain_sessionmem.checkpoint.delta import (
    DeltaWalk,
    Link,
    decode_value,
    delta_channels,
    empty_history,
)
from langchain_sessionmem.checkpoint.linear import encode_ref
from langchain_sessionmem.checkpoint.serde import default_serde
from langchain_sessionmem.checkpoint.writes import WriteRow
from langchain_sessionmem.errors import CorruptDataError

SERDE = default_serde()


def chain(n: int) -> list[Link]:
    """c{n-1} -> ... -> c0, newest first; channel 'a' changes every link, 'b' every third."""
    return [
        Link(f"c{i}", f"c{i - 1}" if i else None, {"a": f"a{i}", "b": f"b{i // 3}"})
        for i in reversed(range(n))
    ]


def test_the_walk_stops_each_channel_at_its_first_stored_value() -> None:
    links = chain(10)
    walk = DeltaWalk(["a", "b"], "c9")
    assert walk.pairs(links[:4]) == {
        ("a", "a9"),
        ("a", "a8"),
        ("a", "a7"),
        ("a", "a6"),
        ("b", "b3"),
        ("b", "b2"),
    }
    walk.advance(links[:4], {("b", "b2")})  # page 1: only b2 holds a value
    assert walk.seeds == {"b": "b2"} and walk.cursor == "c5" and not walk.done
    walk.advance(links[4:8], {("a", "a4")})
    assert walk.seeds == {"a": "a4", "b": "b2"} and walk.done
    assert walk.path["a"] == ["c9", "c8", "c7", "c6", "c5", "c4"]
    assert walk.path["b"] == ["c9", "c8"]  # c8 holds b2: the seed closes b there
    assert walk.visited == ["c9", "c8", "c7", "c6", "c5", "c4"]


def test_a_gap_in_the_chain_or_its_root_ends_the_walk() -> None:
    links = chain(5)
    walk = DeltaWalk(["a"], "c4")
    walk.advance([links[0], links[2]], set())  # c3 is missing: the chain breaks after c4
    assert walk.done and walk.path["a"] == ["c4"]
    root = DeltaWalk(["a"], "c1")
    root.advance(links[3:], set())
    assert root.done and root.path["a"] == ["c1", "c0"] and "a" not in root.seeds
    assert DeltaWalk(["a"], None).done
    empty = DeltaWalk(["a"], "c4")
    empty.advance([], set())
    assert empty.done


def test_history_collects_writes_oldest_first_with_the_seed() -> None:
    walk = DeltaWalk(["a", "a"], "c2")  # repeated channels count once
    walk.advance(chain(3), {("a", "a0")})
    writes = {
        "c2": [
            WriteRow("t2", 0, "", "a", *SERDE.dumps_typed("w2")),
            WriteRow("t2", 1, "", "z", *SERDE.dumps_typed(0)),
        ],
        "c1": [
            WriteRow("t1b", 0, "", "a", *SERDE.dumps_typed("w1b")),
            WriteRow("t1a", 0, "", "a", *SERDE.dumps_typed("w1a")),
        ],
        "c0": [WriteRow("t0", 0, "", "a", *SERDE.dumps_typed("w0"))],
    }
    out = walk.history(SERDE, "t", writes, {"a": "seed"})
    assert out == {
        "a": {
            "writes": [
                ("t0", "a", "w0"),
                ("t1a", "a", "w1a"),
                ("t1b", "a", "w1b"),
                ("t2", "a", "w2"),
            ],
            "seed": "seed",
        }
    }
    assert empty_history(["x", "x", "y"]) == {"x": {"writes": []}, "y": {"writes": []}}


def test_seed_values_resolve_log_references() -> None:
    items = [SERDE.dumps_typed(i) for i in range(3)]
    assert decode_value(SERDE, encode_ref("L", 2), items, "a", "t") == [0, 1]
    assert decode_value(SERDE, SERDE.dumps_typed({"k": 1}), None, "a", "t") == {"k": 1}
    with pytest.raises(CorruptDataError, match="holds 1 items"):
        decode_value(SERDE, encode_ref("L", 2), items[:1], "a", "t")


def test_delta_channels_come_from_the_metadata_counters() -> None:
    assert delta_channels({"counters_since_delta_snapshot": {"b": 1, "a": 2}}) == ["a", "b"]
    assert delta_channels({}) == [] and delta_channels({"counters_since_delta_snapshot": [1]}) == []
