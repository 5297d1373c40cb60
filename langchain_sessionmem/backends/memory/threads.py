"""The memory saver's records of a thread (checkpoints, blobs, writes, logs) and its retention.

Values are held serialized, as the other engines store them, so a graph never shares live objects
with its checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...checkpoint.config import check_skeleton
from ...checkpoint.delta import DeltaWalk, Link, delta_channels, is_stored
from ...checkpoint.linear import LOGREF, decode_ref
from ...checkpoint.serde import Typed
from ...checkpoint.values import ValueCodec, blob_place, checkpoint_place, log_place, write_place
from ...checkpoint.writes import WriteRow


@dataclass
class StoredCheckpoint:
    parent_id: str | None
    ckpt: Typed
    metadata: str
    meta: dict[str, Any]  # the metadata decoded, for list() filters
    run_id: str | None
    versions: dict[str, Any] | None = None  # channel_versions, kept decoded for ancestor walks


@dataclass
class ThreadRecord:
    owner: str | None
    created_at: float
    updated_at: float
    expires_at: float | None
    ckpts: dict[str, dict[str, StoredCheckpoint]] = field(default_factory=dict)  # ns -> id -> ckpt
    blobs: dict[tuple[str, str, str], Typed] = field(default_factory=dict)  # (ns, channel, version)
    writes: dict[tuple[str, str], dict[tuple[str, int], WriteRow]] = field(default_factory=dict)
    logs: dict[tuple[str, str], list[Typed]] = field(default_factory=dict)  # (ns, log id) -> items

    def copy(self) -> ThreadRecord:
        return ThreadRecord(
            self.owner,
            self.created_at,
            self.updated_at,
            self.expires_at,
            {ns: dict(c) for ns, c in self.ckpts.items()},
            dict(self.blobs),
            {k: dict(w) for k, w in self.writes.items()},
            {k: list(v) for k, v in self.logs.items()},
        )

    def resealed(self, codec: ValueCodec, src: str, dst: str, shown: str) -> ThreadRecord:
        """A copy whose sealed values are re-bound from thread key ``src`` to ``dst``."""
        clone = self.copy()

        def move(typed: Typed, old: tuple[str, ...], new: tuple[str, ...]) -> Typed:
            return codec.reseal(typed, old, new, "copied value", shown)

        for ns, ckpts in clone.ckpts.items():
            for cid, c in ckpts.items():
                ckpt = move(c.ckpt, checkpoint_place(src, ns, cid), checkpoint_place(dst, ns, cid))
                ckpts[cid] = StoredCheckpoint(
                    c.parent_id, ckpt, c.metadata, c.meta, c.run_id, c.versions
                )
        clone.blobs = {
            (ns, ch, v): move(t, blob_place(src, ns, ch, v), blob_place(dst, ns, ch, v))
            for (ns, ch, v), t in clone.blobs.items()
        }
        for (ns, cid), rows in clone.writes.items():
            for slot, w in rows.items():
                old, new = (write_place(k, ns, cid, w.task_id, w.idx) for k in (src, dst))
                typ, value = move((w.type, w.value), old, new)
                rows[slot] = WriteRow(w.task_id, w.idx, w.task_path, w.channel, typ, value)
        clone.logs = {
            (ns, log_id): [
                move(t, log_place(src, ns, log_id, i), log_place(dst, ns, log_id, i))
                for i, t in enumerate(items)
            ]
            for (ns, log_id), items in clone.logs.items()
        }
        return clone

    def nbytes(self) -> int:
        total = sum(
            len(c.ckpt[1]) + len(c.metadata) for cs in self.ckpts.values() for c in cs.values()
        )
        total += sum(len(b[1]) for b in self.blobs.values())
        total += sum(len(w.value) for ws in self.writes.values() for w in ws.values())
        return total + sum(len(i[1]) for items in self.logs.values() for i in items)

    def expired(self, at: float) -> bool:
        return self.expires_at is not None and self.expires_at <= at


def walk(
    codec: ValueCodec,
    key: str,
    th: ThreadRecord,
    ns: str,
    start: str | None,
    channels: Sequence[str],
) -> DeltaWalk:
    """Walk the parent chain from ``start``, one checkpoint at a time (it is all in memory)."""
    chain = DeltaWalk(channels, start)
    ckpts = th.ckpts.get(ns, {})
    while not chain.done:
        c = ckpts.get(str(chain.cursor))
        if c is None:
            chain.end()
            break
        if c.versions is None:
            place = checkpoint_place(key, ns, str(chain.cursor))
            skeleton = check_skeleton(
                codec.load(c.ckpt, "checkpoint", key, place), key, chain.cursor
            )
            c.versions = dict(skeleton.get("channel_versions", {}))
        link = Link(str(chain.cursor), c.parent_id, c.versions)
        chain.advance([link], {p for p in chain.pairs([link]) if is_stored(th.blobs.get((ns, *p)))})
    return chain


def keep_latest(codec: ValueCodec, key: str, th: ThreadRecord) -> None:
    """Drop everything the newest checkpoint of each namespace does not need."""
    keep_blobs: set[tuple[str, str, str]] = set()
    for ns, ckpts in th.ckpts.items():
        if not ckpts:
            continue
        latest = max(ckpts)
        # DeltaChannels of the latest checkpoint replay ancestor writes back to their last
        # stored value: keep that part of the chain (and its writes).
        chans = delta_channels(ckpts[latest].meta)
        keep = {latest, *walk(codec, key, th, ns, latest, chans).visited}
        for cid in [c for c in ckpts if c not in keep]:
            del ckpts[cid]
            th.writes.pop((ns, cid), None)
        for cid in keep:
            skeleton = codec.load(
                ckpts[cid].ckpt, "checkpoint", key, checkpoint_place(key, ns, cid)
            )
            keep_blobs |= {
                (ns, ch, str(v)) for ch, v in skeleton.get("channel_versions", {}).items()
            }
    th.blobs = {k: v for k, v in th.blobs.items() if k in keep_blobs}
    keep_logs = {(k[0], decode_ref(v[1])[0]) for k, v in th.blobs.items() if v[0] == LOGREF}
    th.logs = {k: v for k, v in th.logs.items() if k in keep_logs}
