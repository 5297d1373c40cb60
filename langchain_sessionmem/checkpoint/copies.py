"""Deep copies of decoded values, several times cheaper than ``copy.deepcopy`` for messages.

Why: reads hand out fresh objects, copied from the private snapshots the log cache holds, and a
thread of 600 messages copied 600 of them per ``get_tuple``. A snapshot is decoded from stored
bytes, so it is a tree (nothing in it is shared or cyclic) of JSON-like containers and pydantic
models: those are rebuilt directly, the way ``BaseModel.__deepcopy__`` does, without the memo
bookkeeping; any other type goes through ``copy.deepcopy`` as before.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})
_set = object.__setattr__
_MODELS: set[type] = set()
"""Pydantic model types seen with the default ``__deepcopy__`` (copied by :func:`_model`)."""


def fresh(value: Any) -> Any:
    """A deep copy of ``value``, a tree (no shared or cyclic parts: deepcopy's memo is moot)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind in _MODELS:
        return _model(value)
    if kind is dict:
        if not value:
            return {}
        if all(type(k) in _ATOMS for k in value):
            return {k: v if type(v) in _ATOMS else fresh(v) for k, v in value.items()}
        return copy.deepcopy(value)
    if kind is list:
        return [v if type(v) in _ATOMS else fresh(v) for v in value]
    if kind is tuple:
        return tuple(fresh(v) for v in value)
    if isinstance(value, BaseModel) and kind.__deepcopy__ is BaseModel.__deepcopy__:
        _MODELS.add(kind)
        return _model(value)
    return copy.deepcopy(value)


def _model(model: BaseModel) -> BaseModel:
    """``BaseModel.__deepcopy__`` with :func:`fresh` for the field values."""
    out = type(model).__new__(type(model))
    fields = model.__dict__.copy()
    for k, v in model.__dict__.items():  # a loop, not fresh() per field: most are atoms or empty
        kind = type(v)
        if kind in _ATOMS:
            continue
        if kind is dict and not v:
            fields[k] = {}
        elif kind is list and not v:
            fields[k] = []
        else:
            fields[k] = fresh(v)
    _set(out, "__dict__", fields)
    extra = model.__pydantic_extra__
    _set(out, "__pydantic_extra__", None if extra is None else fresh(extra))
    _set(out, "__pydantic_fields_set__", model.__pydantic_fields_set__.copy())
    private = getattr(model, "__pydantic_private__", None)
    if private is not None:
        private = copy.deepcopy({k: v for k, v in private.items() if v is not PydanticUndefined})
    _set(out, "__pydantic_private__", private)
    return out
