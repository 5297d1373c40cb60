"""A list channel trimmed with RemoveMessage: kept messages are referenced, never copied.

A trim (the oldest messages removed, the rest kept, new ones added) appends only the new messages
to the thread's log; the checkpoint names the kept ranges. Stored bytes per turn with trims grow
no faster than without them, on every engine, and every checkpoint reads back as LangGraph's own
saver returns it, warm (this process wrote it) and cold (a fresh store).
"""

from __future__ import annotations

import os
import uuid

import pytest
from backends import params, stores_on, url_for
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem.checkpoint.linear import decode_ref
from langchain_sessionmem.checkpoint.spans import decode_spans, encode_spans
from langchain_sessionmem.checkpoint.values import ValueCodec, write_place
from langchain_sessionmem.crypto import Keyring, Sealer
from langchain_sessionmem.errors import CorruptDataError

REPLY = "The storage layer keeps each message once, in an append-only log per thread. " * 4
TURNS = 24
KEEP = 6  # messages left after a trim
EVERY = 4  # turns between trims


def chat_graph(trim: bool, system: bool = False):
    """One node: a reply per turn; every EVERY turns (with ``trim``) the oldest messages go."""

    def reply(state: MessagesState):
        messages = state["messages"]
        turn = int(messages[-1].id[1:])  # the human message of this turn: h<turn>
        out: list = []
        body = messages[1:] if system else messages
        if trim and turn % EVERY == 0 and len(body) > KEEP:
            out = [RemoveMessage(id=m.id) for m in body[: len(body) - KEEP]]
        return {"messages": [*out, AIMessage(REPLY + str(turn), id=f"ai{turn}")]}

    graph = StateGraph(MessagesState)
    graph.add_node("reply", reply)
    graph.add_edge(START, "reply")
    return graph


def human(turn: int) -> HumanMessage:
    return HumanMessage(f"Tell me about the storage layer, part {turn}. " * 6, id=f"h{turn}")


def run(saver, thread: str, trim: bool, size=None, system: bool = False) -> list[int]:
    app = chat_graph(trim, system).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    sizes = []
    for turn in range(1, TURNS + 1):
        first = [HumanMessage("You are terse.", id="sys")] if system and turn == 1 else []
        app.invoke({"messages": [*first, human(turn)]}, config)
        sizes.append(size(thread) if size else 0)
    return sizes


def history(saver, thread: str, system: bool = False) -> list[list[tuple[str, str]]]:
    app = chat_graph(True, system).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    return [
        [(m.id, m.text) for m in snap.values.get("messages", [])]
        for snap in app.get_state_history(config)
    ]


@pytest.mark.parametrize("backend", params())
def test_trims_store_no_more_per_turn_than_no_trims(backend, request, tmp_path, namespace):
    with stores_on(url_for(backend, request, tmp_path), namespace) as make:
        saver = make().checkpointer(user_id="u")

        def size(thread: str) -> int:
            return int(saver.thread_info(thread)["bytes"])

        plain = run(saver, "plain", trim=False, size=size)
        trimmed = run(saver, "trimmed", trim=True, size=size)
        half = TURNS // 2
        growth = (plain[-1] - plain[half]) / (TURNS - half - 1)
        trimmed_growth = (trimmed[-1] - trimmed[half]) / (TURNS - half - 1)
        # A trim costs its removals (ids) and a longer reference; copying the kept messages
        # into a fresh log (what trims cost before) added ~KEEP/EVERY messages per turn.
        assert trimmed_growth <= growth * 1.03, (trimmed_growth, growth)
        state = (
            chat_graph(True)
            .compile(checkpointer=saver)
            .get_state({"configurable": {"thread_id": "trimmed"}})
        )
        assert len(state.values["messages"]) <= KEEP + 2 * EVERY


