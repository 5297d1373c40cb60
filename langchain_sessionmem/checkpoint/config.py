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

from ..errors import CorruptDataError, InvalidArgumentError, InvalidIdError, SerializationError
from ..ids import validate_id

BIG = 2**62  # limits beyond this are clamped (SQLite integers stop at 2**63)
_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Target:
    """Where a config points: thread, namespace and (optionally) one checkpoint."""

    thread_id: str
    ns: str
    checkpoint_id: str | None


def validate_name(value: Any, kind: str, *, limit: int = 4096) -> str:
    """A name that becomes part of a stored key (namespace, channel, version, task id): a str of
    at most ``limit`` characters, valid UTF-8, without NUL."""
    if not isinstance(value, str):
        raise InvalidIdError(f"{kind} must be a str, got {type(value).__name__}")
    if "\x00" in value or len(value) > limit:
        raise InvalidIdError(
            f"{kind} contains a NUL character or is longer than {limit} characters"
        )
    if not _utf8(value):
        raise InvalidIdError(f"{kind} is not valid UTF-8 text (it holds a lone surrogate)")
    return value


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_ns(ns: Any) -> str:
    return validate_name(ns, "checkpoint_ns")


def check_limit(limit: Any) -> int | None:
    """``list(limit=...)``: None or an int; a negative one lists nothing, a huge one everything."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgumentError(f"limit must be None or an int, got {limit!r:.40}")
    return max(0, min(BIG, limit))


def configurable(config: Any, what: str = "config") -> Mapping[str, Any]:
    """The ``configurable`` mapping of a RunnableConfig (a mapping itself, or nothing)."""
    if not isinstance(config, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a RunnableConfig dict, got {type(config).__name__}"
        )
    conf = config.get("configurable") or {}
    if not isinstance(conf, Mapping):
        raise InvalidArgumentError(
            f"{what}['configurable'] must be a dict, got {type(conf).__name__}"
        )
    return conf


def target(config: RunnableConfig) -> Target:
    """Validated (thread_id, checkpoint_ns, checkpoint_id) of a config, before they become keys."""
    conf = configurable(config)
    thread_id = validate_id(conf.get("thread_id"), "thread_id")
    ns = validate_ns(conf.get("checkpoint_ns", "") or "")
    cid = get_checkpoint_id(config) if "configurable" in config else None
    if cid is not None:
        validate_id(cid, "checkpoint_id")
    return Target(thread_id, ns, cid)


@dataclass(frozen=True)
class ListQuery:
    """The validated arguments of ``list()``: thread (None: all the owner's), namespace (None:
    all), exact and ``before`` checkpoint ids, filters an engine can push and the rest, limit."""

    thread_id: str | None
    ns: str | None
    checkpoint_id: str | None
    before: str | None
    pushed: dict[str, Any]
    local: dict[str, Any]
    limit: int | None


def list_query(
    config: RunnableConfig | None,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> ListQuery:
    conf = configurable(config) if config is not None else {}
    ns = conf.get("checkpoint_ns")
    exact = conf.get("checkpoint_id")
    before_id = configurable(before, "before").get("checkpoint_id") if before else None
    pushed, local = split_filter(filter)
    return ListQuery(
        validate_id(conf.get("thread_id"), "thread_id") if config else None,
        None if ns is None else validate_ns(ns),
        None if exact is None else validate_id(exact, "checkpoint_id"),
        None if before_id is None else validate_id(before_id, "checkpoint_id"),
        pushed,
        local,
        check_limit(limit),
    )


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
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"metadata must be a dict, got {type(metadata).__name__}")
    md: dict[str, Any] = dict(get_checkpoint_metadata(config, metadata))
    md.pop("writes", None)  # pre-1.0 LangGraph metadata carried the step's writes
    try:
        text = json.dumps(md, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        bad = next((k for k, v in md.items() if not _jsonable(v)), "?")
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise SerializationError(
            f"cannot store metadata.{bad}: {reason}. Checkpoint metadata must be JSON (str, "
            "numbers, bools, lists, dicts) of reasonable depth"
        ) from exc
    if not _utf8(text):
        raise SerializationError(
            "cannot store the checkpoint metadata: it holds a lone surrogate (not valid UTF-8 text)"
        )
    run_id = md.get("run_id")
    return text, (str(run_id) if run_id is not None else None)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def decode_metadata(text: str | bytes, thread_id: str) -> CheckpointMetadata:
    try:
        found = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CorruptDataError(
            f"checkpoint metadata of thread {thread_id!r} is not JSON: {exc}", session_id=thread_id
        ) from exc
    if not isinstance(found, dict):
        raise CorruptDataError(
            f"checkpoint metadata of thread {thread_id!r} is not a JSON object: {text!r:.60}",
            session_id=thread_id,
        )
    return found  # type: ignore[return-value]


VERSIONS = (str, int, float)
"""What a channel version may be (LangGraph's ``ChannelVersions``)."""


def validate_versions(skeleton: Mapping[str, Any]) -> None:
    """A checkpoint's ``channel_versions`` and ``versions_seen`` before they are stored: names that
    can become keys and versions LangGraph compares (a str, an int or a float)."""
    _check_versions(skeleton.get("channel_versions", {}), "channel_versions")
    seen = skeleton.get("versions_seen", {})
    if not isinstance(seen, Mapping):
        raise InvalidArgumentError(f"checkpoint versions_seen must be a dict, got {seen!r:.40}")
    for node, versions in seen.items():
        validate_name(node, "a node name in versions_seen")
        _check_versions(versions, f"versions_seen[{node!r}]")


def _check_versions(versions: Any, where: str) -> None:
    if not isinstance(versions, Mapping):
        raise InvalidArgumentError(f"checkpoint {where} must be a dict of versions")
    for channel, version in versions.items():
        validate_name(channel, f"a channel name in {where}")
        if type(version) not in VERSIONS:
            raise InvalidArgumentError(
                f"{where}[{channel!r}] must be a str, int or float version, got "
                f"{type(version).__name__}"
            )


def check_skeleton(value: Any, thread_id: str, checkpoint_id: Any) -> dict[str, Any]:
    """A decoded checkpoint (without its values): a dict whose channel_versions maps names to
    versions."""
    versions = value.get("channel_versions", {}) if isinstance(value, dict) else None
    if (
        not isinstance(versions, dict)
        or not isinstance(checkpoint_id, str)
        or not all(type(k) is str and type(v) in VERSIONS for k, v in versions.items())
    ):
        raise CorruptDataError(
            f"checkpoint {checkpoint_id!r} of thread {thread_id!r} is damaged: expected a "
            f"checkpoint record with channel versions, found {type(value).__name__}",
            session_id=thread_id,
        )
    return value


SCALARS = (str, int, float, bool)


def split_filter(filter: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pushed, local): scalar equality filters an engine can evaluate, and the rest."""
    if filter is not None and not isinstance(filter, Mapping):
        raise InvalidArgumentError(f"filter must be a dict, got {type(filter).__name__}")
    pushed: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for key, value in (filter or {}).items():
        if _pushable(key, value):
            pushed[key] = value
        else:
            local[key] = value
    return pushed, local


def _pushable(key: Any, value: Any) -> bool:
    """A filter an engine can bind: a plain key and a scalar its driver can take as is."""
    if not isinstance(key, str) or not key or any(c in key for c in '"\\\x00') or not _utf8(key):
        return False
    if isinstance(value, (bool, float)):
        return True
    if isinstance(value, int):
        return -_INT64 <= value <= _INT64
    return isinstance(value, str) and _utf8(value)


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    try:
        return all(metadata.get(k) == v for k, v in (filter or {}).items())
    except RecursionError:  # a filter value nested deeper than any stored metadata
        return False


def now() -> float:
    return time.time()
