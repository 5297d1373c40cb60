"""Running summaries on real stores: exact prompts, each message summarized once, batching,
failures that keep the old summary, background work, and concurrent turns."""

from __future__ import annotations

import asyncio
import threading
import time

from fakes import ScriptedChatModel, ensure_tiktoken_cache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_sessionmem import with_session_memory
from langchain_sessionmem.memory import SummaryBufferMemory, SummaryMemory, format_transcript
from langchain_sessionmem.memory.summary import SUMMARY_PROMPT
from langchain_sessionmem.memory.transcript import indented
from langchain_sessionmem.tokens import tiktoken_counter

ensure_tiktoken_cache()
COUNTER = tiktoken_counter(encoding="cl100k_base")


class Events(BaseCallbackHandler):
    def __init__(self):
        self.events = []

    def on_custom_event(self, name, data, **kwargs):
        self.events.append((name, data))


def turn(i: int) -> list:
    return [
        HumanMessage(f"Question {i}: " + "tell me about the harbour " * 6),
        AIMessage(f"Answer {i}: " + "boats and tides " * 8),
    ]


def run_turns(memory, history, n, start=0):
    contexts = []
    for i in range(start, start + n):
        human, ai = turn(i)
        context = memory.load_context(history, [human])
        contexts.append(context)
        history.add_messages([human, ai])
        memory.save_context(history, [human, ai])
    return contexts


def test_each_summarizer_call_sees_the_previous_summary_and_only_new_messages(store):
    llm = ScriptedChatModel(script=[f"S{i}" for i in range(1, 50)])
    memory = SummaryBufferMemory(llm, max_tokens=600, token_counter=COUNTER)
    history = store.history("chat", user_id="alice")
    history.add_messages([SystemMessage("You are a harbour guide.")])
    contexts = run_turns(memory, history, 30)

    # Batching: far fewer summarizer calls than turns.
    assert 2 <= llm.calls <= 10
    entries = history.range_entries(1)
    state = history.get_state().data["summary"]
    assert state["text"] == f"S{llm.calls}" and state["calls"] == llm.calls
    watermark = state["watermark"]

    # Exact prompts: previous summary + exactly the messages between consecutive watermarks.
    bounds, previous, sent = [1], "(none yet)", []
    for i, prompt in enumerate(llm.prompts):
        text = prompt[0].text
        new_lines = text.split("New lines of conversation:\n", 1)[1].split("\n</data>", 1)[0]
        lines = new_lines.splitlines()
        start = bounds[-1] + 1
        batch = [e.message for e in entries[start - 1 : start - 1 + len(lines)]]
        assert text == SUMMARY_PROMPT.format(
            summary=indented(previous), new_lines=format_transcript(batch), max_words=90
        )
        sent.extend(batch)
        bounds.append(start - 1 + len(lines))
        previous = f"S{i + 1}"
    # Every message up to the watermark went to the summarizer exactly once; the system message never.
    assert [m.id for m in sent] == [e.message.id for e in entries[1:watermark]]

    # Every prompt stayed within budget: system, summary, window, and the new input.
    for i, context in enumerate(contexts):
        assert COUNTER([*context, turn(i)[0]]) <= 600
        assert context[0].text == "You are a harbour guide."
    last = memory.load_context(history, [HumanMessage("and now?")])
    assert last[1].text.endswith("<summary>\n" + state["text"] + "\n</summary>")
    assert [m.id for m in last[2:]] == [e.message.id for e in entries if e.seq > watermark][
        -len(last[2:]) :
    ]


