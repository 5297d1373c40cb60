"""Arguments and replies of the Redis checkpoint scripts, without I/O: what each script is sent
and how its reply becomes rows, values and writes. :mod:`.saver_steps` yields the requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import ormsgpack
from langchain_core.runnables import RunnableConfig

from ...checkpoint.assemble import BlobKey, Row, TupleAssembler
from ...checkpoint.config import matches, now, split_filter, validate_ns
from ...checkpoint.delta import Link, decode_value, link_of
from ...checkpoint.linear import LOGREF, PutPlan, decode_ref
from ...checkpoint.serde import Typed
from ...checkpoint.writes import WriteRow
from ...errors import CorruptDataError, InvalidArgumentError
from ...ids import validate_id
from ...records import ThreadInfo, to_datetime

MAX_LIMIT = 2**53
"""A larger ``limit`` is clamped: Lua numbers are doubles."""


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def reading(thread_id: str, what: str) -> Iterator[None]:
    """Stored bytes that do not parse (edited or written by something else) raise a
    :class:`CorruptDataError` naming the thread, never a raw ValueError or TypeError."""
    try:
        yield
    except CorruptDataError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
        raise CorruptDataError(
            f"the stored {what} of thread {thread_id!r} cannot be read ({type(exc).__name__}: "
            f"{exc}): it was changed outside this package. Delete the thread (delete_thread) or "
            "restore it from a backup",
            session_id=thread_id,
        ) from exc


def put_args(plan: PutPlan, ttl_ms: int) -> list[Any]:
    member = f"{plan.ns}\0{plan.checkpoint_id}"
    record = ormsgpack.packb([plan.parent_id, plan.ckpt[0], plan.ckpt[1], plan.run_id])
    args: list[Any] = [
        ttl_ms,
        repr(plan.ts),
        plan.thread_id,
        member,
        record,
        plan.metadata,
        plan.run_id or "",
        len(plan.blobs),
    ]
    for (channel, version), (typ, data) in plan.blobs.items():
        args += [f"{plan.ns}\0{channel}\0{version}", typ.encode() + b"\0" + data]
    args.append(len(plan.appends))
    for app in plan.appends.values():
        args += [app.log_id, app.start, len(app.items)]
        args += [typ.encode() + b"\0" + data for typ, data in app.items]
    return args


def writes_args(rows: list[WriteRow], ttl_ms: int, thread_id: str, ns: str, cid: str) -> list[Any]:
    args: list[Any] = [ttl_ms, repr(now()), thread_id, f"{ns}\0{cid}", len(rows)]
    for w in rows:
        args += [
            f"{w.task_id}\0{w.idx}",
            "1" if w.replace else "0",
            ormsgpack.packb([w.task_path, w.channel, w.type, w.value]),
        ]
    return args


def parse_rows(thread_id: str, reply: list[Any], shown: str = "") -> list[Row]:
    """The ROWS reply as rows of ``thread_id`` (the stored key; ``shown``: the id for errors)."""
    with reading(shown or thread_id, "checkpoints"):
        return _rows(thread_id, reply)


def _rows(thread_id: str, reply: list[Any]) -> list[Row]:
    rows: list[Row] = []
    i = 0
    while i < len(reply):
        ns, _, cid = text(reply[i]).partition("\0")
        parent, typ, data, _run = ormsgpack.unpackb(reply[i + 1])
        row = Row(thread_id, ns, cid, parent, (typ, data), reply[i + 2])
        n = int(reply[i + 3])
        i += 4
        for _ in range(n):
            field, value = text(reply[i]), reply[i + 1]
            i += 2
            if value is None:
                continue
            parts = field.split("\0")
            task_path, channel, wtyp, wdata = ormsgpack.unpackb(value)
            row.writes.append(WriteRow(parts[-2], int(parts[-1]), task_path, channel, wtyp, wdata))
        rows.append(row)
    return rows


def split_typed(value: bytes | None) -> Typed | None:
    if value is None:
        return None
    typ, sep, data = bytes(value).partition(b"\0")
    if not sep:
        raise CorruptDataError(f"stored channel value has no type tag: {bytes(value)[:32]!r}")
    return typ.decode(), data


def values_args(asm: TupleAssembler, thread_id: str, keys: list[BlobKey]) -> list[Any]:
    hints = [
        (key[2], asm.known_at.get(key, 0), len(items))
        for key, items in asm.known.items()
        if key[0] == thread_id
    ]
    args: list[Any] = [len(hints)]
    for log_id, at, length in hints:
        args += [log_id, at, length]
    return args + [f"{ns}\0{channel}\0{version}" for _t, ns, channel, version in keys]


def apply_values(
    asm: TupleAssembler, keys: list[BlobKey], reply: list[Any], shown: str = ""
) -> None:
    """Feed the VALUES script's reply (blobs, then the unknown part of each log) into the assembler."""
    with reading(shown, "channel values"):
        _values(asm, keys, reply)


