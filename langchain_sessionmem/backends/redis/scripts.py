"""The Lua scripts of the Redis backend, read from ``lua/*.lua`` once and sent by SHA.

A line ``--#include <name>`` splices in a shared fragment (the session touch, the checkpoint
prelude), so every script a reader opens is complete in two files at most.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_INCLUDE = re.compile(r"^--#include (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class LuaScript:
    """A script's name, full source (fragments spliced in) and SHA1 for EVALSHA."""

    name: str
    source: str
    sha: str


def _source(name: str, seen: tuple[str, ...] = ()) -> str:
    if name in seen:
        raise ValueError(f"Lua include cycle: {' -> '.join((*seen, name))}")
    text = resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")
    return _INCLUDE.sub(lambda m: _source(m.group(1), (*seen, name)).rstrip("\n"), text)


@functools.cache
def script(name: str) -> LuaScript:
    """The script ``lua/<name>.lua``, loaded on first use."""
    source = _source(name)
    return LuaScript(name, source, hashlib.sha1(source.encode()).hexdigest())