@pytest.mark.parametrize("system", [False, True], ids=["suffix", "system-and-suffix"])
@pytest.mark.parametrize("backend", params())
def test_trimmed_history_reads_back_warm_and_cold(backend, system, request, tmp_path, namespace):
    reference = InMemorySaver()
    run(reference, "t", trim=True, system=system)
    expected = history(reference, "t", system)
    with stores_on(url_for(backend, request, tmp_path), namespace) as make:
        saver = make().checkpointer(user_id="u")
        run(saver, "t", trim=True, system=system)
        assert history(saver, "t", system) == expected
        if backend != "memory":  # a fresh store: nothing cached, every log read from storage
            assert history(make().checkpointer(user_id="u"), "t", system) == expected
        # a trimmed value is a reference to ranges of the log, not a fresh copy
        app = chat_graph(True, system).compile(checkpointer=saver)
        last = app.get_state({"configurable": {"thread_id": "t"}}).values["messages"]
        assert [m.id for m in last] == [m for m, _text in expected[0]]


def test_references_keep_the_plain_form_and_name_ranges_otherwise():
    assert encode_spans("L", [(0, 3)]) == ("sm.logref", b"L:3")  # as 0.1 stored them
    assert decode_spans(b"L:3") == ("L", 3, [(0, 3)])
    assert decode_ref(b"L:3") == ("L", 3)
    for spans in ([(16, 34)], [(0, 1), (17, 34)], [(2, 4), (6, 9), (12, 13)]):
        typed = encode_spans("L", spans)
        assert decode_spans(typed[1]) == ("L", spans[-1][1], spans)
        assert decode_ref(typed[1]) == ("L", spans[-1][1])
    for damaged in (b"L", b"L:x", b":3", b"L:3:4", b"L:9:5-2,7", b"L:9:1-3,2", b"L:3:a-b,1"):
        with pytest.raises(CorruptDataError):
            decode_spans(damaged)


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "sealed"])
def test_a_removals_write_is_stored_as_ids_and_reads_back(sealed):
    from langchain_sessionmem.checkpoint.serde import default_serde

    sealer = Sealer(Keyring({"k1": os.urandom(32)}, "k1"), "ns", "u") if sealed else None
    codec = ValueCodec(default_serde(), sealer)
    place = write_place("t", "", "c1", "task", 0)
    removals = [RemoveMessage(id="h1"), RemoveMessage(id="ai1")]
    typed = codec.dump(removals, "write", place)
    assert typed[0].startswith("sm.removals")
    assert len(typed[1]) < 60
    assert codec.load(typed, "write", "t", place) == removals
    other = [RemoveMessage(id="h1", name="x")]  # more than an id: serialized as usual
    typed = codec.dump(other, "write", place)
    assert not typed[0].startswith("sm.removals")
    assert codec.load(typed, "write", "t", place) == other


def test_many_removals_are_deflated_and_damage_is_reported():
    from langchain_sessionmem.checkpoint.serde import default_serde

    codec = ValueCodec(default_serde())
    place = write_place("t", "", "c1", "task", 0)
    removals = [RemoveMessage(id=f"msg-{uuid.uuid4().hex}") for _ in range(16)]
    value = [*removals, AIMessage("reply", id="ai")]
    typed = codec.dump(value, "write", place)
    assert typed[0] == "sm.removals" and len(typed[1]) < 16 * 41 * 0.7 + 200
    assert codec.load(typed, "write", "t", place) == value
    for damaged in (typed[1][:20], b"\0\0\0\0\x05abc", b"a\n\nb", b"a\0msgpack\0\xc1"):
        with pytest.raises(CorruptDataError):
            codec.load(("sm.removals", damaged), "write", "t", place)


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "sealed"])
def test_removals_of_uuid_ids_take_18_bytes_each(sealed):
    from langchain_sessionmem.checkpoint.serde import default_serde

    sealer = Sealer(Keyring({"k1": os.urandom(32)}, "k1"), "ns", "u") if sealed else None
    codec = ValueCodec(default_serde(), sealer)
    place = write_place("t", "", "c1", "task", 0)
    ids = [f"{p}{uuid.uuid4()}{s}" for p in ("", "lc_run--", "run-") for s in ("", "-0", "-253")]
    removals = [RemoveMessage(id=i) for i in ids]  # add_messages' ids, LangChain's run ids
    for value in (removals, [*removals, AIMessage("reply", id="ai")]):
        typed = codec.dump(value, "write", place)
        assert typed[0].startswith("sm.removals16")
        assert codec.load(typed, "write", "t", place) == value
    assert len(codec.dump(removals, "write", place)[1]) <= 4 + 18 * 9 + (40 if sealed else 0)
    # not their usual text: kept as text
    upper = [RemoveMessage(id=i) for i in (str(uuid.uuid4()).upper(), f"{uuid.uuid4()}-01")]
    assert codec.dump(upper, "write", place)[0].split("+")[0] == "sm.removals"
    assert codec.load(codec.dump(upper, "write", place), "write", "t", place) == upper
    plain = ValueCodec(default_serde())
    stored = plain.dump(removals, "write", place)[1]
    bad_prefix = stored[:4] + b"\x07" + stored[5:]
    for damaged in (stored[:30], b"\0\0\0\0", stored[:22] + b"x", stored + b"x", bad_prefix):
        with pytest.raises(CorruptDataError):
            plain.load(("sm.removals16", damaged), "write", "t", place)


