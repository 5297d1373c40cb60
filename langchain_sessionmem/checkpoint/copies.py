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


def fresh(value: Any) -> Any:
    """A deep copy of ``value``, a tree (no shared or cyclic parts: deepcopy's memo is moot)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
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
        return _model(value)
    return copy.deepcopy(value)


def _model(model: BaseModel) -> BaseModel:
    """``BaseModel.__deepcopy__`` with :func:`fresh` for the field values."""
    out = type(model).__new__(type(model))
    atoms = _ATOMS
    _set(
        out, "__dict__", {k: v if type(v) in atoms else fresh(v) for k, v in model.__dict__.items()}
    )
    extra = model.__pydantic_extra__
    _set(out, "__pydantic_extra__", None if extra is None else fresh(extra))
    _set(out, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    private = getattr(model, "__pydantic_private__", None)
    if private is not None:
        private = copy.deepcopy({k: v for k, v in private.items() if v is not PydanticUndefined})
    _set(out, "__pydantic_private__", private)
    return out
