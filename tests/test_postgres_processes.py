"""The PostgreSQL checkpointer across processes: resume after a restart, concurrent writers,
several instances applying the migrations at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import uuid

import postgres_worker
import psycopg
import pytest
from postgres_helpers import drop_namespace

from langchain_sessionmem.backends.postgres.migrations import CHECKPOINT
from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver

pytestmark = pytest.mark.postgres
WORKER = os.path.join(os.path.dirname(__file__), "postgres_worker.py")


@pytest.fixture
def ns(postgres_dsn):
    namespace = "p" + uuid.uuid4().hex[:10]
    yield namespace
    drop_namespace(postgres_dsn, namespace)


def _run_worker(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, WORKER, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_interrupt_restart_resume(postgres_dsn, ns):
    """Human in the loop across processes: one stops at interrupt(), a new one resumes it."""
    started = _run_worker("hitl", "start", postgres_dsn, ns, "ticket-7")
    assert started == {"interrupts": [{"question": "approve the refund?"}], "next": ["ask"]}
    resumed = _run_worker("hitl", "resume", postgres_dsn, ns, "ticket-7")
    assert resumed["next_before"] == ["ask"]  # the pending interrupt survived the restart
    assert resumed["messages"] == ["the refund", "approved: yes"]
    # the thread is alice's: nobody else sees it, under any id
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        assert (
            saver.for_user("mallory").get_tuple({"configurable": {"thread_id": "ticket-7"}}) is None
        )
        assert [t.thread_id for t in saver.for_user("alice").list_threads()] == ["ticket-7"]


def _spawn(target, args_list):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(args_list))
    procs = [ctx.Process(target=target, args=(*args, start)) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_two_processes_on_one_thread_lose_nothing(postgres_dsn, ns):
    n = 25
    _spawn(postgres_worker.put_chain, [(postgres_dsn, ns, "shared", w, n) for w in (1, 2)])
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        tuples = list(saver.list({"configurable": {"thread_id": "shared"}}))
        assert len(tuples) == 2 * n
        for writer in (1, 2):
            mine = saver.list({"configurable": {"thread_id": "shared"}}, filter={"writer": writer})
            by_step = {t.metadata["step"]: t for t in mine}
            assert sorted(by_step) == list(range(n))
            for step, t in by_step.items():  # each checkpoint holds exactly its own chain
                ids = [m.id for m in t.checkpoint["channel_values"]["messages"]]
                assert ids == [f"w{writer}-{i}" for i in range(step + 1)]


def test_two_processes_on_their_own_threads_lose_nothing(postgres_dsn, ns):
    turns = 15
    _spawn(postgres_worker.chat_turns, [(postgres_dsn, ns, t, turns) for t in ("ta", "tb")])
    with PostgresCheckpointSaver.from_conn_string(postgres_dsn, namespace=ns) as saver:
        bob = saver.for_user("bob")
        for thread in ("ta", "tb"):
            state = bob.get_tuple({"configurable": {"thread_id": thread}})
            contents = [m.content for m in state.checkpoint["channel_values"]["messages"]]
            expected = [x for i in range(turns) for x in (f"{thread} {i}", f"re: {thread} {i}")]
            assert contents == expected
        assert sorted(t.thread_id for t in bob.list_threads()) == ["ta", "tb"]


def _versions(dsn: str, ns: str) -> list[tuple[str, int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            f'SELECT component, version FROM "{ns}_migrations" ORDER BY 1, 2'
        ).fetchall()


def test_instances_starting_together_migrate_once(postgres_dsn, ns):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(4)
    procs = [
        ctx.Process(target=postgres_worker.migrate, args=(postgres_dsn, ns, start, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert sorted(out.get(timeout=10) for _ in procs) == ["ok"] * 4
    assert _versions(postgres_dsn, ns) == [("checkpoint", m.version) for m in CHECKPOINT]


def test_threads_of_one_process_migrate_once(postgres_dsn, ns):
    savers = [PostgresCheckpointSaver(conninfo=postgres_dsn, namespace=ns) for _ in range(6)]
    barrier = threading.Barrier(len(savers))
    errors: list[BaseException] = []

    def first_call(saver: PostgresCheckpointSaver) -> None:
        barrier.wait()
        try:
            assert saver.get_tuple({"configurable": {"thread_id": "t"}}) is None
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first_call, args=(s,)) for s in savers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in savers:
        s.close()
    assert errors == []
    assert _versions(postgres_dsn, ns) == [("checkpoint", m.version) for m in CHECKPOINT]
