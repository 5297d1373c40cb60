"""Tuple assembly (checkpoint/assemble.py): fetched rows to CheckpointTuples, without storage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from langchain_sessionmem.checkpoint.assemble import Row, TupleAssembler
from langchain_sessionmem.checkpoint.config import split_thread_key, thread_key
from langchain_sessionmem.checkpoint.linear import EMPTY, LogCache, LogState, digest, encode_ref
from langchain_sessionmem.checkpoint.serde import default_serde
from langchain_sessionmem.checkpoint.writes import WriteRow
from langchain_sessionmem.errors import CorruptDataError

SERDE = default_serde()
KEY = thread_key("alice", "t")


def public(key: str) -> str:
    return split_thread_key(key)[1]


def row(cid: str, versions: dict[str, str], parent: str | None = None, **meta: Any) -> Row:
    skeleton = {"v": 4, "id": cid, "ts": "", "channel_versions": versions, "versions_seen": {}}
    return Row(KEY, "", cid, parent, SERDE.dumps_typed(skeleton), json.dumps(meta))


def feed(asm: TupleAssembler, blobs: dict, logs: dict) -> list:
    """What an engine does: fetch the blobs asked for, then the log ranges asked for."""
    need = asm.set_blobs({k: blobs.get(k) for k in asm.blob_keys()})
    asm.set_logs({k: logs[k][a:b] for k, (a, b) in asm.log_ranges(need).items()})
    return asm.tuples()


def messages(*texts: str) -> list:
    return [SERDE.dumps_typed(HumanMessage(t, id=t)) for t in texts]


def test_rows_blobs_and_logs_become_tuples_with_public_ids() -> None:
    rows = [row("c2", {"messages": "2", "n": "2"}, "c1", step=2), row("c1", {"messages": "1"})]
    rows[0].writes = [
        WriteRow("task-b", 0, "", "messages", *SERDE.dumps_typed("late")),
        WriteRow("task-a", 1, "", "n", *SERDE.dumps_typed(2)),
        WriteRow("task-a", 0, "", "n", *SERDE.dumps_typed(1)),
    ]
    blobs = {
        (KEY, "", "messages", "1"): encode_ref("L", 1),
        (KEY, "", "messages", "2"): encode_ref("L", 3),
        (KEY, "", "n", "2"): SERDE.dumps_typed(7),
    }
    logs = {(KEY, "", "L"): messages("a", "b", "c")}
    newest, oldest = feed(TupleAssembler(SERDE, rows, public=public), blobs, logs)
    assert newest.config["configurable"] == {
        "thread_id": "t",
        "checkpoint_ns": "",
        "checkpoint_id": "c2",
    }
    assert (
        newest.parent_config["configurable"]["checkpoint_id"] == "c1"
        and oldest.parent_config is None
    )
    assert [m.content for m in newest.checkpoint["channel_values"]["messages"]] == ["a", "b", "c"]
    assert [m.content for m in oldest.checkpoint["channel_values"]["messages"]] == ["a"]
    assert newest.checkpoint["channel_values"]["n"] == 7 and newest.metadata == {"step": 2}
    # pending writes in the order live execution applies them: (path, task, idx)
    assert [(w[0], w[2]) for w in newest.pending_writes] == [
        ("task-a", 1),
        ("task-a", 2),
        ("task-b", "late"),
    ]


def test_cleared_and_missing_channels_are_left_out() -> None:
    blobs = {(KEY, "", "gone", "1"): (EMPTY, b"")}
    (tup,) = feed(TupleAssembler(SERDE, [row("c1", {"gone": "1", "lost": "1"})]), blobs, {})
    assert tup.checkpoint["channel_values"] == {}


def test_a_short_log_is_corrupt_data() -> None:
    blobs = {(KEY, "", "messages", "1"): encode_ref("L", 3)}
    with pytest.raises(CorruptDataError, match="holds 2 items"):
        feed(
            TupleAssembler(SERDE, [row("c1", {"messages": "1"})]),
            blobs,
            {(KEY, "", "L"): messages("a", "b")},
        )


@pytest.mark.parametrize(
    "ckpt, meta",
    [
        (SERDE.dumps_typed(5), "{}"),  # a record that is no checkpoint
        (SERDE.dumps_typed({"channel_versions": [1]}), "{}"),
        (("msgpack", b"\xc1"), "{}"),  # no msgpack
        (SERDE.dumps_typed({"channel_versions": {}}), "[1]"),  # metadata no object
        (SERDE.dumps_typed({"channel_versions": {}}), "{nope"),
        ((None, b""), "{}"),  # no type tag
    ],
)
def test_damaged_rows_are_corrupt_data(ckpt: Any, meta: str) -> None:
    with pytest.raises(CorruptDataError):
        TupleAssembler(SERDE, [Row(KEY, "", "c1", None, ckpt, meta)])


def test_known_log_prefixes_are_served_as_fresh_copies() -> None:
    cache = LogCache()
    stored = messages("a", "b", "c")
    snapshots = [SERDE.loads_typed(t) for t in stored[:2]]
    live = [SERDE.loads_typed(t) for t in stored[:2]]
    cache.set(
        (KEY, "", "messages"), LogState("L", live, [digest(t) for t in stored[:2]], snapshots)
    )
    asm = TupleAssembler(SERDE, [row("c1", {"messages": "1"})], cache, public=public)
    need = asm.set_blobs({(KEY, "", "messages", "1"): encode_ref("L", 3)})
    assert asm.log_ranges(need) == {(KEY, "", "L"): (2, 3)}  # only the item not held
    asm.set_logs({(KEY, "", "L"): stored[2:]})
    (tup,) = asm.tuples(cache)
    value = tup.checkpoint["channel_values"]["messages"]
    assert [m.content for m in value] == ["a", "b", "c"]
    assert all(v is not s and v is not x for v, s, x in zip(value, snapshots, live, strict=False))
    state = cache.get((KEY, "", "messages"))
    assert (
        state.log_id == "L" and len(state.snapshots) == 3 and state.digests[2] == digest(stored[2])
    )
    assert state.snapshots[0] is snapshots[0]  # private snapshots stay private


def test_sealed_values_open_only_at_their_place() -> None:
    pytest.importorskip("cryptography")
    import os

    from langchain_sessionmem.checkpoint.values import ValueCodec, checkpoint_place
    from langchain_sessionmem.crypto import Keyring, Sealer

    codec = ValueCodec(SERDE, Sealer(Keyring({"k": os.urandom(32)}, "k"), "ns", "alice"))
    skeleton = {"channel_versions": {}, "id": "c1"}
    sealed = codec.dump(skeleton, "checkpoint", checkpoint_place(KEY, "", "c1"))
    (tup,) = feed(TupleAssembler(codec, [Row(KEY, "", "c1", None, sealed, "{}")]), {}, {})
    assert tup.checkpoint["id"] == "c1"
    other = thread_key("bob", "t")
    with pytest.raises(CorruptDataError, match="moved"):
        TupleAssembler(codec, [Row(other, "", "c1", None, sealed, "{}")])  # copied to bob
    with pytest.raises(CorruptDataError, match="unencrypted"):
        TupleAssembler(codec, [Row(KEY, "", "c1", None, SERDE.dumps_typed(skeleton), "{}")])
