"""The checkpointer's writes and maintenance as plans, and the retry steps around ``put``.

A ``put`` is one statement in autocommit (thread upsert, log appends, channel values, the
checkpoint). Its steps rebase the channels whose log another writer grew and retry; a thread that
expired is dropped and written afresh in one transaction. Maintenance (copy, prune) runs as one
short transaction each. Values are packed (:mod:`.packing`) on the way in. No I/O here: the saver
drives these sync or async, with the owner's codec.
"""

from __future__ import annotations

import builtins  # `list` is a method name of savers: annotations after it say builtins.list
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg.errors
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata

from ..._steps import Steps
from ...checkpoint.config import Target, target
from ...checkpoint.delta import delta_channels
from ...checkpoint.linear import LOGREF, PutPlan, decode_ref, plan_put
from ...checkpoint.values import (
    ValueCodec,
    blob_place,
    checkpoint_place,
    log_place,
    write_place,
)
from ...checkpoint.writes import WriteRow, plan_writes
from ...errors import ConflictError, InvalidIdError
from . import inline, task_writes
from .checkpoint_reads import CheckpointReads, when
from .cpids import dec, enc, enc_all
from .packing import pack, pack_ckpt, unpack, unpack_ckpt
from .queries import Plan, Query, Run, hot

SaverSteps = Steps[Run, Any]


class Carry(NamedTuple):
    """What a put takes over from its parent: entries, values moving to blobs rows, and the
    unchanged channels serialized again (the parent's entries were not known)."""

    entries: inline.Entries
    moved: dict[tuple[str, str], Any]
    again: frozenset[str]


def _dedupe(rows: Sequence[WriteRow]) -> builtins.list[WriteRow]:
    """One row per idx: the last of a replacing channel, the first of an ordinary one."""
    out: dict[int, WriteRow] = {}
    for w in rows:
        if w.replace or w.idx not in out:
            out[w.idx] = w
    return list(out.values())