def _values(asm: TupleAssembler, keys: list[BlobKey], reply: list[Any]) -> None:
    need = asm.set_blobs(
        {key: split_typed(v) for key, v in zip(keys, reply[: len(keys)], strict=True)}
    )
    by_log: dict[str, list[Typed]] = {}
    i = len(keys)
    while i < len(reply):
        log_id, start, n = text(reply[i]), int(reply[i + 1]), int(reply[i + 2])
        items = [split_typed(v) for v in reply[i + 3 : i + 3 + n - start]]
        i += 3 + n - start
        by_log[log_id] = [t for t in items if t is not None]
    ranges = asm.log_ranges(need)
    asm.set_logs(
        {key: by_log.get(key[2], [])[: end - start] for key, (start, end) in ranges.items()}
    )


def rows_args(
    ns: str | None,
    exact: str | None,
    before: str | None,
    limit: int | None,
    pushed: dict[str, Any],
    refresh_ms: int,
) -> list[Any]:
    return [
        "all" if ns is None else "ns",
        ns or "",
        exact or "",
        before or "",
        -1 if limit is None else max(limit, 0),
        json.dumps(pushed) if pushed else "",
        refresh_ms,
    ]


def merge_pages(rows: list[Row], local: dict[str, Any], limit: int | None) -> list[Row]:
    if local:
        rows = [r for r in rows if matches(json.loads(r.metadata), local)]
    rows.sort(key=lambda r: r.checkpoint_id, reverse=True)
    return rows if limit is None else rows[: max(limit, 0)]


def prune_args(
    rows: list[Row],
    keep: set[tuple[str, str]],
    blob_keys_all: list[str],
    keep_blobs: set[str],
    kept_values: dict[str, bytes | None],
    all_logs: set[str],
) -> list[Any]:
    doomed = [f"{r.ns}\0{r.checkpoint_id}" for r in rows if (r.ns, r.checkpoint_id) not in keep]
    dead_blobs = [f for f in blob_keys_all if f not in keep_blobs]
    keep_logs = set()
    for value in kept_values.values():
        typed = split_typed(value)
        if typed is not None and typed[0] == LOGREF:
            keep_logs.add(decode_ref(typed[1])[0])
    dead_logs = sorted(all_logs - keep_logs)
    return [len(doomed), *doomed, len(dead_blobs), *dead_blobs, len(dead_logs), *dead_logs]


