"""The checkpointer's reads as plans: rows, channel values and log items in three statements.

``get_tuple`` and ``list`` fetch their page of checkpoints with the pending writes aggregated
beside them (one statement), then every channel value of the page (one), then the log items no
tuple of this process already holds decoded (one): three round trips whatever the page size.
The DeltaChannel walk reads pages of 256 ancestors per statement. Rows carry the stored thread
key (values are sealed at places under it); configs get the public thread id back. No I/O here:
the saver drives these plans sync or async on one pooled connection, with the owner's codec.
"""

from __future__ import annotations

import builtins  # `list` is a method name of savers: annotations after it say builtins.list
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple

from ...checkpoint.assemble import LogKey, Row, TupleAssembler
from ...checkpoint.config import matches, split_filter, target, thread_key, validate_ns
from ...checkpoint.delta import DeltaWalk, decode_value, empty_history, link_of
from ...checkpoint.linear import LOGREF, LogCache, decode_ref
from ...checkpoint.serde import Typed
from ...checkpoint.values import ValueCodec
from ...checkpoint.writes import WriteRow
from ...records import ThreadInfo
from ..base import stored_user
from . import inline, task_writes
from .checkpoint_statements import CheckpointStatements
from .cpids import dec, enc, enc_all
from .packing import unpack, unpack_ckpt
from .queries import Plan, Query, clamp, hot

Fetched = tuple[int, Row, "bytes | None"]  # thread row id, row, inline values (None: step-1 row)
CHAIN_PAGE = 256  # ancestors per statement in the DeltaChannel walk
ASSEMBLE_PAGE = 500  # checkpoints per channel-value statement in a long list()


def when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def pairs_params(pk: int, ns: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "pk": pk,
        "ns": ns,
        "channels": [p[0] for p in pairs],
        "versions": [p[1] for p in pairs],
    }


def write_row(task: str, idx: int, path: str, channel: str, typ: str, value: bytes) -> WriteRow:
    typ, data = unpack(typ, value, f"pending write {channel!r}")
    return WriteRow(task, int(idx), path, channel, typ, data)


def to_row(r: Sequence[Any]) -> Row:
    """A listing row (see ``CheckpointStatements.listing``) as an assembler :class:`Row`."""
    cid = dec(r[3])
    row = Row(r[1], r[2], cid, dec(r[4]), unpack_ckpt(r[5], r[6], cid), r[7])
    table = []
    if r[8] is not None:
        table = [write_row(*w) for w in zip(r[8], r[9], r[10], r[11], r[12], r[13], strict=True)]
    if r[15] is not None or table:
        row.writes = task_writes.merged(table, task_writes.calls(r[15], f"checkpoint {cid}"))
    return row


