"""LangGraph checkpoint savers: ours via ``store.checkpointer()`` beside LangGraph's own savers.

Each saver runs a one-node ``MessagesState`` chat graph (~350-character messages, no LLM) on
one thread and reports, at each milestone, its stored bytes and the latency of a turn and of the
reads LangGraph makes (``get_tuple``, ``get_state``, ``list(limit=10)``, a full ``list()``).
Message texts are words drawn afresh per message (``turns.chat_text``): with one sentence
repeated, PostgreSQL's TOAST compression shrank PostgresSaver's full-list blobs to 33 MiB at 500
turns, where these texts measure 73 MiB (the reference measurement of a 500-turn chat: 86.9 MiB).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
import uuid
from typing import Any

from _harness import Workspace, median_ms
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langchain_sessionmem import SessionStore

from .turns import chat_text

COLUMNS = [  # (result key, table header)
    ("bytes", "stored"),
    ("turn_ms", "turn ms"),
    ("get_tuple_ms", "get_tuple ms"),
    ("get_state_ms", "get_state ms"),
    ("list10_ms", "list(10) ms"),
    ("list_all_ms", "list() ms"),
]


def graph_for(saver: Any) -> Any:
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(chat_text(2 * len(state["messages"]) + 1))]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def file_bytes(path: str) -> int:
    """An SQLite file after a WAL checkpoint, its WAL included."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def schema_bytes(ws: Workspace, schema: str) -> int:
    """Relation sizes (TOAST and indexes included) of a PostgreSQL schema, after a VACUUM."""
    import psycopg

    with psycopg.connect(ws.services.postgres_url, autocommit=True) as conn:
        conn.execute("VACUUM")  # settle TOAST and free space maps before measuring
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return int(row[0])


class Saver:
    """One saver under test: ``build`` it, measure its ``size`` for a thread, ``close`` it."""

    key = label = ""
    tags: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()

    def __init__(self, ws: Workspace):
        self.ws = ws

    def build(self) -> Any: ...
    def size(self, saver: Any, thread_id: str) -> int: ...
    def close(self) -> None: ...


class InMemory(Saver):
    key = label = "InMemorySaver"
    tags = frozenset({"langgraph", "memory"})

    def build(self) -> Any:
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()

    def size(self, saver: Any, thread_id: str) -> int:
        """Serialized bytes of checkpoints, metadata, blobs and writes."""
        total = sum(
            len(c[1]) + len(m[1])
            for ns in saver.storage.values()
            for cs in ns.values()
            for c, m, _p in cs.values()
        )
        total += sum(len(v[1]) for v in saver.blobs.values())
        return total + sum(len(w[2][1]) for ws in saver.writes.values() for w in ws.values())


class Sqlite(Saver):
    key = label = "SqliteSaver"
    tags = frozenset({"langgraph", "sqlite"})
    needs = ("langgraph.checkpoint.sqlite",)

    def build(self) -> Any:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.path = self.ws.db_path("langgraph")
        self.conn = sqlite3.connect(self.path, check_same_thread=False)
        return SqliteSaver(self.conn)

    def size(self, saver: Any, thread_id: str) -> int:
        return file_bytes(self.path)

    def close(self) -> None:
        self.conn.close()


class Postgres(Saver):
    key = label = "PostgresSaver"
    tags = frozenset({"langgraph", "postgres"})
    needs = ("postgres", "langgraph.checkpoint.postgres")

    def build(self) -> Any:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        self.schema = f"{self.ws.schema}_langgraph"
        self.conn = psycopg.connect(
            self.ws.postgres(self.schema),
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
        )
        saver = PostgresSaver(self.conn)
        saver.setup()
        return saver

    def size(self, saver: Any, thread_id: str) -> int:
        return schema_bytes(self.ws, self.schema)

    def close(self) -> None:
        self.conn.close()


