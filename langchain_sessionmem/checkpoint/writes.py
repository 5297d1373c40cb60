"""Pending writes: serialized once, keyed by (task, idx), sorted the way LangGraph applies them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP, SerializerProtocol

from ..errors import CorruptDataError, InvalidArgumentError
from .config import validate_name
from .values import ValueCodec, as_codec, write_place


@dataclass(frozen=True)
class WriteRow:
    task_id: str
    idx: int
    task_path: str
    channel: str
    type: str
    value: bytes

    def __post_init__(self) -> None:
        text = (self.task_id, self.task_path, self.channel)
        if not all(isinstance(v, str) for v in text) or type(self.idx) is not int:
            raise CorruptDataError(
                f"a pending write of task {self.task_id!r} is damaged: task, path and channel "
                f"must be text and idx an int, found {(*text, self.idx)!r:.120}"
            )

    @property
    def replace(self) -> bool:
        """Special channels (errors, interrupts, ...) replace; ordinary writes insert if absent."""
        return self.idx < 0


def plan_writes(
    serde: SerializerProtocol | ValueCodec,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    *,
    key: str = "",
    ns: str = "",
    checkpoint_id: str | None = None,
) -> list[WriteRow]:
    """Serialized rows of a task's writes; a sealing codec seals each at its place (thread
    ``key``, ``ns``, ``checkpoint_id``, task, idx)."""
    codec = as_codec(serde)
    validate_name(task_id, "task_id")
    task_path = validate_name(task_path or "", "task_path")
    if isinstance(writes, (str, bytes)) or not isinstance(writes, Sequence):
        raise InvalidArgumentError(f"writes must be a list of (channel, value), got {writes!r:.40}")
    rows = []
    for i, pair in enumerate(writes):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidArgumentError(
                f"write {i} must be a (channel, value) pair, got {pair!r:.40}"
            )
        channel, value = pair
        validate_name(channel, "channel name")
        idx = WRITES_IDX_MAP.get(channel, i)
        place = write_place(key, ns, str(checkpoint_id), task_id, idx)
        typ, data = codec.dump(value, f"pending write {channel!r} of task {task_id!r}", place)
        rows.append(WriteRow(task_id, idx, task_path, channel, typ, data))
    return rows


def sort_writes(rows: Iterable[WriteRow]) -> list[WriteRow]:
    """(task_path, task_id, idx): the order live execution applies a super-step's writes."""
    return sorted(rows, key=lambda w: (w.task_path, w.task_id, w.idx))
