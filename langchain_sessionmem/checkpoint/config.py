"""Where a LangGraph config points, channel versions, and checkpoint metadata as filterable JSON."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointMetadata, get_checkpoint_id, get_checkpoint_metadata

from ..errors import CorruptDataError, InvalidIdError, SerializationError
from ..ids import validate_id


@dataclass(frozen=True)
class Target:
    """Where a config points: thread, namespace and (optionally) one checkpoint."""

    thread_id: str
    ns: str
    checkpoint_id: str | None


def validate_ns(ns: Any) -> str:
    if not isinstance(ns, str):
        raise InvalidIdError(f"checkpoint_ns must be a str, got {type(ns).__name__}")
    if "\x00" in ns or len(ns) > 4096:
        raise InvalidIdError(
            "checkpoint_ns contains a NUL character or is longer than 4096 characters"
        )
    return ns


def target(config: RunnableConfig) -> Target:
    """Validated (thread_id, checkpoint_ns, checkpoint_id) of a config, before they become keys."""
    conf = config.get("configurable") or {}
    thread_id = validate_id(conf.get("thread_id"), "thread_id")
    ns = validate_ns(conf.get("checkpoint_ns", "") or "")
    cid = get_checkpoint_id(config) if "configurable" in config else None
    if cid is not None:
        validate_id(cid, "checkpoint_id")
    return Target(thread_id, ns, cid)


_ESCAPES = str.maketrans({"%": "%25", "|": "%7C", "{": "%7B", "}": "%7D"})


def thread_key(owner: str | None, thread_id: str) -> str:
    """The stored identity of a thread: ``(owner, thread_id)`` as one reversible string.

    Bob's ``t-1`` and alice's ``t-1`` are two threads; ``owner=None`` is the anonymous namespace
    (real user ids are never empty). Escaping keeps it injective and free of ``{``/``}``, so it
    can serve as a Redis hash tag, and no other pair of ids maps to the same key.
    """
    return (
        ("" if owner is None else owner.translate(_ESCAPES)) + "|" + thread_id.translate(_ESCAPES)
    )


def split_thread_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`thread_key`: ``(owner, thread_id)``."""
    from urllib.parse import unquote

    owner, _, thread_id = key.partition("|")
    return (unquote(owner) if owner else None), unquote(thread_id)


def make_config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def next_version(current: str | int | float | None) -> str:
    """Short sortable string versions with a random tail, so forked branches never share a blob key."""
    if current is None:
        current_v = 0
    elif isinstance(current, (int, float)):
        current_v = int(current)
    else:
        current_v = int(str(current).split(".")[0])
    return f"{current_v + 1:012}.{random.randrange(16**6):06x}"


def encode_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> tuple[str, str | None]:
    """Metadata as JSON text (so engines can filter on any key) and its run_id."""
    md: dict[str, Any] = dict(get_checkpoint_metadata(config, metadata))
    md.pop("writes", None)  # pre-1.0 LangGraph metadata carried the step's writes
    try:
        text = json.dumps(md, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in md.items() if not _jsonable(v)), "?")
        raise SerializationError(
            f"cannot store metadata.{bad}: {exc}. Checkpoint metadata must be JSON (str, numbers, bools, lists, dicts)"
        ) from exc
    run_id = md.get("run_id")
    return text, (str(run_id) if run_id is not None else None)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def decode_metadata(text: str | bytes, thread_id: str) -> CheckpointMetadata:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptDataError(
            f"checkpoint metadata of thread {thread_id!r} is not JSON: {exc}", session_id=thread_id
        ) from exc


SCALARS = (str, int, float, bool)


def split_filter(filter: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pushed, local): scalar equality filters an engine can evaluate, and the rest."""
    pushed: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for key, value in (filter or {}).items():
        if (
            isinstance(value, SCALARS)
            and isinstance(key, str)
            and '"' not in key
            and "\\" not in key
        ):
            pushed[key] = value
        else:
            local[key] = value
    return pushed, local


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    return all(metadata.get(k) == v for k, v in (filter or {}).items())


def now() -> float:
    return time.time()
