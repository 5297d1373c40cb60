"""Window units without a store: a tool call and its results are kept or dropped together, orphans
never enter a window, and a window never exceeds its budgets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langchain_sessionmem.memory import group_units, select_window


def call(i: int, n: int = 1) -> list:
    ids = [f"c{i}-{k}" for k in range(n)]
    ai = AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": c} for c in ids])
    return [ai, *[ToolMessage(f"r{c}", tool_call_id=c) for c in ids]]


def test_a_tool_call_and_its_results_form_one_unit():
    messages = [HumanMessage("q"), *call(1, 2), AIMessage("a")]
    units = group_units(messages)
    assert [(u.start, u.end, u.keep) for u in units] == [(0, 1, True), (1, 4, True), (4, 5, True)]


def test_orphans_and_unanswered_calls_mid_history_are_not_kept():
    orphan = ToolMessage("late", tool_call_id="gone")
    unanswered = AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "x"}])
    messages = [orphan, HumanMessage("q"), unanswered, HumanMessage("again")]
    keep = [u.keep for u in group_units(messages)]
    assert keep == [False, True, False, True]
    assert group_units([HumanMessage("q"), unanswered])[-1].keep  # still running: at the end


conversations = st.lists(
    st.one_of(
        st.builds(lambda i: [HumanMessage(f"h{i}")], st.integers(0, 9)),
        st.builds(lambda i: [AIMessage(f"a{i}")], st.integers(0, 9)),
        st.builds(call, st.integers(0, 9), st.integers(1, 3)),
        st.just([ToolMessage("orphan", tool_call_id="none")]),
    ),
    max_size=12,
).map(lambda parts: [m for part in parts for m in part])


@settings(max_examples=200, deadline=None)
@given(conversations, st.integers(0, 30), st.integers(0, 12))
def test_a_window_keeps_whole_units_within_both_budgets(messages, budget, max_messages):
    costs = [1 + len(m.text) % 5 for m in messages]
    window = select_window(messages, costs, budget=budget, max_messages=max_messages)
    chosen = {id(m) for m in window}
    cost_of = {id(m): c for m, c in zip(messages, costs, strict=True)}
    assert sum(cost_of[id(m)] for m in window) <= budget
    assert len(window) <= max_messages
    for unit in group_units(messages):
        members = {id(m) for m in messages[unit.start : unit.end]}
        assert members <= chosen or not members & chosen  # never a part of a unit
        if not unit.keep:
            assert not members & chosen
    assert [m for m in messages if id(m) in chosen] == window  # conversation order
