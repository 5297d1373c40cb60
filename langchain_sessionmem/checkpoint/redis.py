"""Redis checkpointer on plain Redis / Valkey (no modules), Redis Cluster safe.

Every key of a thread carries the same hash tag, so each ``put`` / ``put_writes`` is one Lua
script on one slot: atomic, and one round trip. Listing walks a per-thread lexicographic sorted
set of ``ns\\0checkpoint_id`` (newest first, ``before`` as a range bound); metadata filters run in
the script with ``cjson``. No KEYS, no SCAN, no MODULE commands. With a TTL every key of the
thread gets the same ``PEXPIRE`` on each write (sliding), so a thread expires as a whole.

Keys (``P`` = namespace, ``{T}`` = the thread's hash tag)::

    P:cp:{T}:m   hash   owner, created, updated, tid, log:<id> -> log length, run:<id>
    P:cp:{T}:i   zset   "ns\\0cid" (score 0, lexicographic)
    P:cp:{T}:c   hash   "ns\\0cid" -> msgpack [parent_id, type, checkpoint bytes, run_id]
    P:cp:{T}:d   hash   "ns\\0cid" -> metadata JSON
    P:cp:{T}:b   hash   "ns\\0channel\\0version" -> "type\\0bytes"
    P:cp:{T}:w   hash   "ns\\0cid\\0task\\0idx" -> msgpack [task_path, channel, type, bytes]
    P:cp:{T}:wz  zset   the same write fields, to range them per checkpoint
    P:cp:{T}:l   hash   "log_id\\0seq" -> "type\\0bytes"   (append-only message logs)
    P:cp:{T}:r   zset   "run_id\\0ns\\0cid" (delete_for_runs)
    P:cp:{T}:runs set   run ids of the thread (not expired: lets cleanup find them after expiry)
    P:cp:threads        zset of thread ids (list(None)); P:cp:run:{R} set of thread ids of run R

The global indexes are maintained next to the per-thread script (registration before the first
write of a thread or run in this process); ``delete_thread`` and ``purge_expired`` clean them.
"""

from __future__ import annotations

import builtins  # `list` is a method name inside the savers: annotations after it say builtins.list
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeAlias, TypeVar

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..errors import ConfigurationError, CorruptDataError, EngineUnavailableError
from .base import (
    LOGREF,
    BlobKey,
    DeltaWalk,
    Link,
    PutPlan,
    Row,
    TupleAssembler,
    Typed,
    WriteRow,
    decode_ref,
    decode_value,
    delta_channels,
    empty_history,
    link_of,
    matches,
    now,
    plan_writes,
    split_filter,
    target,
    validate_ns,
)
from .saver import SessionSaverBase

__all__ = ["RedisCheckpointSaver", "ThreadKeys"]

T = TypeVar("T")

SUFFIXES = ("m", "i", "c", "d", "b", "w", "wz", "l", "r")
UNSCOPED = "*"

_PRELUDE = r"""
local K = {m=KEYS[1], i=KEYS[2], c=KEYS[3], d=KEYS[4], b=KEYS[5], w=KEYS[6], wz=KEYS[7], l=KEYS[8], r=KEYS[9]}
local function claim(mode, at, tid)
  local owner = redis.call('HGET', K.m, 'owner')
  if owner then
    if mode ~= '*' and owner ~= mode then return false end
  else
    redis.call('HSET', K.m, 'owner', mode == '*' and '' or mode, 'created', at, 'tid', tid)
  end
  redis.call('HSET', K.m, 'updated', at)
  return true
end
local function expire(ttl)
  if tonumber(ttl) > 0 then
    for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
  end
end
local function drop(member)  -- one checkpoint ("ns\0cid") and its writes
  redis.call('HDEL', K.c, member)
  redis.call('HDEL', K.d, member)
  redis.call('ZREM', K.i, member)
  local wlo, whi = '[' .. member .. '\0', '(' .. member .. '\1'
  for _, f in ipairs(redis.call('ZRANGEBYLEX', K.wz, wlo, whi)) do redis.call('HDEL', K.w, f) end
  redis.call('ZREMRANGEBYLEX', K.wz, wlo, whi)
end
"""

# ARGV: mode, ttl_ms, now, tid, member, record, metadata, run_id, nblobs, (field, value)*, nlogs,
#       (log_id, start, count, items*)*
PUT = (
    _PRELUDE
    + r"""
if not claim(ARGV[1], ARGV[3], ARGV[4]) then return {'owner'} end
local nb = tonumber(ARGV[9])
local p = 10 + 2 * nb
local nl = tonumber(ARGV[p])
local q = p + 1
for _ = 1, nl do
  local cur = tonumber(redis.call('HGET', K.m, 'log:' .. ARGV[q]) or '0')
  if cur ~= tonumber(ARGV[q + 1]) then return {'conflict', ARGV[q]} end
  q = q + 3 + tonumber(ARGV[q + 2])
end
q = p + 1
for _ = 1, nl do
  local id, start, cnt = ARGV[q], tonumber(ARGV[q + 1]), tonumber(ARGV[q + 2])
  for j = 1, cnt do
    redis.call('HSET', K.l, id .. '\0' .. string.format('%d', start + j - 1), ARGV[q + 2 + j])
  end
  redis.call('HSET', K.m, 'log:' .. id, string.format('%d', start + cnt))
  q = q + 3 + cnt
end
for k = 0, nb - 1 do redis.call('HSET', K.b, ARGV[10 + 2 * k], ARGV[11 + 2 * k]) end
redis.call('HSET', K.c, ARGV[5], ARGV[6])
redis.call('HSET', K.d, ARGV[5], ARGV[7])
redis.call('ZADD', K.i, 0, ARGV[5])
if ARGV[8] ~= '' then redis.call('ZADD', K.r, 0, ARGV[8] .. '\0' .. ARGV[5]) end
expire(ARGV[2])
return {'ok'}
"""
)