class CheckpointReads:
    """Read plans of :class:`PostgresCheckpointSaver` (mixed in; uses its scope)."""

    sql: CheckpointStatements
    user_id: str | None
    ttl: float | None
    refresh_on_read: bool
    _logs: LogCache
    _entries: inline.EntryCache

    # the saver's (SessionSaverBase): stored key of a thread id, and back; the TTL clock
    _key: Callable[[str], str]
    _public: Callable[[str], str]
    _clock: Callable[[], float]

    def _forget(self, key: str) -> None:
        """Nothing of thread ``key`` stays cached in this process (deleted, copied over, pruned)."""
        self._logs.drop_thread(key)
        self._entries.drop_thread(key)

    # -- scope -------------------------------------------------------------------------------
    def _owner(self) -> str:
        return stored_user(self.user_id)

    def _owned(self) -> dict[str, str]:
        """Parameters of ``OWNED``: the owner and the range of its thread keys ('|' < '}')."""
        prefix = thread_key(self.user_id, "")
        return {"owner": self._owner(), "kp": prefix, "kq": prefix[:-1] + "}"}

    def _expires_at(self, now: float) -> datetime | None:
        return None if self.ttl is None else when(now + self.ttl)

    def _refresh(self, pks: set[int], now: float) -> Plan[None]:
        """refresh_on_read: a read slides the expiry of the threads it returned."""
        if self.refresh_on_read and self.ttl is not None and pks:
            params = {"pks": sorted(pks), "now": when(now), "expires": self._expires_at(now)}
            yield hot(self.sql.refresh, params)

    # -- rows, values, logs ------------------------------------------------------------------
    def _rows(
        self,
        *,
        thread_id: str | None,
        ns: str | None,
        checkpoint_id: str | None,
        before: str | None,
        pushed: dict[str, Any],
        limit: int | None,
        now: float,
    ) -> Plan[builtins.list[Fetched]]:
        """(thread row id, row, inline values) of the matching checkpoints, newest first."""
        sql = self.sql.listing(
            thread=thread_id is not None,
            ns=ns is not None,
            exact=checkpoint_id is not None,
            before=before is not None,
            filtered=bool(pushed),
            limited=limit is not None,
        )
        params = {
            "now": when(now),
            **self._owned(),
            "tk": None if thread_id is None else self._key(thread_id),
            "ns": ns,
            "cid": enc(checkpoint_id),
            "before": enc(before),
            "filter": json.dumps(pushed, ensure_ascii=False),
            "limit": None if limit is None else max(0, clamp(limit, "limit")),
        }
        rows = yield hot(sql, params, "all")
        return [(r[0], to_row(r), r[14]) for r in rows]

    def _assemble(
        self, codec: ValueCodec, rows: builtins.list[Fetched], cache: bool
    ) -> Plan[builtins.list[CheckpointTuple]]:
        """Channel values (inline, or one statement) and missing log items (one) of ``rows``."""
        pks = {row.thread_id: pk for pk, row, _ in rows}
        asm = TupleAssembler(codec, [row for _, row, _ in rows], self._logs, public=self._public)
        blobs, wanted, entries = inline.resolve(
            [
                (row.thread_id, row.ns, row.checkpoint_id, ck.get("channel_versions", {}), vals)
                for (_, row, vals), ck in zip(rows, asm.ckpts, strict=True)
            ]
        )
        if cache and entries and entries[0] is not None:
            self._entries.set((rows[0][1].thread_id, rows[0][1].ns), entries[0])
        blobs.update(dict.fromkeys(wanted))
        if wanted:
            found = yield hot(
                self.sql.blob_values,
                {
                    "pks": [pks[k[0]] for k in wanted],
                    "nss": [k[1] for k in wanted],
                    "channels": [k[2] for k in wanted],
                    "versions": [k[3] for k in wanted],
                },
                "all",
            )
            for ord_, typ, blob in found:
                key = wanted[ord_ - 1]
                blobs[key] = unpack(typ, blob, f"channel {key[2]!r} version {key[3]}")
        ranges = asm.log_ranges(asm.set_blobs(blobs))
        logs: dict[LogKey, builtins.list[Typed]] = {key: [] for key in ranges}
        fetch = [(key, start, end) for key, (start, end) in ranges.items() if end > start]
        if fetch:
            items = yield hot(
                self.sql.log_items,
                {
                    "pks": [pks[k[0]] for k, _, _ in fetch],
                    "nss": [k[1] for k, _, _ in fetch],
                    "log_ids": [k[2] for k, _, _ in fetch],
                    "starts": [s for _, s, _ in fetch],
                    "ends": [e for _, _, e in fetch],
                },
                "all",
            )
            for ord_, typ, blob in items:
                key = fetch[ord_ - 1][0]
                logs[key].append(unpack(typ, blob, f"an item of log {key[2]}"))
        asm.set_logs(logs)
        return asm.tuples(self._logs if cache else None)

    # -- get_tuple / list --------------------------------------------------------------------
    def _get_tuple_plan(
        self, codec: ValueCodec, config: RunnableConfig
    ) -> Plan[CheckpointTuple | None]:
        t = target(config)
        now = self._clock()
        rows = yield from self._rows(
            thread_id=t.thread_id,
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
            before=None,
            pushed={},
            limit=1,
            now=now,
        )
        if not rows:
            return None
        yield from self._refresh({rows[0][0]}, now)
        return (yield from self._assemble(codec, rows, cache=True))[0]

    def _list_plan(
        self,
        codec: ValueCodec,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Plan[builtins.list[CheckpointTuple]]:
        """Newest first; ``None`` config lists the owner's threads; filters the JSONB metadata
        with ``@>`` (scalar values) and here (the rest), ``before`` and ``limit`` in SQL."""
        conf = (config or {}).get("configurable") or {}
        thread_id = target(config).thread_id if config else None
        ns = conf.get("checkpoint_ns")
        if ns is not None:
            validate_ns(ns)
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        limit = None if limit is None else clamp(limit, "limit")  # an int, else a typed error
        pushed, local = split_filter(filter)
        now = self._clock()
        rows = yield from self._rows(
            thread_id=thread_id,
            ns=ns,
            checkpoint_id=conf.get("checkpoint_id"),
            before=None if before_id is None else str(before_id),
            pushed=pushed,
            limit=None if local else limit,
            now=now,
        )
        if local:
            rows = [f for f in rows if matches(json.loads(f[1].metadata), local)]
            if limit is not None:
                rows = rows[: max(limit, 0)]
        yield from self._refresh({f[0] for f in rows}, now)
        out: builtins.list[CheckpointTuple] = []
        for i in range(0, len(rows), ASSEMBLE_PAGE):
            out += yield from self._assemble(codec, rows[i : i + ASSEMBLE_PAGE], cache=False)
        return out

    # -- DeltaChannel history ----------------------------------------------------------------
    def _walk(
        self,
        codec: ValueCodec,
        pk: int,
        key: str,
        ns: str,
        start: str | None,
        channels: Sequence[str],
    ) -> Plan[tuple[DeltaWalk, dict[tuple[str, str], inline.Entry], dict[str, Any]]]:
        """Walk the parent chain from ``start``: two statements per page of 256 ancestors.
        Also returns the inline entries met on the way, by (channel, version), and the framed
        writes of the checkpoints walked, by id."""
        walk = DeltaWalk(channels, start)
        met: dict[tuple[str, str], inline.Entry] = {}
        framed: dict[str, Any] = {}
        while not walk.done:
            chain = yield hot(
                self.sql.chain,
                {"pk": pk, "ns": ns, "cid": enc(walk.cursor), "page": CHAIN_PAGE},
                "all",
            )
            links = []
            for stored, parent, typ, ck, vals, frames in chain:
                cid, parent = dec(stored), dec(parent)
                if frames is not None:
                    framed[cid] = frames
                link = link_of(codec, key, cid, parent, unpack_ckpt(typ, ck, cid), ns=ns)
                links.append(link)
                if vals is not None:
                    entries = inline.decode(vals, link.versions, f"checkpoint {cid}")
                    met.update({(ch, ver): e for ch, (ver, e) in entries.items()})
            pairs = sorted(walk.pairs(links))
            stored = {p for p in pairs if p in met}
            if pairs:
                found = yield hot(self.sql.stored_pairs, pairs_params(pk, ns, pairs), "all")
                stored |= {(ch, ver) for ch, ver in found}
            walk.advance(links, stored)
        return walk, met, framed

    def _history_plan(
        self, codec: ValueCodec, config: RunnableConfig, channels: Sequence[str]
    ) -> Plan[dict[str, Any]]:
        """Writes and seed of each DeltaChannel along the parent chain, in a bounded number of
        statements: the target, two per 256 ancestors, the writes, the seeds (and their logs)."""
        channels = self._channels(channels)  # a list of channel names, else a typed error
        if not channels:
            return {}
        t = target(config)
        now = self._clock()
        rows = yield from self._rows(
            thread_id=t.thread_id,
            ns=t.ns,
            checkpoint_id=t.checkpoint_id,
            before=None,
            pushed={},
            limit=1,
            now=now,
        )
        if not rows:
            return empty_history(channels)
        pk, row, _vals = rows[0]
        key = row.thread_id
        yield from self._refresh({pk}, now)
        walk, met, framed = yield from self._walk(codec, pk, key, t.ns, row.parent_id, channels)
        writes: dict[str, builtins.list[WriteRow]] = {}
        if walk.visited:
            found = yield hot(
                self.sql.chain_writes,
                {"pk": pk, "ns": t.ns, "cids": enc_all(walk.visited), "channels": walk.channels},
                "all",
            )
            for cid, *write in found:
                writes.setdefault(dec(cid), []).append(write_row(*write))
            wanted = set(walk.channels)
            for cid in walk.visited:
                frames = task_writes.calls(framed.get(cid), f"checkpoint {cid}")
                if frames:
                    both = task_writes.merged(writes.get(cid, []), frames)
                    writes[cid] = [w for w in both if w.channel in wanted]
        seeds: dict[str, Any] = {}
        values: builtins.list[tuple[str, str, Typed]] = []
        for channel, version in walk.seeds.items():
            value = inline.inline_value(met.get((channel, version)), f"channel {channel!r}")
            if value is not None:
                values.append((channel, version, value))
        stored = sorted({*walk.seeds.items()} - {(ch, ver) for ch, ver, _ in values})
        if stored:
            found = yield hot(self.sql.pair_values, pairs_params(pk, t.ns, stored), "all")
            for channel, version, typ, blob in found:
                values.append((channel, version, unpack(typ, blob, f"channel {channel!r}")))
        if values:
            for channel, version, typed in values:
                log = None
                if typed[0] == LOGREF:
                    log_id, length = decode_ref(typed[1])
                    items = yield hot(
                        self.sql.log_prefix,
                        {"pk": pk, "ns": t.ns, "log_id": log_id, "n": length},
                        "all",
                    )
                    log = [unpack(ty, b, f"an item of log {log_id}") for ty, b in items]
                seeds[channel] = decode_value(
                    codec, typed, log, channel, t.thread_id, key=key, ns=t.ns, version=version
                )
        return walk.history(codec, t.thread_id, writes, seeds, key=key, ns=t.ns)

    # -- threads -----------------------------------------------------------------------------
    def _list_threads_plan(self) -> Plan[builtins.list[ThreadInfo]]:
        params = {**self._owned(), "now": when(self._clock())}
        rows = yield hot(self.sql.list_threads, params, "all")
        return [
            ThreadInfo(tid, self.user_id, created, updated, expires, int(count))
            for tid, created, updated, expires, count in rows
        ]

    def _thread_info_plan(self, thread_id: str) -> Plan[dict[str, Any] | None]:
        """Owner, timestamps (epoch seconds), checkpoint count and stored bytes of a thread."""
        params = {"tk": self._key(thread_id), "now": when(self._clock())}
        rows = yield Query(self.sql.live_thread, params, "all")
        if not rows:
            return None
        pk, created, updated, expires = rows[0]
        sizes = yield Query(self.sql.thread_bytes, {"pk": pk}, "all")
        count, total = sizes[0]
        return {
            "thread_id": thread_id,
            "owner": self.user_id,
            "created_at": created.timestamp(),
            "updated_at": updated.timestamp(),
            "expires_at": None if expires is None else expires.timestamp(),
            "checkpoints": int(count),
            "bytes": int(total),
        }
