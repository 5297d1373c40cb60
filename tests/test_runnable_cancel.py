"""A turn cut short by cancellation is saved by the rule: the input plus what was streamed, marked
interrupted; the save never delays the cancellation (it runs in a task of its own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableGenerator, RunnableLambda

from langchain_sessionmem import with_session_memory

CFG = {"configurable": {"session_id": "s-cut", "user_id": "alice"}}


async def slow_reply(messages: AsyncIterator) -> AsyncIterator[AIMessageChunk]:
    async for _ in messages:
        pass
    for word in ["partial ", "reply ", "that ", "never ", "ends"]:
        yield AIMessageChunk(content=word)
        await asyncio.sleep(0.2)


def stored(store) -> list:
    return store.history("s-cut", user_id="alice").messages


async def test_a_cancelled_stream_keeps_the_input_and_the_partial_reply(store):
    chain = with_session_memory(RunnableGenerator(slow_reply), store)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in chain.astream([HumanMessage("tell me a story")], CFG):
            seen.append(chunk.content)

    task = asyncio.create_task(consume())
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await chain.aflush()
    human, ai = stored(store)
    assert human.content == "tell me a story"
    assert isinstance(ai, AIMessage) and ai.content.startswith("partial reply")
    assert ai.response_metadata["interrupted"] is True


async def test_a_wait_for_timeout_on_a_stream_is_saved_by_the_rule(store):
    chain = with_session_memory(RunnableGenerator(slow_reply), store)

    async def consume() -> None:
        async for _ in chain.astream([HumanMessage("slow one")], CFG):
            pass

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(consume(), timeout=0.3)
    await chain.aflush()
    human, ai = stored(store)
    assert human.content == "slow one" and ai.response_metadata["interrupted"] is True


async def test_a_timed_out_invoke_keeps_the_input_and_does_not_wait_for_the_save(store):
    async def slow(messages):
        await asyncio.sleep(5)
        return AIMessage("too late")

    chain = with_session_memory(RunnableLambda(slow), store)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(chain.ainvoke([HumanMessage("are you there?")], CFG), timeout=0.2)
    assert loop.time() - started < 1.0  # the cancellation was not held up
    await chain.aflush()
    assert [m.content for m in stored(store)] == ["are you there?"]


async def test_a_failing_chain_still_stores_nothing(store):
    async def broken(messages):
        raise RuntimeError("model down")

    chain = with_session_memory(RunnableLambda(broken), store)
    with pytest.raises(RuntimeError):
        await chain.ainvoke([HumanMessage("hello")], CFG)
    await chain.aflush()
    assert stored(store) == []