# ARGV: mode, ttl_ms, now, tid, member, n, (suffix, replace, value)*
PUT_WRITES = (
    _PRELUDE
    + r"""
if not claim(ARGV[1], ARGV[3], ARGV[4]) then return {'owner'} end
local n = tonumber(ARGV[6])
for k = 0, n - 1 do
  local field = ARGV[5] .. '\0' .. ARGV[7 + 3 * k]
  if ARGV[8 + 3 * k] == '1' or redis.call('HEXISTS', K.w, field) == 0 then
    redis.call('HSET', K.w, field, ARGV[9 + 3 * k])
    redis.call('ZADD', K.wz, 0, field)
  end
end
expire(ARGV[2])
return {'ok'}
"""
)

# ARGV: mode, scope ('ns'|'all'), ns, exact cid, before cid, limit (-1 = none), filter JSON, refresh ttl
ROWS = (
    _PRELUDE
    + r"""
local owner = redis.call('HGET', K.m, 'owner')
if not owner or (ARGV[1] ~= '*' and owner ~= ARGV[1]) then return {} end
local filter = nil
if ARGV[7] ~= '' then filter = cjson.decode(ARGV[7]) end
local limit = tonumber(ARGV[6])
local out, found = {}, 0
local function consider(member)
  local md = redis.call('HGET', K.d, member)
  if not md then return end
  if filter then
    local ok, meta = pcall(cjson.decode, md)
    if not ok then return end
    for key, want in pairs(filter) do
      if meta[key] ~= want then return end
    end
  end
  local wf = redis.call('ZRANGEBYLEX', K.wz, '[' .. member .. '\0', '(' .. member .. '\1')
  out[#out + 1] = member
  out[#out + 1] = redis.call('HGET', K.c, member)
  out[#out + 1] = md
  out[#out + 1] = #wf
  for _, f in ipairs(wf) do
    out[#out + 1] = f
    out[#out + 1] = redis.call('HGET', K.w, f)
  end
  found = found + 1
end
local function full() return limit >= 0 and found >= limit end
if ARGV[2] == 'ns' and ARGV[4] ~= '' then
  consider(ARGV[3] .. '\0' .. ARGV[4])
elseif ARGV[2] == 'ns' then
  local lo = '[' .. ARGV[3] .. '\0'
  local hi = '(' .. ARGV[3] .. '\1'
  if ARGV[5] ~= '' then hi = '(' .. ARGV[3] .. '\0' .. ARGV[5] end
  local batch = 100
  if limit >= 0 and not filter then batch = math.max(limit, 1) end
  while not full() do
    local ms = redis.call('ZREVRANGEBYLEX', K.i, hi, lo, 'LIMIT', 0, batch)
    for _, member in ipairs(ms) do
      if full() then break end
      consider(member)
    end
    if #ms < batch then break end
    hi = '(' .. ms[#ms]
  end
else
  local arr = {}
  for _, member in ipairs(redis.call('ZRANGE', K.i, 0, -1)) do
    local cid = string.sub(member, string.find(member, '\0', 1, true) + 1)
    if (ARGV[5] == '' or cid < ARGV[5]) and (ARGV[4] == '' or cid == ARGV[4]) then
      arr[#arr + 1] = {cid, member}
    end
  end
  table.sort(arr, function(a, b) return a[1] > b[1] end)
  for _, e in ipairs(arr) do
    if full() then break end
    consider(e[2])
  end
end
if found > 0 then expire(ARGV[8]) end
return out
"""
)

# ARGV: nhints, (log_id, known length)*, blob fields. Returns the blob values, then
# (log_id, start, n, items start..n-1) for every referenced log: known prefixes are not re-sent.
VALUES = (
    _PRELUDE
    + r"""
local out, need, order, known = {}, {}, {}, {}
local nh = tonumber(ARGV[1])
for k = 0, nh - 1 do known[ARGV[2 + 2 * k]] = tonumber(ARGV[3 + 2 * k]) end
local first = 2 + 2 * nh
for k = first, #ARGV, 500 do
  local part = {}
  for j = k, math.min(k + 499, #ARGV) do part[#part + 1] = ARGV[j] end
  for _, v in ipairs(redis.call('HMGET', K.b, unpack(part))) do
    out[#out + 1] = v
    if v and string.sub(v, 1, 10) == 'sm.logref\0' then
      local id, n = string.match(string.sub(v, 11), '^([^:]+):(%d+)$')
      n = tonumber(n)
      if need[id] == nil then order[#order + 1] = id; need[id] = n
      elseif need[id] < n then need[id] = n end
    end
  end
end
for _, id in ipairs(order) do
  local n = need[id]
  local start = math.min(known[id] or 0, n)
  out[#out + 1] = id
  out[#out + 1] = start
  out[#out + 1] = n
  for k = start, n - 1, 500 do
    local part = {}
    for j = k, math.min(k + 499, n - 1) do part[#part + 1] = id .. '\0' .. string.format('%d', j) end
    for _, v in ipairs(redis.call('HMGET', K.l, unpack(part))) do out[#out + 1] = v end
  end
end
return out
"""
)

# ARGV: mode. Deletes every key of the thread; returns its run ids.
DELETE = (
    _PRELUDE
    + r"""
local owner = redis.call('HGET', K.m, 'owner')
if not owner then return {'ok'} end
if ARGV[1] ~= '*' and owner ~= ARGV[1] then return {'owner'} end
local out = {'ok'}
for _, e in ipairs(redis.call('ZRANGE', K.r, 0, -1)) do
  out[#out + 1] = string.sub(e, 1, string.find(e, '\0', 1, true) - 1)
end
redis.call('DEL', unpack(KEYS))
return out
"""
)