def test_a_failed_summary_keeps_summary_and_watermark_and_is_retried(store, caplog):
    replies = ["S1", RuntimeError("model overloaded"), "S2"]
    llm = ScriptedChatModel(script=replies)
    memory = SummaryMemory(
        llm, trigger_tokens=400, keep_tokens=150, max_summary_tokens=40, token_counter=COUNTER
    )
    history = store.history("fail", user_id="alice")
    while llm.calls < 1:
        run_turns(memory, history, 1, start=history.count() // 2)
    before = history.get_state().data["summary"]
    while llm.calls < 2:
        run_turns(memory, history, 1, start=history.count() // 2)
    after_failure = history.get_state().data["summary"]
    assert after_failure == before  # same text, same watermark, no lease left behind
    assert "model overloaded" in caplog.text
    run_turns(memory, history, 1, start=history.count() // 2)  # the next turn retries
    assert llm.calls == 3
    retried = history.get_state().data["summary"]
    assert retried["text"] == "S2" and retried["watermark"] > before["watermark"]
    # The retry sent the same first messages the failed call had tried.
    failed_lines = llm.prompt_texts()[1].split("New lines of conversation:\n")[1].splitlines()
    retry_lines = llm.prompt_texts()[2].split("New lines of conversation:\n")[1].splitlines()
    assert retry_lines[0] == failed_lines[0]


def test_background_summary_does_not_delay_the_turn(store):
    llm = ScriptedChatModel(script=lambda m: "bg summary", delay=0.3)
    memory = SummaryBufferMemory(llm, max_tokens=400, token_counter=COUNTER, background=True)
    history = store.history("bg", user_id="alice")
    slowest = 0.0
    for i in range(12):
        human, ai = turn(i)
        memory.load_context(history, [human])
        history.add_messages([human, ai])
        started = time.perf_counter()
        memory.save_context(history, [human, ai])
        slowest = max(slowest, time.perf_counter() - started)
    memory.flush()
    assert llm.calls >= 1
    assert slowest < 0.2  # the 0.3 s summarizer ran after the turn returned
    assert history.get_state().data["summary"]["text"] == "bg summary"


async def test_async_background_summary_and_flush(store):
    llm = ScriptedChatModel(script=lambda m: "async summary", delay=0.2)
    memory = SummaryBufferMemory(llm, max_tokens=400, token_counter=COUNTER, background=True)
    history = store.history("abg", user_id="bob")
    for i in range(12):
        human, ai = turn(i)
        await memory.aload_context(history, [human])
        await history.aadd_messages([human, ai])
        started = time.perf_counter()
        await memory.asave_context(history, [human, ai])
        assert time.perf_counter() - started < 0.15
    await memory.aflush()
    state = (await history.aget_state()).data["summary"]
    assert state["text"] == "async summary" and state["watermark"] > 0


def test_concurrent_turns_summarize_each_batch_once(store):
    llm = ScriptedChatModel(script=lambda m: "once", delay=0.3)
    memory = SummaryMemory(
        llm, trigger_tokens=300, keep_tokens=100, max_summary_tokens=20, token_counter=COUNTER
    )
    history = store.history("race", user_id="alice")
    for i in range(6):
        history.add_messages(turn(i))
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        memory.save_context(store.history("race", user_id="alice"), [])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llm.calls == 1  # the lease in the session state let one worker summarize
    state = history.get_state().data["summary"]
    assert state["text"] == "once" and "lease" not in state


async def test_concurrent_async_turns_through_with_session_memory(store):
    summarizer = ScriptedChatModel(script=lambda m: "harbour talk")
    chat = ScriptedChatModel(script=lambda m: f"reply to: {m[-1].text[:20]}")
    memory = SummaryBufferMemory(summarizer, max_tokens=500, token_counter=COUNTER)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a guide."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = with_session_memory(
        prompt | chat,
        store,
        memory=memory,
        input_messages_key="input",
        history_messages_key="history",
    )
    config = {"configurable": {"session_id": "conc", "user_id": "carol"}}
    for batch in range(4):
        await asyncio.gather(
            *[
                chain.ainvoke({"input": f"Question {batch}-{j}: " + "harbour tides " * 10}, config)
                for j in range(4)
            ]
        )
    history = store.history("conc", user_id="carol")
    assert await history.acount() == 32  # no turn lost
    for sent in chat.prompts:
        assert COUNTER(sent[1:]) <= 500  # history + input within the memory budget
    state = (await history.aget_state()).data["summary"]
    assert state["text"] == "harbour talk" and state["watermark"] > 0
    # Every summarized message was sent once.
    lines = [
        line
        for text in summarizer.prompt_texts()
        for line in text.split("New lines of conversation:\n")[1].split("\n</data>")[0].splitlines()
    ]
    assert len(lines) == len(set(lines)) == state["summarized"]


def test_an_echoing_model_cannot_grow_the_summary_or_the_summarizer_prompt(store, caplog):
    """Summarizer and chat model both echo their whole prompt (the 1.7 GB request)."""
    summarizer = ScriptedChatModel(script=lambda m: m[-1].text * 2)
    memory = SummaryBufferMemory(
        summarizer, max_tokens=600, max_summary_tokens=120, token_counter=COUNTER
    )
    history = store.history("echo", user_id="alice")
    handler = Events()
    config = {"callbacks": [handler]}
    blocks = []
    for i in range(40):
        human = HumanMessage(f"Question {i}: " + "what about the harbour? " * 5)
        context = memory.load_context(history, [human], config)
        blocks += [m for m in context if m.additional_kwargs.get("sessionmem_block")]
        echo = AIMessage("\n".join(m.text for m in [*context, human]))  # the chat model echoes
        history.add_messages([human, echo])
        memory.save_context(history, [human, echo], config)
        stored = history.get_state().data.get("summary", {}).get("text", "")
        assert COUNTER.count_message(AIMessage(stored)) <= 120

    assert summarizer.calls >= 5
    instructions = COUNTER(
        [HumanMessage(SUMMARY_PROMPT.format(summary="", new_lines="", max_words=90))]
    )
    sizes = [COUNTER(prompt) for prompt in summarizer.prompts]
    # Instructions + the bounded summary + at most one batch (max_tokens) + the unit that ends it.
    assert max(sizes) <= instructions + 120 + 2 * 600
    assert max(sizes[-3:]) <= max(sizes[:3]) * 1.5  # no growth over the run
    assert blocks and all(COUNTER([b]) <= 120 + 40 for b in blocks)  # + the note and tags
    cuts = [d["summary_cut"] for name, d in handler.events if d["phase"] == "save"]
    assert sum(cuts) == summarizer.calls  # every echo was cut, and reported
    assert "over max_summary_tokens=120" in caplog.text


def test_a_stored_summary_over_budget_is_cut_before_it_is_sent(store):
    llm = ScriptedChatModel(script=lambda m: "short")
    memory = SummaryMemory(llm, trigger_tokens=10_000, max_summary_tokens=50, token_counter=COUNTER)
    history = store.history("legacy", user_id="alice")
    history.add_messages(turn(0))
    history.update_state(
        lambda d: {"summary": {"text": "very long summary " * 500, "watermark": 1}}
    )
    handler = Events()
    context = memory.load_context(history, [HumanMessage("hi")], {"callbacks": [handler]})
    block = context[0]
    assert block.additional_kwargs["sessionmem_block"] == "summary"
    assert COUNTER([block]) <= 50 + 40 and "[...]" in block.text
    assert handler.events[0][1]["summary_cut"] == 1
