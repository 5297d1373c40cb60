"""The PostgreSQL checkpointer's row layout: small channel values inline in the checkpoint row,
large ones in the blobs table, and databases of the first schema migrating with their data."""

from __future__ import annotations

import os
import uuid
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import START, MessagesState, StateGraph
from postgres_helpers import drop_namespace

from langchain_sessionmem.backends.postgres import cpids, inline, task_writes
from langchain_sessionmem.backends.postgres.packing import unpack_ckpt
from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver
from langchain_sessionmem.checkpoint.values import as_codec, checkpoint_place

pytestmark = pytest.mark.postgres


@pytest.fixture
def ns(postgres_dsn):
    namespace = "l" + uuid.uuid4().hex[:10]
    yield namespace
    drop_namespace(postgres_dsn, namespace)


def chat(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("re: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def cfg(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def history(saver: Any, thread_id: str) -> list[tuple[str, Any, list]]:
    """Every checkpoint of a thread as (id, channel values, pending writes), newest first."""
    return [
        (
            t.config["configurable"]["checkpoint_id"],
            t.checkpoint["channel_values"],
            t.pending_writes,
        )
        for t in saver.list(cfg(thread_id))
    ]


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_a_chat_step_writes_no_blobs_row(postgres_dsn, ns):
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        graph = chat(saver)
        for i in range(3):
            graph.invoke({"messages": [HumanMessage(f"hello {i}")]}, cfg("t"))
        assert [m.content for m in graph.get_state(cfg("t")).values["messages"]][-2:] == [
            "hello 2",
            "re: hello 2",
        ]
    assert count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_blobs"') == 0
    assert (
        count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_checkpoints" WHERE vals IS NULL') == 0
    )
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as cold:
        assert len(cold.get_tuple(cfg("t")).checkpoint["channel_values"]["messages"]) == 6


def test_large_values_get_a_blobs_row_and_are_carried_by_reference(postgres_dsn, ns):
    big = {"text": os.urandom(2000).hex()}  # does not deflate below the inline limit
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        first = empty_checkpoint()
        first["channel_values"] = {"big": big, "small": 1}
        first["channel_versions"] = {"big": "1", "small": "1"}
        config = saver.put(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
            first,
            {"source": "loop", "step": 0},
            {"big": "1", "small": "1"},
        )
        second = empty_checkpoint()  # only "small" changes: "big" is carried, not stored again
        second["channel_values"] = {"big": big, "small": 2}
        second["channel_versions"] = {"big": "1", "small": "2"}
        saver.put(config, second, {"source": "loop", "step": 1}, {"small": "2"})
        values = [t.checkpoint["channel_values"] for t in saver.list(cfg("t"))]
        assert values == [{"big": big, "small": 2}, {"big": big, "small": 1}]
    assert count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_blobs"') == 1
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as cold:
        # a cold process carries what it has not seen by storing it again at the same version
        third = empty_checkpoint()
        third["channel_values"] = {"big": big, "small": 3}
        third["channel_versions"] = {"big": "1", "small": "3"}
        latest = cold.get_tuple(cfg("t")).config
        fresh = PostgresCheckpointSaver(cold.connections, namespace=ns)
        fresh.put(latest, third, {"source": "loop", "step": 2}, {"small": "3"})
        assert cold.get_tuple(cfg("t")).checkpoint["channel_values"] == {"big": big, "small": 3}
    assert count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_blobs"') == 1


def test_a_value_carried_into_a_child_moves_to_a_blobs_row_once(postgres_dsn, ns):
    medium = {"notes": os.urandom(40).hex()}  # inline size, yet more than a copy per row is worth
    assert inline.CARRY_MAX < 100 < inline.INLINE_MAX
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        for step in range(5):  # "medium" is written at step 0 and carried by the four children
            ck = empty_checkpoint()
            ck["channel_values"] = {"medium": medium, "step": step}
            ck["channel_versions"] = {"medium": "1", "step": str(step + 1)}
            new = {"medium": "1", "step": "1"} if step == 0 else {"step": str(step + 1)}
            config = saver.put(config, ck, {"source": "loop", "step": step}, new)
        values = [t.checkpoint["channel_values"] for t in saver.list(cfg("t"))]
        assert values == [{"medium": medium, "step": s} for s in range(4, -1, -1)]
    with psycopg.connect(postgres_dsn) as conn:
        sizes = [
            r[0]
            for r in conn.execute(
                f'SELECT length(vals) FROM "{ns}_cp_checkpoints" ORDER BY checkpoint_id'
            )
        ]
    assert count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_blobs"') == 1
    assert sizes[0] > 80 and max(sizes[1:]) < 30  # inline once, then the blobs row's mark


def _to_first_schema(dsn: str, ns: str) -> None:
    """Rewrite the namespace as the first schema left it: text checkpoint ids, every value in the
    blobs table, every pending write in the writes table, no ``vals`` or ``writes`` column, JSONB
    metadata, the owner index, only step 1 recorded (what an earlier release made)."""
    saver = PostgresCheckpointSaver(conninfo=dsn, namespace=ns)
    C, W, B = (f'"{ns}_cp_{t}"' for t in ("checkpoints", "writes", "blobs"))
    text = "TEXT COLLATE \"C\" USING encode({0}, 'hex')"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT thread, ns, checkpoint_id, parent_id, type, ckpt, vals, writes FROM {C}"
            ).fetchall()
            conn.execute(
                f"ALTER TABLE {C} DROP COLUMN vals, DROP COLUMN writes, "
                "ALTER COLUMN metadata TYPE JSONB USING metadata::jsonb, "
                f"ALTER COLUMN checkpoint_id TYPE {text.format('checkpoint_id')}, "
                f"ALTER COLUMN parent_id TYPE {text.format('parent_id')}"
            )
            conn.execute(
                f"ALTER TABLE {W} ALTER COLUMN checkpoint_id TYPE {text.format('checkpoint_id')}"
            )
            for pk, cns, stored, parent, typ, ckpt, vals, frames in rows:
                cid = cpids.dec(stored)
                conn.execute(
                    f"UPDATE {C} SET checkpoint_id = %s, parent_id = %s "
                    "WHERE thread = %s AND ns = %s AND checkpoint_id = %s",
                    (cid, cpids.dec(parent), pk, cns, bytes(stored).hex()),
                )
                for w in task_writes.calls(frames, cid):
                    conn.execute(
                        f"INSERT INTO {W} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (pk, cid, cns, w.task_id, w.idx, w.task_path, w.channel, w.type, w.value),
                    )
                if typ == "":  # a placeholder: step 1 kept such writes in the writes table only
                    conn.execute(
                        f"DELETE FROM {C} WHERE thread = %s AND checkpoint_id = %s", (pk, cid)
                    )
                    continue
                place = checkpoint_place(pk, cns, cid)
                header = as_codec(saver.serde).load(unpack_ckpt(typ, ckpt, cid), "h", pk, place)
                versions = header["channel_versions"]
                for channel, (version, entry) in inline.decode(vals, versions, cid).items():
                    if entry is not None:
                        conn.execute(
                            f"INSERT INTO {B} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            (pk, cns, channel, version, entry[0], entry[1]),
                        )
            conn.execute(f'CREATE INDEX "{ns}_cp_owner" ON "{ns}_cp_threads" (owner)')
            conn.execute(
                f"DELETE FROM \"{ns}_migrations\" WHERE component = 'checkpoint' AND version > 1"
            )
    finally:
        saver.close()


def test_a_database_of_the_first_schema_migrates_with_its_data(postgres_dsn, ns):
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        graph = chat(saver)
        for i in range(3):
            graph.invoke({"messages": [HumanMessage(f"before {i}")]}, cfg("t"))
        before = history(saver, "t")
    _to_first_schema(postgres_dsn, ns)
    assert count(postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_blobs"') > 0

    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        saver.setup()  # steps 2-5: old rows read from the blobs and writes tables
        with psycopg.connect(postgres_dsn) as conn:
            applied = conn.execute(
                f"SELECT version FROM \"{ns}_migrations\" WHERE component = 'checkpoint' "
                "ORDER BY version"
            ).fetchall()
        assert [v for (v,) in applied] == [1, 2, 3, 4, 5]
        assert history(saver, "t") == before
        graph = chat(saver)
        graph.invoke({"messages": [HumanMessage("after")]}, cfg("t"))
        messages = [m.content for m in graph.get_state(cfg("t")).values["messages"]]
        assert messages == [
            *(x for i in range(3) for x in (f"before {i}", f"re: before {i}")),
            "after",
            "re: after",
        ]
        assert history(saver, "t")[-len(before) :] == before
    assert count(
        postgres_dsn, f'SELECT count(*) FROM "{ns}_cp_checkpoints" WHERE vals IS NULL'
    ) == len(before)
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        saver.prune(["t"])  # keep_latest keeps the log the inline reference points into
        assert len(saver.get_tuple(cfg("t")).checkpoint["channel_values"]["messages"]) == 8


def test_row_formats_round_trip_and_damage_is_typed():
    from langchain_sessionmem.checkpoint.writes import WriteRow
    from langchain_sessionmem.errors import CorruptDataError

    versions = {"messages": "2", "odd": "1", "big": "3", "gone": "1"}
    entries = {
        "messages": ("2", ("sm.logref", b"0123456789abcdef:600")),
        "odd": ("1", ("sm.logref", b"not-hex:007")),  # kept as it is: it would not read back
        "big": ("3", None),
    }
    vals = inline.encode(entries, versions)
    assert inline.decode(vals, versions, "c") == entries
    rows = [
        WriteRow("1f0a0000-0000-6000-8000-000000000001", 0, "~p", "messages", "msgpack", b"x" * 90),
        WriteRow("task-7", -1, "", "__error__", "custom", b"\x00\x01"),
    ]
    frames = task_writes.frame(rows[0].task_id, "~p", rows[:1])
    frames += task_writes.frame("task-7", "", rows[1:])
    assert task_writes.calls(frames, "c") == rows
    with pytest.raises(CorruptDataError):
        task_writes.calls(frames[:-3], "c")
    with pytest.raises(CorruptDataError):
        inline.decode(b"\x03" + b"\xff" * 8, versions, "c")


def test_checkpoint_ids_that_are_not_uuids_keep_their_text_and_order(postgres_dsn, ns):
    ids = ["c-01", "c-02-fifteen-ch", "c-03", "C-04"]  # the second is 15 bytes long
    assert [cpids.dec(cpids.enc(i)) for i in ids] == ids
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        for i, cid in enumerate(ids):
            ckpt = empty_checkpoint()
            ckpt["id"] = cid
            ckpt["channel_values"] = {"v": i}
            ckpt["channel_versions"] = {"v": str(i + 1)}
            config = saver.put(config, ckpt, {"source": "loop", "step": i}, {"v": str(i + 1)})
        listed = [t.config["configurable"]["checkpoint_id"] for t in saver.list(cfg("t"))]
        assert listed == sorted(ids, reverse=True)  # C-04 < c-01 < ... as strings
        before = {"configurable": {"checkpoint_id": "c-03"}}
        older = [t.checkpoint["id"] for t in saver.list(cfg("t"), before=before)]
        assert older == ["c-02-fifteen-ch", "c-01", "C-04"]
        tup = saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_id": "c-03"}})
        assert tup.parent_config["configurable"]["checkpoint_id"] == "c-02-fifteen-ch"
