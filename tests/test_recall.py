"""RecallMemory on real engines: scopes, erasure, expiry, window dedup, tool units, budgets.

Conversations are made here; every engine that keeps a recall index runs every test, sync and
async.
"""

from __future__ import annotations

import asyncio
import time

import backends
import pytest
from conftest import store_url_for, stores_on
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_sessionmem.memory import RecallMemory, TokenWindowMemory
from langchain_sessionmem.memory.ops import arun, run
from langchain_sessionmem.memory.pipeline import is_block, load_plan
from langchain_sessionmem.tokens import tiktoken_counter

ENGINES = backends.params("memory", "sqlite", "redis", "cluster", "postgres")
FILLER = [
    "How was the weekend?",
    "Quiet, mostly reading at home.",
    "Any plans for the holidays?",
    "Not yet, maybe a short trip.",
]


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=ENGINES)
def make(request, tmp_path, namespace):
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as maker:
        maker.kind = request.param
        yield maker


def chat(history, facts, filler=20):
    """Facts first, then filler, so a window of the last turns never holds the facts."""
    for speaker, fact in facts:
        history.add_messages([HumanMessage(fact, name=speaker), AIMessage("Good to know.")])
    for i in range(filler):
        history.add_messages([HumanMessage(FILLER[i % 4]), AIMessage(FILLER[(i + 1) % 4])])


def recall(memory, history, question, *, is_async=False):
    """(prompt messages, stats) of one load."""
    plan = load_plan(memory, history, [HumanMessage(question)], None)
    if is_async:
        import asyncio

        return asyncio.run(arun(plan))
    return run(plan)


def recalled_texts(stats, store, user):
    out = []
    for item in stats.recalled:
        history = store.history(item["session_id"], user_id=user)
        for seq in item["seqs"]:
            out.append(history.range_entries(seq, seq + 1)[0].message.text)
    return out


@pytest.mark.parametrize("is_async", [False, True])
def test_recall_finds_the_fact_and_reports_it(make, is_async):
    store = make(recall=True, clock=Clock())  # 14 November 2023
    history = store.history("s1", user_id="ann")
    chat(history, [("Ann", "My sister Rosalind lives in Porto and teaches violin.")])
    memory = RecallMemory(300)
    messages, stats = recall(memory, history, "Where does Rosalind live?", is_async=is_async)
    (block,) = messages
    assert is_block(block) and "Rosalind lives in Porto" in block.text
    assert block.text.splitlines()[2] == "[14 November 2023]"  # one date header per group
    item = stats.recalled[0]
    assert item["session_id"] == "s1" and 1 in item["seqs"] and item["score"] > 0
    assert stats.recall_tokens > 0 and stats.recall_messages >= 1
    assert stats.prompt_tokens <= 300


def test_scopes_never_cross_users_or_sessions(make):
    store = make(recall=True)
    ann_old, ann_now = store.history("old", user_id="ann"), store.history("now", user_id="ann")
    bob = store.history("old", user_id="bob")  # same session id, another user
    chat(ann_old, [("Ann", "The boat is called Marigold.")])
    chat(bob, [("Bob", "The boat is called Thunderbolt.")])
    chat(ann_now, [], filler=3)
    _, user = recall(RecallMemory(400, scope="user"), ann_now, "What is the boat called?")
    texts = recalled_texts(user, store, "ann")
    assert any("Marigold" in t for t in texts) and not any("Thunderbolt" in t for t in texts)
    assert {i["session_id"] for i in user.recalled} <= {"old", "now"}
    _, session = recall(RecallMemory(400), ann_now, "What is the boat called?")
    assert all(i["session_id"] == "now" for i in session.recalled)
    assert not any("Marigold" in t for t in recalled_texts(session, store, "ann"))
    _, bobs = recall(RecallMemory(400, scope="user"), store.history("x", user_id="bob"), "boat?")
    assert not any("Marigold" in t for t in recalled_texts(bobs, store, "bob"))


def test_deleted_popped_and_erased_messages_are_never_recalled(make):
    store = make(recall=True)
    keep = store.history("keep", user_id="ann")
    chat(keep, [("Ann", "Walrus facts are fun.")], filler=2)
    chat(store.history("gone", user_id="ann"), [("Ann", "The walrus in gone is secret.")])
    memory = RecallMemory(500, scope="user")
    _, before = recall(memory, keep, "walrus")
    assert {i["session_id"] for i in before.recalled} == {"keep", "gone"}
    store.delete_session("gone", user_id="ann")
    keep.add_messages([HumanMessage("Another walrus sighting, ignore me.")])
    keep.pop(1)
    keep.add_messages([HumanMessage("Still here, about the walrus.")])  # the freed seq, anew
    _, after = recall(memory, keep, "walrus")
    texts = recalled_texts(after, store, "ann")
    assert {i["session_id"] for i in after.recalled} == {"keep"}
    assert not any("ignore me" in t for t in texts)
    assert any("Still here" in t for t in texts)
    chat(store.history("other", user_id="bob"), [("Bob", "walrus")], filler=1)
    store.delete_user("ann")
    _, erased = recall(memory, store.history("keep", user_id="ann"), "walrus")
    assert erased.recalled == []
    _, bobs = recall(memory, store.history("other", user_id="bob"), "walrus")
    assert bobs.recalled


