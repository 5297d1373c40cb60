"""The ancestor walk behind ``get_delta_channel_history``, fed one page of the chain at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import PendingWrite, SerializerProtocol

from ..errors import CorruptDataError
from .config import check_skeleton
from .serde import Typed
from .spans import decode_spans, positions
from .values import (
    EMPTY,
    LOGREF,
    ValueCodec,
    as_codec,
    blob_place,
    checkpoint_place,
    log_place,
    write_place,
)
from .writes import WriteRow, sort_writes


@dataclass(frozen=True)
class Link:
    """One checkpoint of a parent chain: its id, its parent and its channel versions."""

    checkpoint_id: str
    parent_id: str | None
    versions: Mapping[str, Any]


def link_of(
    serde: SerializerProtocol | ValueCodec,
    thread_id: str,
    checkpoint_id: str,
    parent_id: str | None,
    ckpt: Typed,
    *,
    ns: str = "",
) -> Link:
    """The link of a fetched checkpoint (``thread_id`` is the stored key, ``ns`` its namespace)."""
    place = checkpoint_place(thread_id, ns, checkpoint_id)
    skeleton = as_codec(serde).load(ckpt, "checkpoint", thread_id, place)
    check_skeleton(skeleton, thread_id, checkpoint_id)
    return Link(checkpoint_id, parent_id, skeleton.get("channel_versions", {}))


class DeltaWalk:
    """The ancestor walk of ``get_delta_channel_history``, fed one page of the chain at a time.

    Same result as LangGraph's default walk (``get_tuple`` per parent): starting at the target's
    parent, each ancestor's writes count for every channel still open, and a channel closes at the
    first ancestor that stores a value for it (its ``seed``). Engines fetch pages of links, tell
    which ``(channel, version)`` pairs hold a stored value, then fetch the writes of :attr:`visited`.
    """

    def __init__(self, channels: Sequence[str], start: str | None):
        self.channels = list(dict.fromkeys(channels))
        self.remaining = set(self.channels)
        self.path: dict[str, list[str]] = {ch: [] for ch in self.channels}
        self.seeds: dict[str, str] = {}  # channel -> version of the stored value that closes it
        self.cursor = start

    @property
    def done(self) -> bool:
        return self.cursor is None or not self.remaining

    def pairs(self, links: Iterable[Link]) -> set[tuple[str, str]]:
        """(channel, version) pairs of open channels a page references: ask the engine which are stored."""
        return {
            (ch, str(link.versions[ch]))
            for link in links
            for ch in self.remaining
            if ch in link.versions
        }

    def advance(
        self,
        links: Sequence[Link],
        filled: Iterable[tuple[str, str]] | Mapping[tuple[str, str], Any],
    ) -> None:
        """Walk a page (links in chain order, starting at :attr:`cursor`); a gap ends the walk."""
        stored = filled if isinstance(filled, (set, dict)) else set(filled)
        if not links:
            self.cursor = None
            return
        for link in links:
            if self.done:
                return
            if link.checkpoint_id != self.cursor:
                break
            for ch in self.channels:
                if ch not in self.remaining:
                    continue
                self.path[ch].append(link.checkpoint_id)
                ver = link.versions.get(ch)
                if ver is not None and (ch, str(ver)) in stored:
                    self.seeds[ch] = str(ver)
                    self.remaining.discard(ch)
            self.cursor = link.parent_id
        else:
            return
        self.cursor = None

    def end(self) -> None:
        self.cursor = None

    @property
    def visited(self) -> list[str]:
        """Checkpoint ids whose writes the result needs (newest first)."""
        seen: dict[str, None] = {}
        for ch in self.channels:
            seen.update(dict.fromkeys(self.path[ch]))
        return list(seen)

    def history(
        self,
        serde: SerializerProtocol | ValueCodec,
        thread_id: str,
        writes: Mapping[str, Sequence[WriteRow]],
        seeds: Mapping[str, Any],
        *,
        key: str | None = None,
        ns: str = "",
    ) -> dict[str, Any]:
        """``{channel: {"writes": [...oldest first], "seed"?: value}}`` from fetched writes and
        seed values (``key``/``ns``: where the thread is stored, for sealed writes)."""
        codec = as_codec(serde)
        stored = thread_id if key is None else key
        out: dict[str, Any] = {}
        for ch in self.channels:
            collected: list[PendingWrite] = []
            for cid in reversed(self.path[ch]):
                for w in sort_writes(writes.get(cid, ())):
                    if w.channel == ch:
                        place = write_place(stored, ns, cid, w.task_id, w.idx)
                        value = codec.load(
                            (w.type, w.value), f"pending write {ch!r}", thread_id, place
                        )
                        collected.append((w.task_id, ch, value))
            entry: dict[str, Any] = {"writes": collected}
            if ch in seeds:
                entry["seed"] = seeds[ch]
            out[ch] = entry
        return out


def empty_history(channels: Sequence[str]) -> dict[str, Any]:
    return {ch: {"writes": []} for ch in dict.fromkeys(channels)}


def is_stored(typed: Typed | None) -> bool:
    """A channel version that holds a value (not missing, not cleared)."""
    return typed is not None and typed[0] != EMPTY


def decode_value(
    serde: SerializerProtocol | ValueCodec,
    typed: Typed,
    log: Sequence[Typed] | None,
    channel: str,
    thread_id: str,
    *,
    key: str | None = None,
    ns: str = "",
    version: str = "",
) -> Any:
    """A stored channel value; a log reference is resolved from ``log`` (the referenced items).

    ``key``/``ns``/``version`` say where it is stored (needed to open sealed values)."""
    codec = as_codec(serde)
    stored = thread_id if key is None else key
    if typed[0] == LOGREF:
        log_id, length, spans = decode_spans(typed[1])
        items = list(log or [])[:length]
        if len(items) < length:
            raise CorruptDataError(
                f"log of channel {channel!r} in thread {thread_id!r} holds {len(items)} items, "
                f"the checkpoint references {length}",
                session_id=thread_id,
            )
        return [
            codec.load(
                items[i],
                f"channel_values.{channel}[{i}]",
                thread_id,
                log_place(stored, ns, log_id, i),
            )
            for i in positions(spans)
        ]
    place = blob_place(stored, ns, channel, version)
    return codec.load(typed, f"channel_values.{channel}", thread_id, place)


def delta_channels(metadata: Mapping[str, Any]) -> list[str]:
    """The DeltaChannel names LangGraph counts in a checkpoint's metadata (replayed from ancestors)."""
    counters = metadata.get("counters_since_delta_snapshot") or {}
    return sorted(counters) if isinstance(counters, Mapping) else []