# ARGV: mode, run ids*. Deletes the checkpoints (and their writes) of those runs in this thread.
DELETE_RUNS = (
    _PRELUDE
    + r"""
local owner = redis.call('HGET', K.m, 'owner')
if not owner or (ARGV[1] ~= '*' and owner ~= ARGV[1]) then return 0 end
local n = 0
for k = 2, #ARGV do
  local lo, hi = '[' .. ARGV[k] .. '\0', '(' .. ARGV[k] .. '\1'
  for _, e in ipairs(redis.call('ZRANGEBYLEX', K.r, lo, hi)) do
    drop(string.sub(e, #ARGV[k] + 2))
    n = n + 1
  end
  redis.call('ZREMRANGEBYLEX', K.r, lo, hi)
end
return n
"""
)

# ARGV: mode, then groups "count, items*" for: checkpoints, blob fields, log ids.
PRUNE = (
    _PRELUDE
    + r"""
local owner = redis.call('HGET', K.m, 'owner')
if not owner then return 'ok' end
if ARGV[1] ~= '*' and owner ~= ARGV[1] then return 'owner' end
local p = 2
local nc = tonumber(ARGV[p])
local doomed = {}
for k = 1, nc do
  local member = ARGV[p + k]
  doomed[member] = true
  drop(member)
end
for _, e in ipairs(redis.call('ZRANGE', K.r, 0, -1)) do
  local pos = string.find(e, '\0', 1, true)
  if doomed[string.sub(e, pos + 1)] then redis.call('ZREM', K.r, e) end
end
p = p + nc + 1
local nb = tonumber(ARGV[p])
for k = 1, nb do redis.call('HDEL', K.b, ARGV[p + k]) end
p = p + nb + 1
local nl = tonumber(ARGV[p])
for k = 1, nl do
  local id = ARGV[p + k]
  local len = tonumber(redis.call('HGET', K.m, 'log:' .. id) or '0')
  for j = 0, len - 1 do redis.call('HDEL', K.l, id .. '\0' .. string.format('%d', j)) end
  redis.call('HDEL', K.m, 'log:' .. id)
end
return 'ok'
"""
)

# ARGV: mode, ns, start cid ('' = the newest of ns), limit, refresh ttl. Walks parent pointers from the start:
# returns (cid, record)* in chain order, nothing if the thread is not visible.
DELTA_CHAIN = (
    _PRELUDE
    + r"""
local owner = redis.call('HGET', K.m, 'owner')
if not owner or (ARGV[1] ~= '*' and owner ~= ARGV[1]) then return {} end
local ns, cid, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
if cid == '' then
  local ms = redis.call('ZREVRANGEBYLEX', K.i, '(' .. ns .. '\1', '[' .. ns .. '\0', 'LIMIT', 0, 1)
  if #ms == 0 then return {} end
  cid = string.sub(ms[1], #ns + 2)
end
-- the record is msgpack [parent_id, type, bytes, run_id]: read the parent (nil or a str) only
local function parent_of(rec)
  local b = string.byte(rec, 2)
  if b >= 0xa0 and b <= 0xbf then return string.sub(rec, 3, 2 + b - 0xa0) end
  if b == 0xd9 then return string.sub(rec, 4, 3 + string.byte(rec, 3)) end
  if b == 0xda then return string.sub(rec, 5, 4 + string.byte(rec, 3) * 256 + string.byte(rec, 4)) end
  return nil
end
local out = {}
for _ = 1, limit do
  local rec = redis.call('HGET', K.c, ns .. '\0' .. cid)
  if not rec then break end
  out[#out + 1] = cid
  out[#out + 1] = rec
  cid = parent_of(rec)
  if not cid then break end
end
if #out > 0 then expire(ARGV[5]) end
return out
"""
)

# ARGV: ns, nch, channels*, nlinks, (cid, version per channel or '')*. Walks the links until every
# channel found a stored value (its seed). Returns: links consumed, nseeds, (channel index, version,
# value, nitems, log items*)*, then (field, record)* for the writes of the consumed links.
DELTA_FETCH = (
    _PRELUDE
    + r"""
local ns, nch = ARGV[1], tonumber(ARGV[2])
local nl = tonumber(ARGV[3 + nch])
local open, nopen, seeds, consumed = {}, nch, {}, 0
for i = 1, nch do open[i] = true end
local p = 4 + nch
for l = 1, nl do
  if nopen == 0 then break end
  consumed = l
  for i = 1, nch do
    local ver = ARGV[p + i]
    if open[i] and ver ~= '' then
      local v = redis.call('HGET', K.b, ns .. '\0' .. ARGV[2 + i] .. '\0' .. ver)
      if v and string.sub(v, 1, 6) ~= 'empty\0' then
        seeds[#seeds + 1] = {i, ver, v}
        open[i] = false
        nopen = nopen - 1
      end
    end
  end
  p = p + 1 + nch
end
local out = {consumed, #seeds}
for _, s in ipairs(seeds) do
  out[#out + 1] = s[1]
  out[#out + 1] = s[2]
  out[#out + 1] = s[3]
  local items = {}
  if string.sub(s[3], 1, 10) == 'sm.logref\0' then
    local id, n = string.match(string.sub(s[3], 11), '^([^:]+):(%d+)$')
    for k = 0, tonumber(n) - 1, 500 do
      local part = {}
      for j = k, math.min(k + 499, tonumber(n) - 1) do part[#part + 1] = id .. '\0' .. string.format('%d', j) end
      for _, v in ipairs(redis.call('HMGET', K.l, unpack(part))) do items[#items + 1] = v end
    end
  end
  out[#out + 1] = #items
  for _, v in ipairs(items) do out[#out + 1] = v end
end
p = 4 + nch
for _ = 1, consumed do
  local member = ns .. '\0' .. ARGV[p]
  for _, f in ipairs(redis.call('ZRANGEBYLEX', K.wz, '[' .. member .. '\0', '(' .. member .. '\1')) do
    local v = redis.call('HGET', K.w, f)
    if v then
      out[#out + 1] = f
      out[#out + 1] = v
    end
  end
  p = p + 1 + nch
end
return out
"""
)

