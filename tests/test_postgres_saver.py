"""The PostgreSQL checkpointer's own properties: users, TTL, filters in SQL, connections, the log,
packing, hostile input, LangGraph habits (from_conn_string, setup, URLs)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import START, MessagesState, StateGraph
from postgres_helpers import backends_of, drop_namespace, table_rows

from langchain_sessionmem import ANONYMOUS, SessionStore
from langchain_sessionmem.backends.postgres import cpids, task_writes
from langchain_sessionmem.backends.postgres.packing import (
    TAG,
    ZDICT_ROWS,
    inflate,
    pack,
    unpack,
    unpack_ckpt,
)
from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver
from langchain_sessionmem.errors import (
    CorruptDataError,
    InvalidArgumentError,
    InvalidIdError,
)

pytestmark = pytest.mark.postgres


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ns(postgres_dsn):
    namespace = "s" + uuid.uuid4().hex[:10]
    yield namespace
    drop_namespace(postgres_dsn, namespace)


@pytest.fixture
def make(postgres_dsn, ns):
    made: list[PostgresCheckpointSaver] = []

    def build(**options: Any) -> PostgresCheckpointSaver:
        made.append(PostgresCheckpointSaver(conninfo=postgres_dsn, namespace=ns, **options))
        return made[-1]

    yield build
    for saver in made:
        saver.close()


def chat(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("re: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def cfg(thread_id: str, **extra: Any) -> dict:
    return {"configurable": {"thread_id": thread_id, **extra}}


def contents(graph: Any, thread_id: str) -> list[str]:
    return [m.content for m in graph.get_state(cfg(thread_id)).values.get("messages", [])]


def put(saver: Any, thread_id: str, value: Any, metadata: dict | None = None, parent=None):
    ckpt = empty_checkpoint()
    ckpt["channel_values"] = {"v": value}
    ckpt["channel_versions"] = {"v": saver.get_next_version(None)}
    config = parent or cfg(thread_id, checkpoint_ns="")
    return saver.put(
        config, ckpt, metadata or {"source": "loop", "step": 0}, ckpt["channel_versions"]
    )


# -- users own their threads -----------------------------------------------------------------
def test_two_users_same_thread_id_are_two_threads(make):
    saver = make()
    alice, bob = saver.for_user("alice"), saver.for_user("bob")
    chat(alice).invoke({"messages": [HumanMessage("alice secret")]}, cfg("t-1"))
    chat(bob).invoke({"messages": [HumanMessage("bob here")]}, cfg("t-1"))
    assert contents(chat(alice), "t-1") == ["alice secret", "re: alice secret"]
    assert contents(chat(bob), "t-1") == ["bob here", "re: bob here"]
    listed = list(bob.list(None))
    assert listed and all(t.config["configurable"]["thread_id"] == "t-1" for t in listed)
    assert not any("alice" in str(t.checkpoint["channel_values"]) for t in listed)
    assert [t.thread_id for t in alice.list_threads()] == ["t-1"]
    assert saver.list_threads() == [] and list(saver.list(None)) == []  # anonymous: nothing
    bob.delete_thread("t-1")
    assert contents(chat(alice), "t-1") == ["alice secret", "re: alice secret"]
    assert bob.get_tuple(cfg("t-1")) is None


def test_erase_a_user_leaves_no_row_behind(postgres_dsn, ns):
    marker = "zq-erase-" + uuid.uuid4().hex[:6]
    with SessionStore.from_url(postgres_dsn, namespace=ns) as store:
        history = store.history("s1", user_id="carol")
        history.add_messages([HumanMessage(f"{marker} history")])
        graph = chat(store.checkpointer(user_id="carol"))
        for thread in ("a", "b"):
            graph.invoke({"messages": [HumanMessage(f"{marker} {thread}")]}, cfg(thread))
        chat(store.checkpointer(user_id="dave")).invoke(
            {"messages": [HumanMessage("dave stays")]}, cfg("a")
        )
        assert sorted(t.thread_id for t in store.list_threads(user_id="carol")) == ["a", "b"]
        store.delete_user("carol")
        assert store.list_threads(user_id="carol") == []
        assert contents(chat(store.checkpointer(user_id="dave")), "a") == [
            "dave stays",
            "re: dave stays",
        ]
    text = json.dumps(table_rows(postgres_dsn, ns))
    assert marker not in text and "carol" not in text
    assert "dave" in text  # the scan does see the other user's rows


# -- TTL ------------------------------------------------------------------------------------
def test_ttl_expires_threads_and_the_sweep_removes_their_rows(make, postgres_dsn, ns):
    clock = Clock()
    saver = make(ttl={"default_ttl": 1, "refresh_on_read": True}, clock=clock)
    graph = chat(saver)
    graph.invoke({"messages": [HumanMessage("hi")]}, cfg("old"))
    graph.invoke({"messages": [HumanMessage("hi")]}, cfg("read"))
    clock.now += 45
    assert saver.get_tuple(cfg("read")) is not None  # refresh_on_read slides its expiry
    clock.now += 30
    assert saver.get_tuple(cfg("old")) is None  # 75 s without a write: gone for reads
    assert saver.get_tuple(cfg("read")) is not None
    assert [t.thread_id for t in saver.list_threads()] == ["read"]
    assert saver.purge_expired() == 1
    with psycopg.connect(postgres_dsn) as conn:
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"{ns}_cp_expiry",)
        ).fetchone()[0]
        counts = {
            table: conn.execute(f'SELECT count(*) FROM "{ns}_cp_{table}"').fetchone()[0]
            for table in ("threads", "checkpoints", "logs")  # values and writes: in the row
        }
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f'EXPLAIN SELECT * FROM "{ns}_cp_threads" WHERE expires_at <= now()'
            )
        )
    assert counts["threads"] == 1 and all(counts.values())  # only "read" is left, whole
    assert "(expires_at)" in index and "WHERE (expires_at IS NOT NULL)" in index
    assert "expires_at" in plan
    clock.now += 120
    graph.invoke({"messages": [HumanMessage("again")]}, cfg("read"))  # an expired thread restarts
    assert contents(graph, "read") == ["again", "re: again"]


def test_operator_sweep_statement(make, postgres_dsn, ns):
    clock = Clock()
    clock.now = 1_000_000_000.0  # long past: the real now() of the server has expired it
    saver = make(ttl=60, clock=clock)
    put(saver, "t", 1)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(saver.sweep_sql)
        assert conn.execute(f'SELECT count(*) FROM "{ns}_cp_checkpoints"').fetchone()[0] == 0
    assert saver.sweep_sql.startswith("DELETE FROM") and "now()" in saver.sweep_sql


def test_sweeper_thread_runs_purge(make, postgres_dsn, ns):
    clock = Clock()
    saver = make(ttl={"default_ttl": 1, "sweep_interval_minutes": 0.001}, clock=clock)
    put(saver, "t", 1)

    def rows() -> int:
        with psycopg.connect(postgres_dsn) as conn:
            return conn.execute(f'SELECT count(*) FROM "{ns}_cp_threads"').fetchone()[0]

    threading.Event().wait(0.2)  # a few sweeps: nothing has expired yet
    assert rows() == 1
    clock.now += 3600
    for _ in range(200):  # the sweeper runs every 60 ms; this test never calls purge_expired
        if rows() == 0:
            break
        threading.Event().wait(0.05)
    assert rows() == 0
    saver.close()
    assert saver._sweeper is None


# -- reads in SQL -----------------------------------------------------------------------------
def test_filters_before_and_limit_run_in_sql(make, postgres_dsn, ns):
    saver = make()
    config = None
    for i in range(12):
        config = put(
            saver,
            "t",
            i,
            {
                "source": "loop",
                "step": i,
                "tag": "even" if i % 2 == 0 else "odd",
                "nested": {"k": i},
            },
            config,
        )
    listed = list(saver.list(cfg("t"), filter={"tag": "even"}, limit=3))
    assert [t.metadata["step"] for t in listed] == [10, 8, 6]
    before = list(saver.list(cfg("t"), before=listed[0].config, limit=2))
    assert [t.metadata["step"] for t in before] == [9, 8]
    # a non-scalar filter value is compared here, after SQL: still exact
    assert [t.metadata["step"] for t in saver.list(cfg("t"), filter={"nested": {"k": 3}})] == [3]
    sql = saver.sql.listing(
        thread=True, ns=False, exact=False, before=True, filtered=True, limited=True
    )
    assert "metadata::jsonb @> %(filter)s::jsonb" in sql and "LIMIT %(limit)s" in sql
    assert "c.checkpoint_id < %(before)s" in sql


def test_statements_are_prepared_once(make):
    saver = make()
    config = put(saver, "t", 1)
    with saver.connections.connection(saver.migrations) as conn:
        pid = conn.info.backend_pid
    for _ in range(5):
        saver.get_tuple(config)
    with saver.connections.connection() as conn:
        assert conn.info.backend_pid == pid  # the one pooled connection
        names = conn.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ("%WITH page AS%",),
        ).fetchall()
    assert len(names) == 1  # parsed and planned once, reused by every call


def test_no_connection_is_left_idle_in_transaction(postgres_dsn, ns):
    app = "cp" + uuid.uuid4().hex[:8]
    dsn = f"{postgres_dsn}?application_name={app}"
    clock = Clock()
    saver = PostgresCheckpointSaver(conninfo=dsn, namespace=ns, ttl=60, clock=clock)
    graph = chat(saver)
    graph.invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
    saver.copy_thread("t", "u")
    saver.prune(["u"])
    clock.now += 600
    graph.invoke({"messages": [HumanMessage("restart")]}, cfg("t"))  # the expired-thread path
    with pytest.raises(InvalidIdError):
        put(saver, "t\x00x", 1)
    with pytest.raises(psycopg.errors.UndefinedTable), saver.connections.connection() as conn:
        conn.execute("SELECT * FROM no_such_table")

    async def async_calls() -> None:
        await chat(saver).ainvoke({"messages": [HumanMessage("async")]}, cfg("a"))
        await saver.acopy_thread("a", "b")
        await saver.aprune(["b"])
        states = {state for _, state in backends_of(postgres_dsn, app)}
        assert states == {"idle"}, states
        await saver.aclose()

    asyncio.run(async_calls())
    assert {state for _, state in backends_of(postgres_dsn, app)} <= {"idle"}
    saver.close()


# -- the log ------------------------------------------------------------------------------------
def test_a_log_grown_by_another_writer_is_rebased(make):
    first, second = make(), make()  # separate caches, like two processes
    msgs = [HumanMessage("m0", id="m0")]
    base = put(first, "t", msgs)
    for saver in (first, second):
        assert [m.id for m in saver.get_tuple(base).checkpoint["channel_values"]["v"]] == ["m0"]
    one = first.get_tuple(base).checkpoint["channel_values"]["v"] + [HumanMessage("a", id="a")]
    two = second.get_tuple(base).checkpoint["channel_values"]["v"] + [HumanMessage("b", id="b")]
    ca = put(first, "t", one, parent=base)
    cb = put(second, "t", two, parent=base)  # appends where first already did: rebased
    assert [m.id for m in first.get_tuple(ca).checkpoint["channel_values"]["v"]] == ["m0", "a"]
    assert [m.id for m in make().get_tuple(cb).checkpoint["channel_values"]["v"]] == ["m0", "b"]


def test_messages_are_stored_once_and_packed(make, postgres_dsn, ns):
    saver = make()
    graph = chat(saver)
    for i in range(20):
        graph.invoke({"messages": [HumanMessage(f"turn {i} " + "words " * 40)]}, cfg("t"))
    with psycopg.connect(postgres_dsn) as conn:
        logs = conn.execute(f'SELECT type FROM "{ns}_cp_logs"').fetchall()
        sizes = conn.execute(f'SELECT sum(octet_length(blob)) FROM "{ns}_cp_logs"').fetchone()[0]
    assert len(logs) == 40  # each message once, however many checkpoints name it
    assert all(t.endswith(TAG) for (t,) in logs) and sizes < 40 * 200


def test_packing_round_trip_and_damage():
    typed = ("msgpack", json.dumps({"content": "x" * 500}).encode())
    packed = pack(typed)
    assert packed[0] == "msgpack" + TAG and len(packed[1]) < len(typed[1])
    assert unpack(*packed) == typed
    assert pack(("msgpack", b"short")) == ("msgpack", b"short")
    noise = os.urandom(200)  # does not shrink (sealed values neither): stored as it is
    assert pack(("x", noise)) == ("x", noise)
    with pytest.raises(CorruptDataError, match="damaged"):
        unpack("msgpack" + TAG, b"\x00not deflate")


def test_delta_channel_history_matches_the_default_walk(make):
    from langgraph.checkpoint.base import BaseCheckpointSaver

    saver = make()
    config = None
    for i in range(5):
        ckpt = empty_checkpoint()
        ckpt["channel_values"] = {"d": f"seed{i}"} if i == 1 else {}
        ckpt["channel_versions"] = {"d": f"{i + 1:012}.000000"}
        config = saver.put(
            config or cfg("t", checkpoint_ns=""),
            ckpt,
            {"source": "loop", "step": i},
            {"d": ckpt["channel_versions"]["d"]} if i == 1 else {},
        )
        saver.put_writes(config, [("d", f"w{i}")], f"task{i}")
    native = saver.get_delta_channel_history(config=config, channels=["d"])
    default = BaseCheckpointSaver.get_delta_channel_history(saver, config=config, channels=["d"])
    assert native == default and native["d"]["seed"] == "seed1"


# -- hostile input ------------------------------------------------------------------------------
def test_hostile_input_gets_typed_errors(make):
    saver = make()
    config = put(saver, "t", 1)
    with pytest.raises(InvalidIdError):
        saver.delete_thread(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError):
        saver.get_tuple(cfg("bad\x00id"))
    with pytest.raises(InvalidIdError):
        saver.get_tuple(cfg("\ud800"))
    ckpt = empty_checkpoint()
    ckpt["channel_values"] = {"bad\x00channel": 1}
    ckpt["channel_versions"] = {"bad\x00channel": "1"}
    with pytest.raises(InvalidIdError, match="NUL"):  # reaches the driver: typed there
        saver.put(config, ckpt, {"source": "loop", "step": 1}, ckpt["channel_versions"])
    with pytest.raises(InvalidIdError):
        list(saver.list(cfg("t", checkpoint_ns="a\x00b")))
    with pytest.raises(InvalidArgumentError):
        list(saver.list(cfg("t"), limit="ten"))  # type: ignore[arg-type]
    assert len(list(saver.list(cfg("t"), limit=2**80))) == 1  # huge: clamped, works


# -- LangGraph habits -----------------------------------------------------------------------------
def test_from_conn_string_sync_and_async_and_sqlalchemy_urls(postgres_dsn, ns):
    url = postgres_dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    with PostgresCheckpointSaver.from_conn_string(url, namespace=ns) as saver:
        saver.setup()
        saver.setup()  # idempotent
        chat(saver).invoke({"messages": [HumanMessage("sync")]}, cfg("t"))

    async def use() -> list[str]:
        async with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
            await saver.asetup()
            state = await chat(saver).aget_state(cfg("t"))
            return [m.content for m in state.values["messages"]]

    assert asyncio.run(use()) == ["sync", "re: sync"]
    with SessionStore.from_url(url, namespace=ns) as store:
        anonymous = store.checkpointer(user_id=ANONYMOUS)  # from_conn_string had no user
        assert contents(chat(anonymous), "t") == ["sync", "re: sync"]


def test_store_checkpointer_uses_the_store_pools_and_makes_no_chat_tables(postgres_dsn, ns):
    with SessionStore.from_url(postgres_dsn, namespace=ns) as store:
        saver = store.checkpointer(user_id="u")
        assert saver.connections is store.engine.connections
        chat(saver).invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        with psycopg.connect(postgres_dsn) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)", (ns,)
                )
            }
    assert f"{ns}_cp_checkpoints" in tables and f"{ns}_sessions" not in tables


def test_with_allowlist_keeps_the_connections(make):
    saver = make()
    clone = saver.with_allowlist([("builtins", "dict")])
    assert clone.connections is saver.connections and clone is not saver
    config = put(clone, "t", {"a": 1})
    assert saver.get_tuple(config).checkpoint["channel_values"]["v"] == {"a": 1}


# -- encryption (CONTRACTS §4) ----------------------------------------------------------------
def _inflated_rows(dsn: str, ns: str) -> str:
    """Every value column as stored and as inflated: packing must not hide plaintext."""
    out = []
    with psycopg.connect(dsn) as conn:
        for table, column in (
            ("checkpoints", "ckpt"),
            ("blobs", "blob"),
            ("writes", "blob"),
            ("logs", "blob"),
        ):
            for typ, data in conn.execute(f'SELECT type, {column} FROM "{ns}_cp_{table}"'):
                out.append(typ + repr(bytes(data)) + repr(unpack(typ, data)[1]))
        rows = conn.execute(
            f'SELECT checkpoint_id, type, ckpt, vals, writes FROM "{ns}_cp_checkpoints"'
        )
        for stored, typ, ckpt, vals, frames in rows:
            cid = cpids.dec(stored)
            out.append(repr(unpack_ckpt(typ, ckpt, cid)[1]))
            if vals is not None and bytes(vals[:1]) == b"\x03":
                out.append(repr(inflate(vals[1:], ZDICT_ROWS, "vals")))
            out.append(repr([w.value for w in task_writes.calls(frames, cid)]))
    return "\n".join(out)


def test_encrypted_rows_hold_no_plaintext(postgres_dsn, ns):
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring

    marker = "zq-secret-" + uuid.uuid4().hex[:6]
    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    with PostgresCheckpointSaver.from_conn_string(
        postgres_dsn, namespace=ns, encryption=keyring
    ) as saver:
        chat(saver).invoke({"messages": [HumanMessage(marker)]}, cfg("t"))
        assert contents(chat(saver), "t") == [marker, "re: " + marker]
    sealed = _inflated_rows(postgres_dsn, ns)
    assert marker not in sealed and "+sealed" in sealed
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as plain:
        chat(plain).invoke({"messages": [HumanMessage(marker)]}, cfg("control"))
    assert marker in _inflated_rows(postgres_dsn, ns)  # the scan would see plaintext


def test_a_value_moved_to_another_thread_does_not_open(postgres_dsn, ns):
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring

    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    with PostgresCheckpointSaver.from_conn_string(
        postgres_dsn, namespace=ns, encryption=keyring
    ) as saver:
        alice, bob = saver.for_user("alice"), saver.for_user("bob")
        chat(alice).invoke({"messages": [HumanMessage("alice only")]}, cfg("t"))
        chat(bob).invoke({"messages": [HumanMessage("bob")]}, cfg("t"))
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # bob's log items := alice's
            conn.execute(
                f'UPDATE "{ns}_cp_logs" b SET blob = a.blob, type = a.type FROM "{ns}_cp_logs" a, '
                f'"{ns}_cp_threads" ta, "{ns}_cp_threads" tb WHERE ta.id = a.thread AND '
                "tb.id = b.thread AND ta.owner = 'alice' AND tb.owner = 'bob' AND a.seq = b.seq"
            )
        fresh = PostgresCheckpointSaver(saver.connections, namespace=ns, encryption=keyring)
        with pytest.raises(CorruptDataError):
            fresh.for_user("bob").get_tuple(cfg("t"))


def test_per_user_keys_through_the_store_async_and_erase(postgres_dsn, ns):
    pytest.importorskip("cryptography")
    from langchain_sessionmem.crypto import Keyring

    keyring = Keyring({"k1": os.urandom(32)}, "k1", per_user_keys=True)

    async def run() -> list[str]:
        store = SessionStore.from_url(postgres_dsn, namespace=ns, encryption=keyring)
        try:
            graph = chat(store.checkpointer(user_id="erin"))
            await graph.ainvoke({"messages": [HumanMessage("keyed")]}, cfg("t"))
            state = await graph.aget_state(cfg("t"))
            assert store.engine.get_user_key("erin") is not None
            await store.adelete_user("erin")
            assert store.engine.get_user_key("erin") is None
            assert await store.alist_threads(user_id="erin") == []
            return [m.content for m in state.values["messages"]]
        finally:
            await store.aclose()

    assert asyncio.run(run()) == ["keyed", "re: keyed"]