def test_a_cached_trimmed_value_is_not_read_again_and_older_ranges_are():
    import json

    from langchain_sessionmem.checkpoint.assemble import Row, TupleAssembler, fetch_start
    from langchain_sessionmem.checkpoint.linear import LogCache, LogState, digest
    from langchain_sessionmem.checkpoint.serde import default_serde

    serde = default_serde()
    stored = [serde.dumps_typed(HumanMessage(f"m{i}", id=f"m{i}")) for i in range(8)]
    kept = [serde.loads_typed(t) for t in stored[4:8]]
    cache = LogCache()
    state = LogState("L", kept, [digest(t) for t in stored[4:]], list(kept), [(4, 8)])
    cache.set(("k", "", "messages"), state)
    skeleton = {"v": 4, "id": "c", "ts": "", "channel_versions": {"messages": "2"}}
    rows = [Row("k", "", "c", None, serde.dumps_typed(skeleton), json.dumps({}))]
    asm = TupleAssembler(serde, rows, cache)
    need = asm.set_blobs({("k", "", "messages", "2"): encode_spans("L", [(4, 8)])})
    assert asm.log_ranges(need) == {("k", "", "L"): (8, 8)}  # all held: nothing to read
    asm.set_logs({("k", "", "L"): []})
    (tup,) = asm.tuples(cache)
    assert [m.id for m in tup.checkpoint["channel_values"]["messages"]] == ["m4", "m5", "m6", "m7"]
    # an older checkpoint of the same page needs items before the held ones: read from there
    assert fetch_start(first=2, known_at=4, known=4, end=8) == 2
    assert fetch_start(first=5, known_at=4, known=2, end=8) == 6
    assert fetch_start(first=0, known_at=0, known=9, end=8) == 8


@pytest.mark.parametrize("backend", params("memory", "sqlite", "redis"))
def test_a_pruned_long_trimmed_thread_keeps_a_bounded_log(backend, request, tmp_path, namespace):
    from langchain_sessionmem.checkpoint.linear import DEAD_MIN, DEAD_RATIO

    turns = 3 * (DEAD_MIN + DEAD_RATIO * (KEEP + 2 * EVERY))  # well past one fresh start
    app_graph = chat_graph(True).compile
    with stores_on(url_for(backend, request, tmp_path), namespace) as make:
        saver = make().checkpointer(user_id="u")
        app = app_graph(checkpointer=saver)
        config = {"configurable": {"thread_id": "long"}}
        for turn in range(1, turns + 1):
            app.invoke({"messages": [human(turn)]}, config)
        before = saver.thread_info("long")["bytes"]
        saver.prune(["long"], strategy="keep_latest")
        after = saver.thread_info("long")["bytes"]
        # the log once referenced as ranges holds every message of the thread (~1/3 of what
        # it stored before the prune); fresh starts keep what prune leaves a few percent
        assert after < before / 10, (before, after)
        messages = app.get_state(config).values["messages"]
        assert [m.id for m in messages][-1] == f"ai{turns}" and len(messages) <= KEEP + 2 * EVERY
