"""numpy on first use: the recall core's fast paths need it, a store that never recalls must not
pay its import (about 0.15 s)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


class _LazyModule:
    """A module imported when an attribute is first read."""

    def __init__(self, name: str):
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy_numpy() -> Any:
    """A stand-in for ``numpy`` that imports it on first use, or ``None`` when it is absent."""
    return _LazyModule("numpy") if importlib.util.find_spec("numpy") is not None else None
