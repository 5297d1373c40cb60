"""checkpoint.copies.fresh: a deep copy equal to copy.deepcopy's, sharing nothing mutable."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel, PrivateAttr

from langchain_sessionmem.checkpoint.copies import fresh


class WithPrivate(BaseModel):
    items: list[dict[str, Any]]
    _seen: dict[str, int] = PrivateAttr(default_factory=dict)


@dataclass
class Box:
    inner: list[int] = field(default_factory=list)


def _mutable_parts(value: Any, path: str = "") -> dict[str, Any]:
    """id -> path of every mutable container reachable from ``value``."""
    out: dict[int, str] = {}
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, BaseModel):
            out[id(item)] = where
            stack += [(v, f"{where}.{k}") for k, v in item.__dict__.items()]
            stack += [(v, f"{where}.extra.{k}") for k, v in (item.__pydantic_extra__ or {}).items()]
        elif isinstance(item, dict):
            out[id(item)] = where
            stack += [(v, f"{where}[{k!r}]") for k, v in item.items()]
        elif isinstance(item, list):
            out[id(item)] = where
            stack += [(v, f"{where}[{i}]") for i, v in enumerate(item)]
        elif isinstance(item, tuple):
            stack += [(v, f"{where}[{i}]") for i, v in enumerate(item)]
        elif isinstance(item, Box):
            out[id(item)] = where
            stack.append((item.inner, f"{where}.inner"))
    return out


SERDE = JsonPlusSerializer()
VALUES = [
    HumanMessage("hello", id="h-1"),
    HumanMessage(
        [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]
    ),
    AIMessage(
        "calling",
        id="a-1",
        tool_calls=[{"name": "search", "args": {"q": ["x", {"deep": [1, 2]}]}, "id": "c-1"}],
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        response_metadata={"model_name": "m", "nested": {"a": [1, None, 2.5]}},
    ),
    ToolMessage("done", tool_call_id="c-1", artifact={"rows": [[1, 2], [3, 4]]}),
    HumanMessage("extra", custom={"kept": ["as", "extra"]}),
    {"tuple_key": {(1, 2): [3]}, "plain": [1, "two", b"3", None, True, 4.0]},
    OrderedDict(a=[1]),
    Box([1, 2]),
    (1, [2, {"three": 3}]),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("decoded", [False, True], ids=["live", "decoded"])
def test_fresh_is_a_deep_copy_sharing_nothing_mutable(value: Any, decoded: bool) -> None:
    if decoded:
        value = SERDE.loads_typed(SERDE.dumps_typed(value))
    copied, reference = fresh(value), copy.deepcopy(value)
    assert copied == reference == value
    assert type(copied) is type(value)
    if isinstance(value, BaseModel):
        assert copied.model_fields_set == value.model_fields_set
        assert copied.__pydantic_extra__ == value.__pydantic_extra__
    shared = set(_mutable_parts(copied)) & set(_mutable_parts(value))
    assert not shared, [_mutable_parts(copied)[i] for i in shared]


def test_private_attributes_are_copied_too() -> None:
    model = WithPrivate(items=[{"a": [1]}])
    model._seen["x"] = 1
    copied = fresh(model)
    assert copied._seen == {"x": 1} and copied._seen is not model._seen
    copied.items[0]["a"].append(2)
    assert model.items == [{"a": [1]}]


def test_editing_the_copy_leaves_the_original() -> None:
    original = SERDE.loads_typed(SERDE.dumps_typed(VALUES[2]))
    copied = fresh(original)
    copied.tool_calls[0]["args"]["q"][1]["deep"].append(3)
    copied.response_metadata["nested"]["a"].clear()
    assert original == VALUES[2]