def list_params(
    config: RunnableConfig | None,
    filter: dict[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> tuple[str | None, str | None, str | None, dict[str, Any], dict[str, Any], int | None]:
    """(ns, exact id, before id, pushed filter, local filter, limit) of a ``list`` call, checked."""
    conf = _configurable(config, "config")
    ns = conf.get("checkpoint_ns")
    if ns is not None:
        validate_ns(ns)
    exact, before_id = (
        conf.get("checkpoint_id"),
        _configurable(before, "before").get("checkpoint_id"),
    )
    for name, value in (("checkpoint_id", exact), ("before", before_id)):
        if value is not None:
            validate_id(value, name)
    if filter is not None and not isinstance(filter, Mapping):
        raise InvalidArgumentError(f"filter must be a dict or None, got {type(filter).__name__}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise InvalidArgumentError(f"limit must be an int or None, got {limit!r}")
    pushed, local = split_filter(filter)
    # Lua compares true with true only; Python's True == 1 would differ, so keep bools local.
    for key in [k for k, v in pushed.items() if isinstance(v, bool)]:
        local[key] = pushed.pop(key)
    for key in [k for k, v in pushed.items() if isinstance(v, (int, float)) and abs(v) >= 2**53]:
        local[key] = pushed.pop(key)  # beyond what a Lua double compares exactly
    limit = None if limit is None else min(max(limit, 0), MAX_LIMIT)
    return ns, exact, before_id, pushed, local, limit


def _configurable(config: Any, name: str) -> Mapping[str, Any]:
    if config is None:
        return {}
    conf = config.get("configurable") if isinstance(config, Mapping) else None
    if conf is None and isinstance(config, Mapping):
        return {}
    if not isinstance(conf, Mapping):
        raise InvalidArgumentError(
            f"{name} must be a RunnableConfig dict like {{'configurable': {{'thread_id': ...}}}}, "
            f"got {config!r:.80}"
        )
    return conf


def rebase_on_conflict(plan: PutPlan, reply: Any) -> bool:
    if isinstance(reply, list) and reply and text(reply[0]) == "conflict":
        log_id = text(reply[1])
        channel = next(ch for ch, app in plan.appends.items() if app.log_id == log_id)
        plan.rebase(channel)
        return True
    return False


def chain_links(codec: Any, key: str, ns: str, reply: list[Any], shown: str) -> list[Link]:
    """The DELTA_CHAIN reply, ``(cid, record)*`` in chain order, as links of the walk (``key``:
    the stored thread key, where sealed checkpoints open; ``shown``: the thread id for errors)."""
    links = []
    with reading(shown, "checkpoint chain"):
        for i in range(0, len(reply), 2):
            parent, typ, data, _run = ormsgpack.unpackb(reply[i + 1])
            links.append(link_of(codec, key, text(reply[i]), parent, (typ, data), ns=ns))
    return links


def delta_fetch_args(ns: str, chans: list[str], links: list[Link]) -> list[Any]:
    args: list[Any] = [ns, len(chans), *chans, len(links)]
    for link in links:
        args += [link.checkpoint_id, *(str(link.versions.get(ch, "")) for ch in chans)]
    return args


def parse_delta_fetch(
    codec: Any, where: tuple[str, str, str], chans: list[str], reply: list[Any]
) -> tuple[set[tuple[str, str]], dict[str, Any], dict[str, list[WriteRow]]]:
    """The DELTA_FETCH reply as (channel versions found, seed values, writes by checkpoint id);
    ``where`` is (thread id, stored key, ns)."""
    with reading(where[0], "channel history"):
        return _delta_fetch(codec, where, chans, reply)


def _delta_fetch(
    codec: Any, where: tuple[str, str, str], chans: list[str], reply: list[Any]
) -> tuple[set[tuple[str, str]], dict[str, Any], dict[str, list[WriteRow]]]:
    thread_id, key, ns = where
    nseeds, i = int(reply[1]), 2
    filled: set[tuple[str, str]] = set()
    seeds: dict[str, Any] = {}
    for _ in range(nseeds):
        ch, ver, typed, n = (
            chans[int(reply[i]) - 1],
            text(reply[i + 1]),
            split_typed(reply[i + 2]),
            int(reply[i + 3]),
        )
        items = [t for t in (split_typed(v) for v in reply[i + 4 : i + 4 + n]) if t is not None]
        i += 4 + n
        if typed is None:
            raise CorruptDataError(f"channel {ch!r} of thread {thread_id!r} has no stored seed")
        filled.add((ch, ver))
        seeds[ch] = decode_value(codec, typed, items, ch, thread_id, key=key, ns=ns, version=ver)
    writes: dict[str, list[WriteRow]] = {}
    for k in range(i, len(reply), 2):
        parts = text(reply[k]).split("\0")
        task_path, channel, wtyp, wdata = ormsgpack.unpackb(reply[k + 1])
        writes.setdefault(parts[-3], []).append(
            WriteRow(parts[-2], int(parts[-1]), task_path, channel, wtyp, wdata)
        )
    return filled, seeds, writes


def thread_info_of(thread_id: str, owner: str | None, res: list[Any]) -> dict[str, Any] | None:
    """``thread_info`` from HMGET created/updated, ZCARD, PTTL and MEMORY USAGE replies (None: no
    such thread)."""
    created, updated = res[0]
    if created is None:
        return None
    with reading(thread_id, "timestamps"):
        pttl = int(res[2])
        return {
            "thread_id": thread_id,
            "owner": owner,
            "created_at": float(text(created)),
            "updated_at": float(text(updated or created)),
            "expires_at": now() + pttl / 1000 if pttl > 0 else None,
            "checkpoints": int(res[1]),
            "bytes": sum(int(x or 0) for x in res[3:]),
        }


def thread_row(
    thread_id: str, owner: str | None, meta: Any, count: Any, pttl: Any, at: float
) -> ThreadInfo | None:
    """A ``list_threads`` row from HMGET created/updated, ZCARD and PTTL (None: expired)."""
    for reply in (meta, count, pttl):
        if isinstance(reply, Exception):
            raise reply
    created, updated = meta
    if created is None:
        return None
    with reading(thread_id, "timestamps"):
        expires = to_datetime(at + int(pttl) / 1000) if int(pttl) > 0 else None
        made, last = float(text(created)), float(text(updated or created))
        return ThreadInfo(
            thread_id, owner, to_datetime(made), to_datetime(last), expires, int(count)
        )