class Ours(Saver):
    """``SessionStore.from_url(url).checkpointer()``; bytes from ``saver.thread_info``."""

    key = label = "sessionmem-memory"
    tags = frozenset({"ours", "memory"})

    def url(self) -> str:
        return "memory://"

    def build(self) -> Any:
        self.namespace = self.ws.name("ckpt")
        self.store = SessionStore.from_url(self.url(), namespace=self.namespace)
        return self.store.checkpointer(user_id="bench-user")

    def size(self, saver: Any, thread_id: str) -> int:
        return saver.thread_info(thread_id)["bytes"]

    def close(self) -> None:
        self.store.close()


class OursSqlite(Ours):
    key = label = "sessionmem-sqlite"
    tags = frozenset({"ours", "sqlite"})

    def url(self) -> str:
        self.path = self.ws.db_path("sessionmem")
        return f"sqlite:///{self.path}"

    def size(self, saver: Any, thread_id: str) -> int:
        return file_bytes(self.path)  # the whole file, as for SqliteSaver


class OursRedis(Ours):
    key = label = "sessionmem-redis"
    tags = frozenset({"ours", "redis"})
    needs = ("redis",)

    def url(self) -> str:
        self.ws.redis_used = True
        return self.ws.services.redis_url

    def close(self) -> None:
        super().close()
        self.ws.forget_keys(self.namespace)


class OursPostgres(Ours):
    """Ours on the same server as PostgresSaver, in a schema of its own, measured the same way."""

    key = label = "sessionmem-postgres"
    tags = frozenset({"ours", "postgres"})
    needs = ("postgres",)

    def url(self) -> str:
        self.schema = f"{self.ws.schema}_sessionmem"
        return self.ws.postgres(self.schema)

    def build(self) -> Any:
        self.namespace = self.ws.name("ckpt")
        self.store = SessionStore.from_url(self.url(), namespace=self.namespace)
        return self.store.checkpointer(user_id="bench-user")

    def size(self, saver: Any, thread_id: str) -> int:
        return schema_bytes(self.ws, self.schema)  # every table and index, as for PostgresSaver


ALL = [InMemory, Sqlite, Postgres, Ours, OursSqlite, OursRedis, OursPostgres]
PAIRS = [  # (LangGraph's saver, ours): ratios printed when both ran
    ("SqliteSaver", "sessionmem-sqlite"),
    ("InMemorySaver", "sessionmem-memory"),
    ("PostgresSaver", "sessionmem-postgres"),
]


def run(
    subject: Saver, milestones: list[int], reads: int = 5, lists: int = 3
) -> dict[int, dict[str, float]]:
    """Turns of the chat graph up to the last milestone; measurements at each milestone.

    Reads are medians of ``reads`` calls (``lists`` for listings, 1 for a full list from 100
    turns on); a turn is the mean of the last 5.
    """
    saver = subject.build()
    try:
        graph = graph_for(saver)
        tid = "bench-" + uuid.uuid4().hex[:8]
        config = {"configurable": {"thread_id": tid}}
        results: dict[int, dict[str, float]] = {}
        turn_ms: list[float] = []
        for turn in range(1, max(milestones) + 1):
            start = time.perf_counter()
            graph.invoke({"messages": [HumanMessage(chat_text(4 * turn))]}, config)
            turn_ms.append((time.perf_counter() - start) * 1000)
            if turn not in milestones:
                continue
            results[turn] = {
                "bytes": subject.size(saver, tid),
                "turn_ms": statistics.mean(turn_ms[-5:]),
                "get_tuple_ms": median_ms(lambda: saver.get_tuple(config), reads),
                "get_state_ms": median_ms(lambda: graph.get_state(config), reads),
                "list10_ms": median_ms(lambda: list(saver.list(config, limit=10)), lists),
                "list_all_ms": median_ms(
                    lambda: list(saver.list(config)), 1 if turn >= 100 else lists
                ),
            }
            got = len(graph.get_state(config).values["messages"])
            if got != 2 * turn:
                raise RuntimeError(f"{subject.label} lost messages: {got} of {2 * turn}")
        if hasattr(saver, "delete_thread"):
            saver.delete_thread(tid)
        return results
    finally:
        subject.close()
