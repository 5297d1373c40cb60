"""The in-process backend (tests, notebooks): sessions and checkpoints in dicts behind a lock."""

from __future__ import annotations

from typing import Any

from .engine import MemoryEngine

KIND = "memory"


def open_engine(
    url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]
) -> MemoryEngine:
    """``memory://``: data lives as long as the store object."""
    known = {k: options.pop(k) for k in ("clock",) if k in options}
    refresh = bool(options.pop("refresh_on_read", False))
    return MemoryEngine(ttl=ttl, refresh_on_read=refresh, **known)


def open_saver(engine: MemoryEngine, **options: Any) -> Any:
    """A saver over this engine's own checkpoint data, so every saver of one store sees the same threads."""
    from .saver import MemoryCheckpointSaver

    options.setdefault("clock", engine.clock)
    return MemoryCheckpointSaver(engine.checkpoints, **options)