SCRIPTS = {
    "put": PUT,
    "put_writes": PUT_WRITES,
    "rows": ROWS,
    "values": VALUES,
    "delete": DELETE,
    "delete_runs": DELETE_RUNS,
    "prune": PRUNE,
    "delta_chain": DELTA_CHAIN,
    "delta_fetch": DELTA_FETCH,
}
_CHAIN_PAGE = 200  # ancestors per round trip in the DeltaChannel walk


class ThreadKeys:
    """Key names of one namespace. The thread id is the hash tag (hashed if it holds braces)."""

    def __init__(self, namespace: str):
        self.prefix = f"{namespace}:cp"
        self.threads = f"{self.prefix}:threads"

    def thread(self, thread_id: str) -> list[str]:
        tag = (
            thread_id
            if "{" not in thread_id and "}" not in thread_id
            else "#" + hashlib.sha1(thread_id.encode()).hexdigest()
        )
        return [f"{self.prefix}:{{{tag}}}:{s}" for s in SUFFIXES]

    def runs_of(self, thread_id: str) -> str:
        """Run ids of a thread, outside the expiring keys so cleanup can find them after expiry."""
        return self.thread(thread_id)[0][:-1] + "runs"

    def run(self, run_id: str) -> str:
        tag = (
            run_id
            if "{" not in run_id and "}" not in run_id
            else "#" + hashlib.sha1(run_id.encode()).hexdigest()
        )
        return f"{self.prefix}:run:{{{tag}}}"