def test_expired_sessions_are_never_recalled(make):
    clock = Clock()
    native = make.kind in ("redis", "cluster")  # Redis expires keys itself, in real time
    store = make(recall=True, ttl=1 if native else 3600, clock=time.time if native else clock)
    keep = store.history("keep", user_id="ann")
    chat(store.history("stale", user_id="ann"), [("Ann", "The walrus in stale is secret.")])
    if native:
        time.sleep(1.3)
    else:
        clock.now += 3601
    chat(keep, [("Ann", "Walrus facts are fun.")], filler=1)
    memory = RecallMemory(500, scope="user")
    _, after = recall(memory, keep, "walrus")
    assert {i["session_id"] for i in after.recalled} == {"keep"}
    assert store.recall.wait(30)  # expired records are compacted away in the background
    engine = getattr(store.engine, "_engine", store.engine)
    from langchain_sessionmem.backends.recall import RecallScope

    rows = engine.recall_postings(RecallScope("ann"), ["walrus"])
    assert rows.n_docs == keep.count() and not rows.compact


def test_the_window_is_never_repeated_and_the_budget_holds(make):
    store = make(recall=True)
    history = store.history("s", user_id="ann")
    chat(history, [("Ann", "The kiln reached 1200 degrees.")], filler=6)
    history.add_messages([HumanMessage("Kiln note: glaze tomorrow."), AIMessage("Noted.")])
    counter = tiktoken_counter()
    for budget in (120, 200, 400, 800):
        memory = TokenWindowMemory(budget, token_counter=counter) | RecallMemory(
            share=0.5, token_counter=counter
        )
        messages, stats = recall(memory, history, "What temperature did the kiln reach?")
        window_ids = {m.id for m in messages if not is_block(m)}
        stored = {e.seq: e.message.id for e in history.range_entries(1)}
        recalled_ids = {stored[s] for i in stats.recalled for s in i["seqs"]}
        assert not window_ids & recalled_ids
        assert counter([*messages, HumanMessage("What temperature did the kiln reach?")]) <= budget
        assert stats.prompt_tokens <= budget
    assert any("1200" in m.text for m in messages)


def test_a_tool_call_comes_back_with_its_result(make):
    store = make(recall=True)
    history = store.history("t", user_id="ann")
    history.add_messages([SystemMessage("You are helpful.")])
    history.add_messages(
        [
            HumanMessage("What's the weather in Reykjavik?"),
            AIMessage(
                "", tool_calls=[{"name": "weather", "args": {"city": "Reykjavik"}, "id": "c1"}]
            ),
            ToolMessage("Sleet and 2 degrees in Reykjavik.", tool_call_id="c1", name="weather"),
            AIMessage("It is sleeting there."),
        ]
    )
    chat(history, [], filler=10)
    messages, stats = recall(RecallMemory(400), history, "Any sleet in Reykjavik?")
    seqs = {s for i in stats.recalled for s in i["seqs"]}
    assert {3, 4} <= seqs  # the call (3) and its result (4) together
    block = next(m for m in messages if is_block(m))
    assert "weather" in block.text and "Sleet and 2 degrees" in block.text
    assert 1 not in seqs  # the system message is instructions, not conversation
    units = [i["seqs"] for i in stats.recalled if 3 in i["seqs"] or 4 in i["seqs"]]
    assert units == [[3, 4]]


async def test_async_twins_share_the_logic(make):
    store = make(recall=True)
    history = store.history("a", user_id="ann")
    await history.aadd_messages([HumanMessage("The password hint is tangerine.", name="Ann")])
    for i in range(8):
        await history.aadd_messages([HumanMessage(FILLER[i % 4])])
    result = await history.arecall("what is the password hint?", 200, cost=lambda ms: 10)
    assert [t.seqs for t in result.turns][0] == (1,)
    context = await RecallMemory(200).aload_context(history, [HumanMessage("password hint?")])
    assert "tangerine" in context[0].text


