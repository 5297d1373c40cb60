"""Compact checkpoint headers: every header reads back exactly as it was put, in fewer bytes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from langchain_sessionmem.checkpoint.config import next_version
from langchain_sessionmem.checkpoint.headers import HEADER, KNOWN, pack_header, read_header
from langchain_sessionmem.checkpoint.serde import encrypted_serde
from langchain_sessionmem.checkpoint.values import ValueCodec, checkpoint_place
from langchain_sessionmem.errors import CorruptDataError

SERDE = JsonPlusSerializer()


def agent_header() -> dict:
    """A create_agent checkpoint as LangGraph 1.x puts it, without its values."""
    v = next_version(None)
    return {
        "v": 4,
        "ts": datetime.now(timezone.utc).isoformat(),
        "id": str(uuid6()),
        "channel_versions": {
            "__start__": next_version(v),
            "messages": v,
            "branch:to:model": v,
            "sessionmem": "000000000001.00ab0c",
        },
        "versions_seen": {"__input__": {}, "__start__": {"__start__": v}, "model": {}},
        "updated_channels": ["messages"],
    }


def stored(header: dict, serde=SERDE) -> tuple[ValueCodec, tuple, tuple]:
    codec = ValueCodec(serde)
    place = checkpoint_place("owner\x00t", "", header["id"])
    return codec, place, codec.dump(header, "checkpoint", place)


def test_an_agent_header_reads_back_in_a_third_fewer_bytes():
    header = agent_header()
    codec, place, typed = stored(header)
    assert typed[0] == HEADER
    assert codec.load(typed, "checkpoint", "t", place) == header
    assert len(typed[1]) < 0.6 * len(SERDE.dumps_typed(header)[1])


def test_headers_of_other_forms_read_back_as_they_were():
    header = agent_header()
    header["channel_versions"] = {"a": 3, "b": 2.5, "c": "7", "d": "000000000001.ABCDEF"}
    header["versions_seen"] = {"node": {"a": 1, "zz": "x"}}
    header["ts"] = "2026-12-02T20:25:00+00:00"  # no microseconds: isoformat leaves them out
    header["id"] = "not-a-uuid"
    codec, _place, typed = stored(header)
    place = checkpoint_place("owner\x00t", "", "record-id")  # the record's id differs: kept
    typed = codec.dump(header, "checkpoint", place)
    assert typed[0] == HEADER and codec.load(typed, "checkpoint", "t", place) == header
    del header["updated_channels"]
    typed = codec.dump(header, "checkpoint", place)
    assert codec.load(typed, "checkpoint", "t", place) == header


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.update(pending_sends=[]),  # keys this form does not know
        lambda h: h.update(ts=1.5),
        lambda h: h.update(v="4"),
        lambda h: h["channel_versions"].update(x=b"bytes"),
        lambda h: h["channel_versions"].update(x=True),
    ],
)
def test_shapes_the_form_cannot_keep_are_stored_by_the_serializer(change):
    header = agent_header()
    change(header)
    codec, place, typed = stored(header)
    assert typed[0] == "msgpack" and codec.load(typed, "checkpoint", "t", place) == header


def test_an_encrypting_serializer_keeps_headers_to_itself():
    serde = encrypted_serde({"k1": b"k" * 32}, "k1")
    header = agent_header()
    codec, place, typed = stored(header, serde)
    assert typed[0] != HEADER and codec.load(typed, "checkpoint", "t", place) == header


def test_headers_stored_before_read_back():
    header = agent_header()
    codec = ValueCodec(SERDE)
    place = checkpoint_place("t", "", header["id"])
    assert codec.load(SERDE.dumps_typed(header), "checkpoint", "t", place) == header


def test_known_names_take_one_byte_and_stay_frozen():
    assert KNOWN[:4] == ("__start__", "__input__", "messages", "branch:to:model")
    assert KNOWN.index("sessionmem") == 9
    header = agent_header()
    with_state = len(pack_header(header, header["id"]) or b"")
    del header["channel_versions"]["sessionmem"]
    assert with_state - len(pack_header(header, header["id"]) or b"") <= 7  # 1 + 2 + 4 bytes


@pytest.mark.parametrize(
    "damage", [b"", b"\x91\x02", b"\x98\x01\x04\xc0\xc0\x91\x7f\x90\x90\xc0", b"\xff" * 9]
)
def test_damaged_headers_raise_a_typed_error(damage):
    with pytest.raises(CorruptDataError, match="damaged header"):
        read_header(damage, "c1", "t")


names = st.text(min_size=1, max_size=12) | st.sampled_from(KNOWN)
versions = (
    st.integers(0, 10**12 - 1).map(lambda n: f"{n:012}.{n % 16**6:06x}")
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)


@settings(max_examples=300, deadline=None)
@given(
    channel_versions=st.dictionaries(names, versions, max_size=6),
    seen=st.dictionaries(names, st.dictionaries(names, versions, max_size=4), max_size=4),
    updated=st.none() | st.lists(names, max_size=4),
    micros=st.integers(0, 2**53),
)
def test_any_header_reads_back_exactly(channel_versions, seen, updated, micros):
    header = agent_header()
    header["channel_versions"], header["versions_seen"] = channel_versions, seen
    header["ts"] = f"{micros}" if micros % 7 == 0 else header["ts"]
    if updated is None:
        del header["updated_channels"]
    else:
        header["updated_channels"] = updated
    codec, place, typed = stored(header)
    assert codec.load(typed, "checkpoint", "t", place) == header
