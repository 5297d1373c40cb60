"""The Lua scripts of the Redis backend, read from ``lua/*.lua`` once and sent by SHA.

A line ``--#include <name>`` splices in a shared fragment (the session touch, the checkpoint
prelude), so every script a reader opens is complete in two files at most. Every file is read when
this module is imported, never on first use: a first use may be inside an event loop, where a file
read is a blocking call.
"""

from __future__ import annotations

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


def _load(name: str) -> LuaScript:
    source = _source(name)
    return LuaScript(name, source, hashlib.sha1(source.encode()).hexdigest())


SCRIPTS = {
    entry.name[: -len(".lua")]: _load(entry.name[: -len(".lua")])
    for entry in resources.files(__package__).joinpath("lua").iterdir()
    if entry.name.endswith(".lua")
}


def script(name: str) -> LuaScript:
    """The script ``lua/<name>.lua`` (every one is loaded at import)."""
    try:
        return SCRIPTS[name]
    except KeyError:
        raise ValueError(f"no Lua script {name!r}: known are {sorted(SCRIPTS)}") from None