# -- builders and decoders shared by the sync and async executors ---------------------------------
def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def put_args(plan: PutPlan, mode: str, ttl_ms: int) -> list[Any]:
    member = f"{plan.ns}\0{plan.checkpoint_id}"
    record = ormsgpack.packb([plan.parent_id, plan.ckpt[0], plan.ckpt[1], plan.run_id])
    args: list[Any] = [
        mode,
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


def writes_args(
    rows: list[WriteRow], mode: str, ttl_ms: int, thread_id: str, ns: str, cid: str
) -> list[Any]:
    args: list[Any] = [mode, ttl_ms, repr(now()), thread_id, f"{ns}\0{cid}", len(rows)]
    for w in rows:
        args += [
            f"{w.task_id}\0{w.idx}",
            "1" if w.replace else "0",
            ormsgpack.packb([w.task_path, w.channel, w.type, w.value]),
        ]
    return args


def parse_rows(thread_id: str, reply: list[Any]) -> list[Row]:
    rows: list[Row] = []
    i = 0
    while i < len(reply):
        ns, _, cid = _s(reply[i]).partition("\0")
        parent, typ, data, _run = ormsgpack.unpackb(reply[i + 1])
        row = Row(thread_id, ns, cid, parent, (typ, data), reply[i + 2])
        n = int(reply[i + 3])
        i += 4
        for _ in range(n):
            field, value = _s(reply[i]), reply[i + 1]
            i += 2
            if value is None:
                continue
            parts = field.split("\0")
            task_path, channel, wtyp, wdata = ormsgpack.unpackb(value)
            row.writes.append(WriteRow(parts[-2], int(parts[-1]), task_path, channel, wtyp, wdata))
        rows.append(row)
    return rows


def _typed(value: bytes | None) -> Typed | None:
    if value is None:
        return None
    typ, sep, data = bytes(value).partition(b"\0")
    if not sep:
        raise CorruptDataError(f"stored channel value has no type tag: {bytes(value)[:32]!r}")
    return typ.decode(), data


def values_args(asm: TupleAssembler, thread_id: str, keys: list[BlobKey]) -> list[Any]:
    hints = [(key[2], len(items)) for key, items in asm.known.items() if key[0] == thread_id]
    args: list[Any] = [len(hints)]
    for log_id, length in hints:
        args += [log_id, length]
    return args + [f"{ns}\0{channel}\0{version}" for _t, ns, channel, version in keys]


def apply_values(asm: TupleAssembler, keys: list[BlobKey], reply: list[Any]) -> None:
    """Feed the VALUES script's reply (blobs, then the unknown part of each log) into the assembler."""
    need = asm.set_blobs({key: _typed(v) for key, v in zip(keys, reply[: len(keys)], strict=True)})
    by_log: dict[str, list[Typed]] = {}
    i = len(keys)
    while i < len(reply):
        log_id, start, n = _s(reply[i]), int(reply[i + 1]), int(reply[i + 2])
        items = [_typed(v) for v in reply[i + 3 : i + 3 + n - start]]
        i += 3 + n - start
        by_log[log_id] = [t for t in items if t is not None]
    ranges = asm.log_ranges(need)
    asm.set_logs(
        {key: by_log.get(key[2], [])[: end - start] for key, (start, end) in ranges.items()}
    )


def rows_args(
    mode: str,
    ns: str | None,
    exact: str | None,
    before: str | None,
    limit: int | None,
    pushed: dict[str, Any],
    refresh_ms: int,
) -> list[Any]:
    return [
        mode,
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
    mode: str,
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
        typed = _typed(value)
        if typed is not None and typed[0] == LOGREF:
            keep_logs.add(decode_ref(typed[1])[0])
    dead_logs = sorted(all_logs - keep_logs)
    return [mode, len(doomed), *doomed, len(dead_blobs), *dead_blobs, len(dead_logs), *dead_logs]


# -- steps: the I/O the step generators below yield, run by the sync or the async executor ------
class Script(NamedTuple):
    """One Lua script on one thread's keys: one slot, so atomic and one round trip."""

    name: str
    thread_id: str
    args: list[Any]


class Cmd(NamedTuple):
    """One Redis command, sent alone or queued in a :class:`Pipe`."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


class Pipe(NamedTuple):
    """Commands sent in one non-transactional pipeline (the cluster client splits it by slot, so a
    DEL names one key). An empty pipe is not sent and reads as ``[]``."""

    cmds: list[Cmd]


Step: TypeAlias = Script | Cmd | Pipe
Steps: TypeAlias = Generator[Step, Any, T]


def _queue(client: Any, cmds: list[Cmd]) -> Any:
    """A pipeline of ``client`` (sync or async) with ``cmds`` queued: queueing does no I/O."""
    pipe = client.pipeline(transaction=False)
    for cmd in cmds:
        getattr(pipe, cmd.name)(*cmd.args, **(cmd.kwargs or {}))
    return pipe


def _chain_links(serde: Any, thread_id: str, reply: list[Any]) -> list[Link]:
    links = []
    for i in range(0, len(reply), 2):
        parent, typ, data, _run = ormsgpack.unpackb(reply[i + 1])
        links.append(link_of(serde, thread_id, _s(reply[i]), parent, (typ, data)))
    return links


def delta_steps(
    serde: Any,
    mode: str,
    thread_id: str,
    ns: str,
    checkpoint_id: str | None,
    channels: Sequence[str],
    *,
    from_parent: bool = True,
    refresh_ms: int = 0,
) -> Steps[tuple[DeltaWalk, dict[str, list[WriteRow]], dict[str, Any]] | None]:
    """The DeltaChannel walk as script steps (their replies sent back in by a sync or async driver).

    One DELTA_CHAIN call reads the target and up to 200 ancestors, one DELTA_FETCH call walks
    them server-side and returns the seeds and the writes of the visited checkpoints: two round
    trips per 200 ancestors. Returns ``(walk, writes by checkpoint id, seed values)`` or None.
    """
    links = _chain_links(
        serde,
        thread_id,
        (
            yield Script(
                "delta_chain",
                thread_id,
                [mode, ns, checkpoint_id or "", _CHAIN_PAGE + 1, refresh_ms],
            )
        ),
    )
    if not links:
        return None
    walk = DeltaWalk(channels, links[0].parent_id if from_parent else links[0].checkpoint_id)
    if from_parent:
        links = links[1:]
    writes: dict[str, list[WriteRow]] = {}
    seeds: dict[str, Any] = {}
    while not walk.done:
        if not links:
            links = _chain_links(
                serde,
                thread_id,
                (yield Script("delta_chain", thread_id, [mode, ns, walk.cursor, _CHAIN_PAGE, 0])),
            )
            if not links:
                walk.end()
                break
        chans = [ch for ch in walk.channels if ch in walk.remaining]
        args: list[Any] = [ns, len(chans), *chans, len(links)]
        for link in links:
            args += [link.checkpoint_id, *(str(link.versions.get(ch, "")) for ch in chans)]
        reply = yield Script("delta_fetch", thread_id, args)
        nseeds, i = int(reply[1]), 2
        filled: set[tuple[str, str]] = set()
        for _ in range(nseeds):
            ch, ver, typed, n = (
                chans[int(reply[i]) - 1],
                _s(reply[i + 1]),
                _typed(reply[i + 2]),
                int(reply[i + 3]),
            )
            items = [t for t in (_typed(v) for v in reply[i + 4 : i + 4 + n]) if t is not None]
            i += 4 + n
            filled.add((ch, ver))
            assert typed is not None
            seeds[ch] = decode_value(serde, typed, items, ch, thread_id)
        for k in range(i, len(reply), 2):
            parts = _s(reply[k]).split("\0")
            task_path, channel, wtyp, wdata = ormsgpack.unpackb(reply[k + 1])
            writes.setdefault(parts[-3], []).append(
                WriteRow(parts[-2], int(parts[-1]), task_path, channel, wtyp, wdata)
            )
        walk.advance(links, filled)
        links = []
    return walk, writes, seeds


class RedisCheckpointSaver(SessionSaverBase):
    """LangGraph checkpointer on plain Redis or Redis Cluster, sync and async.

    Pass ``client`` (``redis.Redis`` / ``redis.cluster.RedisCluster``, ``decode_responses=False``)
    and/or ``aclient`` (the ``redis.asyncio`` twin), or factories that make them lazily.
    """

    def __init__(
        self,
        *,
        client: Any = None,
        aclient: Any = None,
        client_factory: Callable[[], Any] | None = None,
        aclient_factory: Callable[[], Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if (
            client is None
            and aclient is None
            and client_factory is None
            and aclient_factory is None
        ):
            raise ConfigurationError(
                "RedisCheckpointSaver needs client= and/or aclient= (or factories)"
            )
        self._client, self._aclient = client, aclient
        self._client_factory, self._aclient_factory = client_factory, aclient_factory
        self.keys = ThreadKeys(self.namespace)
        self._scripts: dict[int, dict[str, Any]] = {}
        self._registered: dict[str, tuple[float, set[str]]] = {}

    # -- clients and scripts ---------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            if self._client_factory is None:
                raise ConfigurationError(
                    "this RedisCheckpointSaver has no sync client: pass client="
                )
            self._client = self._client_factory()
        return self._client

    @property
    def aclient(self) -> Any:
        if self._aclient is None:
            if self._aclient_factory is None:
                raise ConfigurationError(
                    "this RedisCheckpointSaver has no async client: pass aclient="
                )
            self._aclient = self._aclient_factory()
        return self._aclient

    def _script(self, client: Any, name: str) -> Any:
        scripts = self._scripts.get(id(client))
        if scripts is None:
            scripts = self._scripts[id(client)] = {
                k: client.register_script(v) for k, v in SCRIPTS.items()
            }
        return scripts[name]

    @property
    def _mode(self) -> str:
        return UNSCOPED if self.user_id is None else self.user_id

    @property
    def _refresh_ms(self) -> int:
        """TTL a read re-applies inside its own script (refresh_on_read), else 0."""
        return self._ttl_ms if self.refresh_on_read else 0

    @property
    def _ttl_ms(self) -> int:
        return 0 if self.ttl is None else int(self.ttl * 1000)

    def _index_ops(self, thread_id: str, run_id: str | None) -> list[Cmd]:
        """Global index updates this process has not done lately (thread list, run -> threads)."""
        entry = self._registered.get(thread_id)
        fresh = entry is not None and now() - entry[0] < 60
        ops: list[Cmd] = []
        if not fresh:
            ops.append(Cmd("zadd", (self.keys.threads, {thread_id: now()})))
        if run_id and not (fresh and entry is not None and run_id in entry[1]):
            ops.append(Cmd("sadd", (self.keys.run(run_id), thread_id)))
            ops.append(Cmd("sadd", (self.keys.runs_of(thread_id), run_id)))
        return ops

    def _mark(self, thread_id: str, run_id: str | None) -> None:
        if len(self._registered) > 50_000:
            self._registered.clear()
        entry = self._registered.get(thread_id)
        if entry is None or now() - entry[0] >= 60:
            entry = self._registered[thread_id] = (now(), set())
        if run_id:
            entry[1].add(run_id)

    def _forget_ops(self, thread_id: str, runs: set[str]) -> list[Cmd]:
        """Remove a deleted or expired thread from the global indexes."""
        self._registered.pop(thread_id, None)
        ops = [
            Cmd("zrem", (self.keys.threads, thread_id)),
            Cmd("delete", (self.keys.runs_of(thread_id),)),
        ]
        return ops + [Cmd("srem", (self.keys.run(r), thread_id)) for r in sorted(runs)]

    @staticmethod
    def _unavailable(exc: Exception) -> EngineUnavailableError:
        return EngineUnavailableError(f"Redis is unavailable for the checkpointer: {exc}")

    # -- step generators: the logic of each sync/async pair, written once and doing no I/O ----------
    def _rows_steps(self, thread_id: str, args: builtins.list[Any]) -> Steps[builtins.list[Row]]:
        return parse_rows(thread_id, (yield Script("rows", thread_id, args)))

    def _assemble_steps(
        self, rows: builtins.list[Row], cache: bool
    ) -> Steps[builtins.list[CheckpointTuple]]:
        """Channel values and log items of ``rows``: one VALUES script per thread."""
        asm = TupleAssembler(self.serde, rows, self._logs)
        by_thread: dict[str, list[BlobKey]] = {}
        for key in asm.blob_keys():
            by_thread.setdefault(key[0], []).append(key)
        for tid, keys in by_thread.items():
            apply_values(asm, keys, (yield Script("values", tid, values_args(asm, tid, keys))))
        return asm.tuples(self._logs if cache else None)

    def _history_steps(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Steps[dict[str, Any]]:
        if not channels:
            return {}
        t = target(config)
        found = yield from delta_steps(
            self.serde,
            self._mode,
            t.thread_id,
            t.ns,
            t.checkpoint_id,
            channels,
            refresh_ms=self._refresh_ms,
        )
        if found is None:
            return empty_history(channels)
        walk, writes, seeds = found
        return walk.history(self.serde, t.thread_id, writes, seeds)

    def _keep_steps(self, thread_id: str, rows: builtins.list[Row]) -> Steps[set[tuple[str, str]]]:
        """(ns, id) of the newest checkpoint per namespace plus the ancestors its DeltaChannels replay."""
        latest = {r.ns: r for r in sorted(rows, key=lambda r: r.checkpoint_id)}
        keep = {(r.ns, r.checkpoint_id) for r in latest.values()}
        for r in latest.values():
            if chans := delta_channels(json.loads(r.metadata)):
                found = yield from delta_steps(
                    self.serde,
                    self._mode,
                    thread_id,
                    r.ns,
                    r.checkpoint_id,
                    chans,
                    from_parent=False,
                )
                if found is not None:
                    keep |= {(r.ns, cid) for cid in found[0].visited}
        return keep

    def _get_tuple_steps(self, config: RunnableConfig) -> Steps[CheckpointTuple | None]:
        t = target(config)
        rows = yield from self._rows_steps(
            t.thread_id, rows_args(self._mode, t.ns, t.checkpoint_id, None, 1, {}, self._refresh_ms)
        )
        return (yield from self._assemble_steps(rows, cache=True))[0] if rows else None

    def _list_steps(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Steps[builtins.list[CheckpointTuple]]:
        """Rows of one thread, or of every thread in the index; filters Lua cannot compare run here."""
        conf, ns, exact, before_id, pushed, local = _list_params(config, filter, before)
        args = rows_args(
            self._mode, ns, exact, before_id, None if local else limit, pushed, self._refresh_ms
        )
        if config:
            threads = [target(config).thread_id]
        else:
            threads = [_s(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        rows: list[Row] = []
        for tid in threads:
            rows += yield from self._rows_steps(tid, args)
        return (yield from self._assemble_steps(merge_pages(rows, local, limit), cache=False))

    def _put_steps(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Steps[RunnableConfig]:
        """Index the thread, then one PUT script; a log another writer grew is rebased and retried."""
        plan = self._plan(config, checkpoint, metadata, new_versions)
        yield Pipe(self._index_ops(plan.thread_id, plan.run_id))
        self._mark(plan.thread_id, plan.run_id)
        for _ in range(len(plan.appends) + 1):
            reply = yield Script("put", plan.thread_id, put_args(plan, self._mode, self._ttl_ms))
            if not _rebase_on_conflict(plan, reply):
                break
        _check(reply, self, plan.thread_id)
        plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": plan.ns,
                "checkpoint_id": plan.checkpoint_id,
            }
        }

    def _put_writes_steps(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Steps[None]:
        t = target(config)
        rows = plan_writes(self.serde, writes, task_id, task_path)
        yield Pipe(self._index_ops(t.thread_id, None))
        self._mark(t.thread_id, None)
        reply = yield Script(
            "put_writes",
            t.thread_id,
            writes_args(rows, self._mode, self._ttl_ms, t.thread_id, t.ns, str(t.checkpoint_id)),
        )
        _check(reply, self, t.thread_id)

    def _delete_thread_steps(self, thread_id: str) -> Steps[None]:
        """The DELETE script, then the global indexes (its run ids plus those that outlive expiry)."""
        reply = yield Script("delete", thread_id, [self._mode])
        _check(reply, self, thread_id, "delete")
        runs = {_s(r) for r in reply[1:]}
        runs |= {_s(r) for r in (yield Cmd("smembers", (self.keys.runs_of(thread_id),)))}
        yield Pipe(self._forget_ops(thread_id, runs))
        self._logs.drop_thread(thread_id)

    def _delete_for_runs_steps(self, run_ids: Sequence[str]) -> Steps[None]:
        """Threads of the runs from the run index, then one DELETE_RUNS script per thread."""
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        members = yield Pipe([Cmd("smembers", (self.keys.run(run),)) for run in runs])
        threads = {_s(t) for m in members for t in m}
        for tid in sorted(threads):
            yield Script("delete_runs", tid, [self._mode, *runs])

    def _copy_thread_steps(self, source_thread_id: str, target_thread_id: str) -> Steps[None]:
        """DUMP every key of the source and RESTORE it under the target's tag, then re-stamp and index it."""
        src, dst = self.keys.thread(source_thread_id), self.keys.thread(target_thread_id)
        owner = yield Cmd("hget", (src[0], "owner"))
        if owner is None:
            return
        if not self._owns(_s(owner) or None):
            raise self._refuse(source_thread_id, "copy")
        dst_owner = yield Cmd("hget", (dst[0], "owner"))
        if dst_owner is not None and not self._owns(_s(dst_owner) or None):
            raise self._refuse(target_thread_id, "overwrite")
        dumps = yield Pipe([Cmd("dump", (key,)) for key in src])
        runs = {_s(e).split("\0", 1)[0] for e in (yield Cmd("zrange", (src[8], 0, -1)))}
        cmds = [
            Cmd("delete", (key,)) for key in dst
        ]  # one key per DEL: cluster pipelines refuse multi-key DEL
        cmds += [
            Cmd("restore", (key, self._ttl_ms, blob), {"replace": True})
            for key, blob in zip(dst, dumps, strict=True)
            if blob is not None
        ]
        cmds.append(
            Cmd(
                "hset",
                (dst[0],),
                {
                    "mapping": {
                        "tid": target_thread_id,
                        "created": repr(now()),
                        "updated": repr(now()),
                    }
                },
            )
        )
        if self.user_id is not None:
            cmds.append(Cmd("hset", (dst[0], "owner", self.user_id)))
        yield Pipe(cmds)
        self._registered.pop(target_thread_id, None)
        yield Pipe(
            [
                Cmd("zadd", (self.keys.threads, {target_thread_id: now()})),
                *[Cmd("sadd", (self.keys.run(r), target_thread_id)) for r in runs],
                *[Cmd("sadd", (self.keys.runs_of(target_thread_id), r)) for r in runs],
            ]
        )
        self._logs.drop_thread(target_thread_id)

    def _prune_steps(self, thread_ids: Sequence[str], strategy: str) -> Steps[None]:
        """keep_latest: the newest checkpoint per namespace and what its DeltaChannels replay stay; the
        PRUNE script drops the other checkpoints, the blobs none of the kept ones name and unused logs."""
        self._strategy(strategy)
        for tid in self._thread_ids(thread_ids):
            if strategy == "delete":
                yield from self._delete_thread_steps(tid)
                continue
            keys = self.keys.thread(tid)
            owner = yield Cmd("hget", (keys[0], "owner"))
            if owner is None:
                continue
            if not self._owns(_s(owner) or None):
                raise self._refuse(tid, "prune")
            rows = yield from self._rows_steps(
                tid, rows_args(self._mode, None, None, None, None, {}, 0)
            )
            keep = yield from self._keep_steps(tid, rows)
            keep_fields = set()
            for r in [r for r in rows if (r.ns, r.checkpoint_id) in keep]:
                skeleton = self.serde.loads_typed(r.ckpt)
                keep_fields |= {
                    f"{r.ns}\0{ch}\0{v}" for ch, v in skeleton.get("channel_versions", {}).items()
                }
            fields = sorted(keep_fields)
            res = yield Pipe(
                [
                    Cmd("hkeys", (keys[4],)),
                    Cmd("hkeys", (keys[0],)),
                    *([Cmd("hmget", (keys[4], fields))] if fields else []),
                ]
            )
            all_blobs = [_s(f) for f in res[0]]
            all_logs = {_s(f)[4:] for f in res[1] if _s(f).startswith("log:")}
            kept_values = dict(zip(fields, res[2], strict=True)) if fields else {}
            reply = yield Script(
                "prune",
                tid,
                prune_args(self._mode, rows, keep, all_blobs, keep_fields, kept_values, all_logs),
            )
            if _s(reply) == "owner":
                raise self._refuse(tid, "prune")
            self._logs.drop_thread(tid)

    def _thread_info_steps(self, thread_id: str) -> Steps[dict[str, Any] | None]:
        keys = self.keys.thread(thread_id)
        res = yield Pipe(
            [
                Cmd("hmget", (keys[0], ["owner", "created", "updated"])),
                Cmd("zcard", (keys[1],)),
                Cmd("pttl", (keys[0],)),
                *[Cmd("memory_usage", (key,), {"samples": 0}) for key in keys],
            ]
        )
        return _info(self, thread_id, res)

    def _purge_expired_steps(self) -> Steps[int]:
        """Threads of the index whose meta key expired, and their run ids, leave the global indexes."""
        threads = [_s(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        alive = yield Pipe([Cmd("exists", (self.keys.thread(tid)[0],)) for tid in threads])
        gone = [t for t, live in zip(threads, alive, strict=True) if not live]
        runs = yield Pipe([Cmd("smembers", (self.keys.runs_of(tid),)) for tid in gone])
        yield Pipe(
            [
                op
                for tid, rs in zip(gone, runs, strict=True)
                for op in self._forget_ops(tid, {_s(r) for r in rs})
            ]
        )
        return len(gone)

    # -- executors: a step on the sync or the async client ---------------------------------------
    @contextmanager
    def _guard(self, step: Step) -> Iterator[None]:
        """Any step that cannot reach Redis raises EngineUnavailableError, as the chat history does."""
        from redis.exceptions import ConnectionError as RCE
        from redis.exceptions import TimeoutError as RTE

        try:
            yield
        except (RCE, RTE) as exc:
            raise self._unavailable(exc) from exc

    def _send(self, client: Any, step: Step) -> Any:
        """Issue ``step`` on ``client``: the reply from a sync client, an awaitable from an async one."""
        if isinstance(step, Script):
            return self._script(client, step.name)(
                keys=self.keys.thread(step.thread_id), args=step.args
            )
        if isinstance(step, Cmd):
            return getattr(client, step.name)(*step.args, **(step.kwargs or {}))
        return _queue(client, step.cmds).execute()

    def _step(self, step: Step) -> Any:
        if isinstance(step, Pipe) and not step.cmds:
            return []  # nothing to send (and no client to make)
        with self._guard(step):
            return self._send(self.client, step)

    def _drive(self, steps: Steps[T]) -> T:
        """Run ``steps`` with blocking calls, sending each reply back in; returns what they return."""
        reply = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value
            reply = self._step(step)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        """Writes and seed of each DeltaChannel along the parent chain: two scripts per 200 ancestors."""
        return self._drive(self._history_steps(config, channels))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._drive(self._get_tuple_steps(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._drive(self._list_steps(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._drive(self._put_steps(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._drive(self._put_writes_steps(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._drive(self._delete_thread_steps(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._drive(self._delete_for_runs_steps(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._drive(self._copy_thread_steps(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._drive(self._prune_steps(thread_ids, strategy))

    def thread_info(self, thread_id: str) -> dict[str, Any] | None:
        """Owner, timestamps, TTL, checkpoint count and memory used by a visible thread, else None."""
        return self._drive(self._thread_info_steps(thread_id))

    def purge_expired(self) -> int:
        """Native expiry removes the data; this drops expired threads from the global indexes."""
        return self._drive(self._purge_expired_steps())

    def close(self) -> None:
        self._stop_sweeper()
        if self._client is not None and self._client_factory is None:
            return  # not ours to close
        self._client = None

    # -- async: the same steps over redis.asyncio -------------------------------------------------
    async def _astep(self, step: Step) -> Any:
        if isinstance(step, Pipe) and not step.cmds:
            return []
        with self._guard(step):
            return await self._send(self.aclient, step)

    async def _adrive(self, steps: Steps[T]) -> T:
        reply = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value
            reply = await self._astep(step)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, Any]:
        return await self._adrive(self._history_steps(config, channels))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._adrive(self._get_tuple_steps(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in await self._adrive(self._list_steps(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._adrive(self._put_steps(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._adrive(self._put_writes_steps(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._adrive(self._delete_thread_steps(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._adrive(self._delete_for_runs_steps(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._adrive(self._copy_thread_steps(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._adrive(self._prune_steps(thread_ids, strategy))

    async def athread_info(self, thread_id: str) -> dict[str, Any] | None:
        return await self._adrive(self._thread_info_steps(thread_id))

    async def apurge_expired(self) -> int:
        return await self._adrive(self._purge_expired_steps())

    async def aclose(self) -> None:
        self.close()


def _list_params(
    config: RunnableConfig | None, filter: dict[str, Any] | None, before: RunnableConfig | None
) -> tuple[dict, str | None, str | None, str | None, dict[str, Any], dict[str, Any]]:
    conf = (config or {}).get("configurable") or {}
    ns = conf.get("checkpoint_ns")
    if ns is not None:
        validate_ns(ns)
    before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
    pushed, local = split_filter(filter)
    # Lua compares true with true only; Python's True == 1 would differ, so keep bools local.
    for key in [k for k, v in pushed.items() if isinstance(v, bool)]:
        local[key] = pushed.pop(key)
    return conf, ns, conf.get("checkpoint_id"), before_id, pushed, local


def _rebase_on_conflict(plan: PutPlan, reply: Any) -> bool:
    if isinstance(reply, list) and reply and _s(reply[0]) == "conflict":
        log_id = _s(reply[1])
        channel = next(ch for ch, app in plan.appends.items() if app.log_id == log_id)
        plan.rebase(channel)
        return True
    return False


def _check(
    reply: Any, saver: RedisCheckpointSaver, thread_id: str, action: str = "write to"
) -> None:
    head = _s(reply[0]) if isinstance(reply, list) and reply else _s(reply)
    if head == "owner":
        raise saver._refuse(thread_id, action)
    if head != "ok":
        raise CorruptDataError(
            f"unexpected reply from the checkpoint script for thread {thread_id!r}: {reply!r}"
        )


def _info(saver: RedisCheckpointSaver, thread_id: str, res: list[Any]) -> dict[str, Any] | None:
    owner, created, updated = res[0]
    if owner is None or not saver._owns(_s(owner) or None):
        return None
    pttl = int(res[2])
    at = now()
    return {
        "thread_id": thread_id,
        "owner": _s(owner) or None,
        "created_at": float(_s(created)),
        "updated_at": float(_s(updated)),
        "expires_at": at + pttl / 1000 if pttl > 0 else None,
        "checkpoints": int(res[1]),
        "bytes": sum(int(x or 0) for x in res[3:]),
    }