class CheckpointWrites(CheckpointReads):
    """Write plans and steps of :class:`PostgresCheckpointSaver` (mixed in)."""

    linear: bool

    def _thread_params(self, thread_id: str, now: float) -> dict[str, Any]:
        return {
            "tk": self._key(thread_id),
            "owner": self._owner(),
            "tid": thread_id,
            "now": when(now),
            "expires": self._expires_at(now),
        }

    # -- put ---------------------------------------------------------------------------------
    def _put_plan(
        self, plan: PutPlan, carry: Carry, versions: dict[str, Any], restart: bool
    ) -> Plan[tuple[bool, builtins.list[str]]]:
        """(thread was live, logs that moved): one statement, after dropping an expired thread."""
        now = self._clock()
        params = self._thread_params(plan.thread_id, now)
        if restart:
            yield Query(self.sql.drop_expired_one, params)
        apps = list(plan.appends.values())
        items = [
            (a.log_id, a.start + i, *pack(typed)) for a in apps for i, typed in enumerate(a.items)
        ]
        fresh, big = inline.split(plan.blobs, carry.again)
        entries = {**carry.entries, **fresh}
        blobs = list({**carry.moved, **big}.items())
        ckpt = pack_ckpt(plan.ckpt, plan.checkpoint_id)
        params.update(
            ns=plan.ns,
            app_logs=[a.log_id for a in apps],
            app_starts=[a.start for a in apps],
            log_ids=[i[0] for i in items],
            log_seqs=[i[1] for i in items],
            log_types=[i[2] for i in items],
            log_blobs=[i[3] for i in items],
            channels=[ch for (ch, _v), _ in blobs],
            versions=[v for (_ch, v), _ in blobs],
            types=[typed[0] for _, typed in blobs],
            values=[typed[1] for _, typed in blobs],
            cid=enc(plan.checkpoint_id),
            parent=enc(plan.parent_id),
            ctype=ckpt[0],
            ckpt=ckpt[1],
            metadata=plan.metadata,
            vals=inline.encode(entries, versions),
        )
        rows = yield hot(self.sql.put, params, "all")
        live, moved = rows[0]
        if live and not moved:
            self._entries.set((plan.key, plan.ns), entries)
        return bool(live), list(moved or [])

    def _put_steps(
        self,
        codec: ValueCodec,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> SaverSteps:
        t = target(config)
        key = self._key(t.thread_id)
        found = checkpoint.get("channel_versions") if isinstance(checkpoint, dict) else None
        versions: dict[str, Any] = found if isinstance(found, dict) else {}
        carry = Carry({}, {}, frozenset())
        if isinstance(new_versions, dict):
            # unchanged channels the parent's entries do not give are stored again (same version)
            entries, missing, moved = inline.carried(
                versions, new_versions, self._entries.get((key, t.ns))
            )
            carry = Carry(entries, moved, frozenset(missing))
            new_versions = {**new_versions, **{ch: versions[ch] for ch in missing}}
        plan = plan_put(
            codec,
            self._logs,
            config,
            checkpoint,
            metadata,
            new_versions,
            linear=self.linear,
            key=key,
        )
        restart = False
        for _ in range(2 * len(plan.appends) + 4):
            try:
                live, moved = yield Run(
                    self._put_plan(plan, carry, versions, restart), write=restart
                )
            except psycopg.errors.UniqueViolation:  # a concurrent append took the same position
                restart = False
                continue
            restart = not live  # expired: drop it and write the thread afresh
            if live and not moved:
                plan.commit(self._logs)
                return {
                    "configurable": {
                        "thread_id": plan.thread_id,
                        "checkpoint_ns": plan.ns,
                        "checkpoint_id": plan.checkpoint_id,
                    }
                }
            for channel, app in list(plan.appends.items()):
                if app.log_id in moved:
                    plan.rebase(channel)  # the full value into a fresh log
        raise ConflictError(
            f"put to thread {plan.thread_id!r} kept losing to concurrent writers; retry the step"
        )

    # -- put_writes --------------------------------------------------------------------------
    def _put_writes_plan(
        self,
        t: Target,
        rows: Sequence[WriteRow],
        task_id: str,
        task_path: str,
        restart: bool,
    ) -> Plan[bool]:
        now = self._clock()
        params = self._thread_params(t.thread_id, now)
        if restart:
            yield Query(self.sql.drop_expired_one, params)
        params.update(
            ns=t.ns,
            cid=enc(t.checkpoint_id),
            frame=task_writes.frame(task_id, task_path or "", rows),
        )
        found = yield hot(self.sql.put_writes, params, "all")
        return bool(found[0][0])

    def _put_writes_steps(
        self,
        codec: ValueCodec,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> SaverSteps:
        t = target(config)
        if t.checkpoint_id is None:
            raise InvalidIdError(
                "put_writes needs a config with a checkpoint_id (the checkpoint the writes "
                "belong to)"
            )
        rows = plan_writes(
            codec,
            writes,
            task_id,
            task_path,
            key=self._key(t.thread_id),
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
        )
        rows = _dedupe(rows)
        if not rows:
            return None
        if not (yield Run(self._put_writes_plan(t, rows, task_id, task_path, False))):
            yield Run(self._put_writes_plan(t, rows, task_id, task_path, True), write=True)
        return None

    # -- deletes -----------------------------------------------------------------------------
    def _delete_thread_plan(self, thread_id: str) -> Plan[None]:
        key = self._key(thread_id)
        yield hot(self.sql.delete_thread, {"tk": key})
        self._forget(key)

    def _delete_for_runs_plan(self, run_ids: Sequence[str]) -> Plan[int]:
        runs = self._run_ids(run_ids)  # a list of printable ids, else a typed error
        if not runs:
            return 0
        rows = yield Query(self.sql.delete_runs, {**self._owned(), "runs": runs}, "all")
        return int(rows[0][0])

    def _delete_user_threads_plan(self) -> Plan[int]:
        params = {**self._owned(), "now": when(self._clock())}
        rows = yield Query(self.sql.delete_owner, params, "all")
        for key, _live in rows:  # nothing of the erased owner stays decoded in this process
            self._forget(key)
        return sum(bool(live) for _key, live in rows)

    def _purge_expired_plan(self) -> Plan[int]:
        rows = yield Query(self.sql.purge_expired, {"now": when(self._clock())}, "all")
        return int(rows[0][0])

    # -- copy and prune (each one transaction) -----------------------------------------------
    def _copy_thread_plan(self, codec: ValueCodec, source: str, dest: str) -> Plan[None]:
        """Every row of ``source`` under a new thread row for ``dest`` (which is replaced)."""
        now = self._clock()
        src = self._key(source)
        found = yield Query(self.sql.live_thread, {"tk": src, "now": when(now)}, "all")
        if not found or source == dest:
            return
        params = self._thread_params(dest, now)
        yield Query(self.sql.delete_thread, params)
        if not codec.sealing:
            yield Query(self.sql.copy_thread, {**params, "src": found[0][0]})
        else:
            yield from self._copy_resealed(codec, found[0][0], src, params)
        self._forget(params["tk"])

    def _copy_resealed(
        self, codec: ValueCodec, src_pk: int, src: str, params: dict[str, Any]
    ) -> Plan[None]:
        """``copy_thread`` under encryption: values are bound to their thread key, so each is
        opened at its old place and sealed at its new one, then the rows are inserted."""
        dst, shown = params["tk"], params["tid"]
        rows = yield Query(self.sql.copy_thread_row, params, "all")
        dst_pk = rows[0][0]
        places = {
            "checkpoints": lambda k, r: checkpoint_place(k, r[1], r[0]),
            "blobs": lambda k, r: blob_place(k, r[0], r[1], r[2]),
            "writes": lambda k, r: write_place(k, r[1], r[0], r[2], r[3]),
            "logs": lambda k, r: log_place(k, r[0], r[1], r[2]),
        }
        for table, (select, insert, at) in self.sql.thread_copies.items():
            found = yield Query(select, {"pk": src_pk}, "all")
            out = []
            for row in found:
                # ids are stored as bytes (cpids.py); places and dictionaries use the text
                view = (dec(row[0]), *row[1:]) if table in ("checkpoints", "writes") else row
                if table == "checkpoints":
                    typed = unpack_ckpt(row[at], row[at + 1], view[0])
                else:
                    typed = unpack(row[at], row[at + 1], f"a {table} row of {shown!r}")
                old, new = places[table](src, view), places[table](dst, view)
                rest = row[at + 2 :]
                if table == "checkpoints":  # inline values and framed writes: their places
                    md, vals, frames = rest
                    if vals is not None:
                        versions = codec.load(typed, table, shown, old).get("channel_versions", {})
                        vals = inline.reseal(codec, vals, versions, (src, dst, row[1]), shown)
                    if frames is not None:
                        frames = task_writes.reseal(
                            codec, frames, (src, dst, row[1], view[0]), shown
                        )
                    rest = (md, vals, frames)
                typed = codec.reseal(typed, old, new, table, shown)
                typed = pack_ckpt(typed, view[0]) if table == "checkpoints" else pack(typed)
                out.append((*row[:at], *typed, *rest))
            if out:
                columns = {f"c{i}": list(c) for i, c in enumerate(zip(*out, strict=True))}
                yield Query(insert, {"pk": dst_pk, **columns})

    def _prune_plan(self, codec: ValueCodec, thread_id: str) -> Plan[None]:
        """keep_latest: the newest checkpoint per namespace and the ancestors its DeltaChannels
        replay stay with their writes; channel values and logs nothing kept refers to go."""
        key = self._key(thread_id)
        found = yield Query(self.sql.live_thread, {"tk": key, "now": when(self._clock())}, "all")
        if not found:
            return
        pk = found[0][0]
        latest = yield Query(self.sql.latest_per_ns, {"pk": pk}, "all")
        latest = [(ns, dec(cid), md) for ns, cid, md in latest]
        keep = {(ns, cid) for ns, cid, _md in latest}
        for ns, cid, md in latest:
            if chans := delta_channels(json.loads(md)):
                walk, _met, _framed = yield from self._walk(codec, pk, key, ns, cid, chans)
                keep |= {(ns, c) for c in walk.visited}
        kept = sorted(keep)
        skeletons = yield Query(
            self.sql.prune_checkpoints,
            {"pk": pk, "keep_ns": [k[0] for k in kept], "keep_ids": enc_all(k[1] for k in kept)},
            "all",
        )
        blobs: set[tuple[str, str, str]] = set()
        logs: set[tuple[str, str]] = set()
        for ns, stored, typ, ckpt, vals in skeletons:
            cid = dec(stored)
            typed = unpack_ckpt(typ, ckpt, cid)
            skeleton = codec.load(typed, "checkpoint", thread_id, checkpoint_place(key, ns, cid))
            versions = skeleton.get("channel_versions", {})
            blobs |= {(ns, ch, str(v)) for ch, v in versions.items()}
            if vals is not None:
                logs |= {(ns, log_id) for log_id in inline.log_ids(vals, versions, cid)}
        triples = sorted(blobs)
        refs = yield Query(
            self.sql.prune_blobs,
            {
                "pk": pk,
                "nss": [b[0] for b in triples],
                "channels": [b[1] for b in triples],
                "versions": [b[2] for b in triples],
                "logref": LOGREF,
            },
            "all",
        )
        logs |= {(ns, decode_ref(bytes(blob))[0]) for ns, blob in refs}
        yield Query(
            self.sql.prune_logs,
            {
                "pk": pk,
                "nss": [lg[0] for lg in sorted(logs)],
                "log_ids": [lg[1] for lg in sorted(logs)],
            },
        )
        self._forget(key)
