"""Runs in a separate process against PostgreSQL (see test_postgres_processes.py).

``python tests/postgres_worker.py hitl start|resume DSN NAMESPACE THREAD`` runs a graph that
stops at an ``interrupt()`` and, in a later process, resumes it; the spawned-process functions
write checkpoints or apply migrations while other processes do the same.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


def approval_graph(saver: Any) -> Any:
    """START -> ask (interrupts for a human answer) -> the answer as an AI message."""
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.types import interrupt

    def ask(state: MessagesState) -> dict:
        answer = interrupt({"question": "approve " + state["messages"][-1].content + "?"})
        return {"messages": [AIMessage(f"approved: {answer}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    return builder.compile(checkpointer=saver)


def hitl(phase: str, dsn: str, namespace: str, thread: str) -> dict[str, Any]:
    """``start``: run to the interrupt (sync methods); ``resume``: answer it (async methods)."""
    from langchain_core.messages import HumanMessage
    from langgraph.types import Command

    from langchain_sessionmem import SessionStore

    config = {"configurable": {"thread_id": thread}}
    if phase == "start":
        with SessionStore.from_url(dsn, namespace=namespace) as store:
            graph = approval_graph(store.checkpointer(user_id="alice"))
            out = graph.invoke({"messages": [HumanMessage("the refund")]}, config)
            state = graph.get_state(config)
            return {
                "interrupts": [i.value for i in out.get("__interrupt__", [])],
                "next": list(state.next),
            }

    async def resume() -> dict[str, Any]:
        store = SessionStore.from_url(dsn, namespace=namespace)
        try:
            graph = approval_graph(store.checkpointer(user_id="alice"))
            before = await graph.aget_state(config)
            out = await graph.ainvoke(Command(resume="yes"), config)
            return {
                "next_before": list(before.next),
                "messages": [m.content for m in out["messages"]],
            }
        finally:
            await store.aclose()

    return asyncio.run(resume())


def put_chain(dsn: str, namespace: str, thread: str, writer: int, n: int, start: Any) -> None:
    """Put ``n`` checkpoints on ``thread``, each the previous one's messages plus one more."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.base import empty_checkpoint

    from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver

    with PostgresCheckpointSaver.from_conn_string(dsn, namespace=namespace) as saver:
        saver.setup()
        start.wait(60)
        config: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        messages: list[Any] = []
        for i in range(n):
            messages = [*messages, HumanMessage(f"w{writer}-{i}", id=f"w{writer}-{i}")]
            ckpt = empty_checkpoint()
            ckpt["channel_values"] = {"messages": messages}
            ckpt["channel_versions"] = {"messages": saver.get_next_version(None) + f"{writer}{i}"}
            config = saver.put(
                config,
                ckpt,
                {"source": "loop", "step": i, "writer": writer},
                ckpt["channel_versions"],
            )


def chat_turns(dsn: str, namespace: str, thread: str, turns: int, start: Any) -> None:
    """``turns`` turns of a one-node chat graph on ``thread`` (one process per thread)."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph

    from langchain_sessionmem import SessionStore

    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage("re: " + state["messages"][-1].content)]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    with SessionStore.from_url(dsn, namespace=namespace) as store:
        graph = builder.compile(checkpointer=store.checkpointer(user_id="bob"))
        start.wait(60)
        for i in range(turns):
            graph.invoke(
                {"messages": [HumanMessage(f"{thread} {i}")]},
                {"configurable": {"thread_id": thread}},
            )


def migrate(dsn: str, namespace: str, start: Any, out: Any) -> None:
    """Apply the checkpointer's migrations at the same moment as other processes."""
    from langchain_sessionmem.backends.postgres.saver import PostgresCheckpointSaver

    with PostgresCheckpointSaver.from_conn_string(dsn, namespace=namespace) as saver:
        start.wait(60)
        try:
            saver.setup()
            out.put("ok")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out.put(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    _, command, phase, dsn, namespace, thread = sys.argv
    assert command == "hitl"
    print(json.dumps(hitl(phase, dsn, namespace, thread)))
