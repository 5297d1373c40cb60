"""Window strategies: property tests of the trimming invariants, and bounded reads on real stores."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel, ensure_tiktoken_cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.errors import BudgetExceededError
from langchain_sessionmem.memory import SummaryMemory, TokenWindowMemory, WindowMemory, group_units
from langchain_sessionmem.tokens import tiktoken_counter

ensure_tiktoken_cache()
COUNTER = tiktoken_counter(encoding="cl100k_base")
WORDS = ["alpha", "beta", "gamma", "delta", "tool", "result", "file", "sum", "Lisbon", "42"]


@st.composite
def conversations(draw: st.DrawFn) -> list[BaseMessage]:
    """Random chats: optional system message, human turns, AI replies, and tool-call rounds."""
    text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=30).map(" ".join)
    messages: list[BaseMessage] = []
    if draw(st.booleans()):
        messages.append(SystemMessage(draw(text) or "system", id="sys"))
    n = 0
    for turn in range(draw(st.integers(0, 12))):
        messages.append(HumanMessage(draw(text) or "hi", id=f"h{turn}"))
        for r in range(draw(st.integers(0, 3))):  # tool rounds
            calls = [
                {"name": f"tool{c}", "args": {"q": draw(text)}, "id": f"c{turn}_{r}_{c}"}
                for c in range(draw(st.integers(1, 3)))
            ]
            messages.append(AIMessage(draw(text), tool_calls=calls, id=f"a{turn}_{r}"))
            for call in draw(st.permutations(calls)):
                n += 1
                messages.append(
                    ToolMessage(draw(text), tool_call_id=call["id"], name=call["name"], id=f"t{n}")
                )
        messages.append(AIMessage(draw(text) or "ok", id=f"a{turn}"))
    return messages


def check_invariants(source: list[BaseMessage], out: list[BaseMessage]) -> None:
    """System kept; no orphan ToolMessage; no tool call without its results; a contiguous suffix."""
    system = source[:1] if source and isinstance(source[0], SystemMessage) else []
    assert out[: len(system)] == system
    body = out[len(system) :]
    answered: set[str] = set()
    open_calls: set[str] = set()
    for message in body:
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in open_calls, f"orphan ToolMessage {message.id}"
            open_calls.discard(message.tool_call_id)
            answered.add(message.tool_call_id)
        else:
            assert not open_calls, f"tool call(s) {open_calls} split from their results"
            if isinstance(message, AIMessage):
                open_calls = {c["id"] for c in message.tool_calls}
    assert not open_calls
    if body:
        assert source[len(source) - len(body) :] == body  # the newest stretch, no gaps


def next_older_unit_cost(source: list[BaseMessage], out: list[BaseMessage]) -> int | None:
    """Tokens of the unit just before the window (None when the window reaches the start)."""
    system = 1 if source and isinstance(source[0], SystemMessage) else 0
    body = source[system:]
    kept = len(out) - system
    units = [u for u in group_units(body) if u.end <= len(body) - kept]
    if not units:
        return None
    last = units[-1]
    return sum(COUNTER.counts(body[last.start : last.end]))


@settings(max_examples=150, deadline=None)
@given(conversations(), st.integers(20, 600))
def test_token_window_invariants(source, budget):
    memory = TokenWindowMemory(budget, token_counter=COUNTER)
    if source and isinstance(source[0], SystemMessage) and COUNTER(source[:1]) > budget:
        with pytest.raises(BudgetExceededError):
            memory.invoke(source)
        return
    out = memory.invoke(source)
    assert COUNTER(out) <= budget
    check_invariants(source, out)
    # Maximal: the next older unit would not have fitted.
    older = next_older_unit_cost(source, out)
    if older is not None:
        assert COUNTER(out) + older > budget


@settings(max_examples=150, deadline=None)
@given(conversations(), st.integers(0, 12))
def test_message_window_invariants(source, k):
    out = WindowMemory(k, token_counter=COUNTER).invoke(source)
    system = 1 if source and isinstance(source[0], SystemMessage) else 0
    assert len(out) - system <= k
    check_invariants(source, out)


def test_a_window_never_starts_on_the_results_of_a_cut_tool_call():
    calls = [{"name": "ls", "args": {}, "id": f"c{i}"} for i in range(3)]
    source = [
        HumanMessage("list files", id="h"),
        AIMessage("", tool_calls=calls, id="a"),
        *[ToolMessage("x" * 40, tool_call_id=f"c{i}", id=f"t{i}") for i in range(3)],
        AIMessage("three files", id="done"),
    ]
    # trim_messages with max 3 messages would start on a ToolMessage; the window drops the unit.
    assert [m.id for m in WindowMemory(3).invoke(source)] == ["done"]
    assert [m.id for m in WindowMemory(5).invoke(source)] == ["a", "t0", "t1", "t2", "done"]


class ReadLog:
    """A SessionHistory wrapper recording how many messages each read returned."""

    def __init__(self, history):
        self._h = history
        self.read = 0

    def __getattr__(self, name):
        attr = getattr(self._h, name)
        if name in {"tail_entries", "range_entries", "atail_entries", "arange_entries"}:
            if name.startswith("a"):

                async def wrapped(*a, **kw):
                    out = await attr(*a, **kw)
                    self.read += len(out)
                    return out
            else:

                def wrapped(*a, **kw):
                    out = attr(*a, **kw)
                    self.read += len(out)
                    return out

            return wrapped
        return attr


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=conversations(), budget=st.integers(30, 500))
def test_token_window_over_a_sqlite_store_pages_and_keeps_the_invariants(
    tmp_path_factory, source, budget
):
    path = tmp_path_factory.mktemp("w") / "s.db"
    with SessionStore.from_url(f"sqlite:///{path}", allow_anonymous=True) as store:
        history = store.history("s", user_id="u")
        history.add_messages(source)
        memory = TokenWindowMemory(budget, token_counter=COUNTER, page_size=3)
        if source and isinstance(source[0], SystemMessage) and COUNTER(source[:1]) > budget:
            return
        out = memory.load_context(history, [])
        assert COUNTER(out) <= budget
        check_invariants(source, out)
        assert out == memory.invoke(source)  # same answer from the store and from a list


def test_token_window_reads_about_what_fits_not_the_session(store):
    history = store.history("long", user_id="alice")
    source = [SystemMessage("You are helpful.")]
    for i in range(500):
        source += [HumanMessage(f"question {i} " * 20), AIMessage(f"answer {i} " * 20)]
    history.add_messages(source)
    logged = ReadLog(history)
    memory = TokenWindowMemory(1000, token_counter=COUNTER)
    out = memory.load_context(logged, [HumanMessage("next question")])
    assert out[0].text == "You are helpful."
    assert COUNTER([*out, HumanMessage("next question")]) <= 1000
    assert len(out) > 10
    assert (
        logged.read <= 2 * len(out) + 1 + 64
    )  # pages double: at most twice what fits, plus the system read


async def test_async_window_over_stores(store):
    history = store.history("a", user_id="bob")
    await history.aadd_messages([HumanMessage(f"m{i}") for i in range(30)])
    out = await WindowMemory(4).aload_context(history, [])
    assert [m.text for m in out] == ["m26", "m27", "m28", "m29"]
    out = await TokenWindowMemory(40, token_counter=COUNTER, page_size=2).aload_context(
        history, [HumanMessage("q")]
    )
    assert COUNTER([*out, HumanMessage("q")]) <= 40 and out[-1].text == "m29"


def test_stateless_windows_read_no_session_state(store):
    """A window needs messages only: one tail read (plus the system-message probe), no state read."""
    history = store.history("calls", user_id="alice")
    history.add_messages([HumanMessage(f"m{i}") for i in range(12)])
    calls: list[str] = []
    engine = store.engine

    class Counting:
        def __getattr__(self, name):
            attr = getattr(engine, name)
            if not callable(attr):
                return attr

            def counted(*args, **kwargs):
                calls.append(name)
                return attr(*args, **kwargs)

            return counted

    store.engine = Counting()
    history = store.history("calls", user_id="alice")  # a history reads through store.engine
    try:
        WindowMemory(4).load_context(history, [])
        assert "get_state" not in calls and calls.count("tail") == 1
        calls.clear()
        SummaryMemory(ScriptedChatModel(), trigger_tokens=10_000).load_context(history, [])
        assert calls.count("get_state") == 1  # stateful strategies still read it once
    finally:
        store.engine = engine