def test_a_store_that_enables_recall_later_backfills_in_the_background(make):
    from langchain_sessionmem.recall_index import RecallIndex

    plain = make()
    history = plain.history("early", user_id="ann")
    chat(history, [("Ann", "The lighthouse keeper was named Ewan.")], filler=5)
    store = _same_engine(plain, recall=RecallIndex(catch_up=4))  # 12 missing: too many
    old = store.history("early", user_id="ann")
    now = store.history("new", user_id="ann")
    now.add_messages([HumanMessage("Hi again")])
    memory = RecallMemory(300, scope="user")
    _, first = recall(memory, now, "Who was the lighthouse keeper?")
    assert first.recalled == []  # not indexed yet: the turn does not wait for it
    assert store.recall.wait(30)
    _, second = recall(memory, now, "Who was the lighthouse keeper?")
    assert any("Ewan" in t for t in recalled_texts(second, store, "ann"))
    assert store.engine.recall_marks(old._key).indexed == old.count()
    old.add_messages([HumanMessage("The keeper Ewan retired.")])  # indexed in the background
    assert store.recall.wait(30)
    assert store.engine.recall_marks(old._key).indexed == old.count()


def test_a_recall_indexes_a_short_missing_tail_before_ranking(make):
    plain = make()
    chat(plain.history("early", user_id="ann"), [("Ann", "The keeper was named Ewan.")], filler=5)
    store = _same_engine(plain, recall=True)  # 12 missing messages: within catch_up
    now = store.history("new", user_id="ann")
    _, stats = recall(RecallMemory(300, scope="user"), now, "Who was the keeper?")
    assert any("Ewan" in t for t in recalled_texts(stats, store, "ann"))


@pytest.mark.parametrize("is_async", [False, True])
def test_appends_leave_indexing_to_the_background_and_a_recall_catches_up(make, is_async):
    from langchain_sessionmem.recall_index import RecallIndex

    store = make(recall=RecallIndex(index_delay=30))  # the worker waits: only a recall indexes
    history = store.history("s", user_id="ann")
    chat(history, [("Ann", "Our boat is called Marlinspike.")], filler=3)
    history.add_messages([HumanMessage("The mooring fee is paid in quince jam.", name="Ann")])
    engine = getattr(store.engine, "_engine", store.engine)
    assert engine.recall_marks(history._key).indexed == 0  # nothing indexed on the append path
    _, stats = recall(RecallMemory(300), history, "quince jam mooring?", is_async=is_async)
    assert any("quince jam" in t for t in recalled_texts(stats, store, "ann"))
    assert engine.recall_marks(history._key).indexed == history.count()
    history.pop(1)  # popped before it was indexed again: never recalled
    history.add_messages([HumanMessage("The fee went up to plum jam.", name="Ann")])
    _, stats = recall(RecallMemory(300), history, "jam fee?", is_async=is_async)
    texts = recalled_texts(stats, store, "ann")
    assert any("plum jam" in t for t in texts) and not any("quince" in t for t in texts)


@pytest.fixture(params=backends.params("sqlite", "redis", "postgres"))
def make_persistent(request, tmp_path, namespace):
    """Two stores on one database in turn (a memory store's sessions end with it)."""
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as maker:
        yield maker


@pytest.mark.parametrize("is_async", [False, True])
def test_closing_a_store_finishes_its_queued_indexing(make_persistent, is_async):
    from langchain_sessionmem.recall_index import RecallIndex

    make = make_persistent
    writer = make(recall=RecallIndex(index_delay=0.3))  # queued, not yet indexed, at the close
    history = writer.history("s", user_id="ann")
    chat(history, [("Ann", "The spare key is under the blue pot.")], filler=2)
    count = history.count()
    if is_async:
        asyncio.run(writer.aclose())
    else:
        writer.close()
    reader = make(recall=RecallIndex(index_delay=30))
    engine = getattr(reader.engine, "_engine", reader.engine)
    assert engine.recall_marks(reader.history("s", user_id="ann")._key).indexed == count


def test_the_worker_indexes_appends_in_batches(make):
    from langchain_sessionmem.recall_index import RecallIndex

    store = make(recall=RecallIndex(index_delay=0.2))
    history = store.history("s", user_id="ann")
    chat(history, [("Ann", "The cat answers to Biscuit.")], filler=4)
    assert store.recall.wait(30)
    engine = getattr(store.engine, "_engine", store.engine)
    assert engine.recall_marks(history._key).indexed == history.count() == 10
    assert store.recall.background_messages == 10 and store.recall.busy_seconds > 0


def test_a_recall_catches_up_what_another_store_appended(make):
    from langchain_sessionmem.recall_index import RecallIndex

    writer = make(recall=RecallIndex(index_delay=30))  # its worker has not run yet
    chat(writer.history("w", user_id="ann"), [("Ann", "The spare oar is in the shed.")], 2)
    reader = _same_engine(writer, recall=True)  # another process on the same database
    _, stats = recall(RecallMemory(300, scope="user"), reader.history("r", user_id="ann"), "oar?")
    assert any("spare oar" in t for t in recalled_texts(stats, reader, "ann"))


def _same_engine(store, **options):
    from langchain_sessionmem import SessionStore

    return SessionStore(store.engine, namespace=store.namespace, **options)


def test_backfill_recall_indexes_everything_now(make):
    plain = make()
    chat(plain.history("a", user_id="ann"), [("Ann", "Our dog is a greyhound.")], filler=2)
    store = _same_engine(plain, recall=True)
    assert store.backfill_recall("ann") == 2 + 2 * 2  # the fact's pair and two filler pairs
    _, stats = recall(RecallMemory(300, scope="user"), store.history("b", user_id="ann"), "dog?")
    assert any("greyhound" in t for t in recalled_texts(stats, store, "ann"))


def test_window_only_stores_write_no_index(make):
    store = make()
    history = store.history("w", user_id="ann")
    chat(history, [("Ann", "Nothing to index here.")], filler=2)
    engine = getattr(store.engine, "_engine", store.engine)
    assert engine.recall_marks(history._key).indexed == 0
    with pytest.raises(Exception, match="recall=True"):
        history.recall("index", 100, cost=len)


def test_recall_over_a_plain_message_list():
    messages = [HumanMessage("The spare key is under the blue pot.", id="m1")]
    messages += [HumanMessage(FILLER[i % 4], id=f"f{i}") for i in range(10)]
    messages.append(HumanMessage("Where is the spare key?", id="q"))
    out = RecallMemory(200).invoke(messages)
    assert len(out) == 1 and "blue pot" in out[0].text and "Where is the spare" not in out[0].text


def test_an_erased_user_leaves_no_index_bytes_in_the_sqlite_file(tmp_path, namespace):
    path = tmp_path / "erase.db"
    with stores_on(f"sqlite:///{path}", namespace) as make:
        store = make(recall=True)
        history = store.history("s", user_id="erin-4711")
        chat(history, [("Erin", "The zebracorn password is quillfeather.")], filler=3)
        _, stats = recall(RecallMemory(300), history, "zebracorn password?")
        assert stats.recalled
        chat(store.history("t", user_id="kept-user"), [("Kim", "Nothing secret.")], filler=1)
        store.delete_user("erin-4711")
        raw = path.read_bytes() + (tmp_path / "erase.db-wal").read_bytes()
        for marker in (b"erin-4711", b"zebracorn", b"quillfeath"):
            assert marker not in raw
        assert b"kept-user" in raw  # the scan can see what is still there


@pytest.mark.redis
def test_an_erased_user_leaves_no_recall_keys_on_redis(redis_url, namespace):
    import redis

    with stores_on(redis_url, namespace) as make:
        store = make(recall=True)
        history = store.history("s", user_id="erin-4711")
        chat(history, [("Erin", "The zebracorn password is quillfeather.")], filler=3)
        history.pop(1)
        assert recall(RecallMemory(300), history, "zebracorn password?")[1].recalled
        chat(store.history("t", user_id="kept-user"), [("Kim", "Nothing secret.")], filler=1)
        store.delete_user("erin-4711")
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{namespace}*"))
        values = b"".join(client.dump(k) or b"" for k in keys)  # every value, whatever its type
        client.close()
        assert keys and not [k for k in keys if b"erin-4711" in k]
        assert b"zebracorn" not in values and b"quillfeath" not in values


@pytest.mark.postgres
def test_an_erased_user_leaves_no_recall_rows_in_postgres(postgres_dsn, namespace):
    import psycopg

    with stores_on(postgres_dsn, namespace) as make:
        store = make(recall=True)
        history = store.history("s", user_id="erin-4711")
        chat(history, [("Erin", "The zebracorn password is quillfeather.")], filler=3)
        history.pop(1)
        assert recall(RecallMemory(300), history, "zebracorn password?")[1].recalled
        chat(store.history("t", user_id="kept-user"), [("Kim", "Nothing secret.")], filler=1)
        store.delete_user("erin-4711")
        markers = [b"erin-4711", b"zebracorn", b"quillfeath"]
        found = b""
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)",
                    (namespace + "_",),
                )
            ]
            assert f"{namespace}_recall_postings" in tables
            for table in tables:
                for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t'):
                    found += row.encode() + b"\n"
        assert b"kept-user" in found
        for marker in markers:
            assert marker not in found and marker.hex().encode() not in found
