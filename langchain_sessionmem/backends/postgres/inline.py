"""Small channel values kept inside the checkpoint row (``vals``), so a step writes one row.

Why: in a chat graph most channel values are tiny (a log reference, a branch marker, the input of
``__start__``) and a row of their own per (channel, version) cost more in tuple header, key and
index entry than the value itself. A checkpoint row's ``vals`` holds, for every channel of its
``channel_versions`` that has a value, either the value (packed, at most :data:`INLINE_MAX`
bytes) or the mark "in the blobs table" (larger values, stored once per version as before).
Unchanged channels are carried from the parent's entry (same version, same value); a value of
more than :data:`CARRY_MAX` bytes that is carried gets a blobs row then (once: its children
carry the mark), so a value that outlives its step is not copied into every later row. A
channel whose entry is not known here is serialized again from the checkpoint, so nothing
depends on the cache. Channels without an entry are empty. ``vals`` NULL is a row of the first
schema: all of its values are in the blobs table. Values keep their places (channel and version), so sealed
values open wherever they are copied.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import ormsgpack

from ...checkpoint.linear import decode_ref
from ...checkpoint.serde import Typed
from ...checkpoint.values import EMPTY, LOGREF, ValueCodec, blob_place
from ...errors import CorruptDataError
from .packing import ZDICT_ROWS, deflate_with, inflate, pack, unpack

INLINE_MAX = 160  # packed bytes: larger values get a blobs row (a copy per checkpoint costs more)
CARRY_MAX = 48  # packed bytes: a larger value carried into a child row moves to a blobs row
BIG: None = None  # an entry saying "the value is in the blobs table at (channel, version)"
TYPES = ("msgpack", "null", LOGREF, "json", "bytes", "bytearray")  # tags stored as their index

Entry = Typed | None
Entries = dict[str, tuple[str, Entry]]  # channel -> (version, inline value (plain) or BIG)


def _size(typed: Typed) -> int:
    return len(typed[0]) + len(typed[1])


def split(
    blobs: Mapping[tuple[str, str], Typed], carried_again: frozenset[str] = frozenset()
) -> tuple[Entries, dict[tuple[str, str], Typed]]:
    """A put's values: (entries for the row, the values (packed) that need a blobs row).
    ``carried_again``: unchanged channels serialized again, whose larger values get a row."""
    entries: Entries = {}
    rows: dict[tuple[str, str], Typed] = {}
    for (channel, version), typed in blobs.items():
        if typed[0] == EMPTY:
            continue  # no entry: empty, as a missing blobs row always meant
        packed = pack(typed)
        limit = CARRY_MAX if channel in carried_again else INLINE_MAX
        if _size(packed) <= limit:
            entries[channel] = (version, typed)
        else:
            entries[channel] = (version, BIG)
            rows[(channel, version)] = packed
    return entries, rows


def carried(
    versions: Mapping[str, Any], new: Mapping[str, Any], parent: Entries | None
) -> tuple[Entries, list[str], dict[tuple[str, str], Typed]]:
    """Entries of the unchanged channels taken from the parent's, the channels it does not know,
    and the carried values (packed) that move to a blobs row now (over :data:`CARRY_MAX`)."""
    out: Entries = {}
    missing: list[str] = []
    moved: dict[tuple[str, str], Typed] = {}
    for channel, version in versions.items():
        if channel in new:
            continue
        found = None if parent is None else parent.get(channel)
        if found is None or found[0] != str(version):
            missing.append(channel)
            continue
        value = found[1]
        # packing never grows a value: one that fits as it is stays inline without a deflate
        packed = None if value is None or _size(value) <= CARRY_MAX else pack(value)
        if packed is not None and _size(packed) > CARRY_MAX:
            moved[(channel, found[0])] = packed
            out[channel] = (found[0], BIG)
        else:
            out[channel] = found
    return out, missing, moved


def encode(entries: Entries, versions: Mapping[str, Any]) -> bytes:
    """``vals`` bytes: msgpack ``[channel, type, data, ...]`` deflated against
    :data:`~.packing.ZDICT_ROWS` when that is smaller. A channel is its position among the
    sorted names of the skeleton's ``channel_versions`` (the version is the checkpoint's, so
    neither is repeated; entries of channels it does not name are dropped, as reads would); a
    type is its index in :data:`TYPES` or its name; type ``None``: BIG."""
    flat: list[Any] = []
    for i, channel in enumerate(sorted(versions)):
        if channel not in entries:
            continue
        entry = entries[channel][1]
        if entry is None:
            flat += [i, None, None]
        else:
            typ = TYPES.index(entry[0]) if entry[0] in TYPES else entry[0]
            flat += [i, typ, short_ref(bytes(entry[1])) if entry[0] == LOGREF else bytes(entry[1])]
    raw = ormsgpack.packb(flat)
    packed = deflate_with(raw, ZDICT_ROWS)
    return b"\x02" + raw if packed is None else b"\x03" + packed


def short_ref(data: bytes) -> bytes | list[Any]:
    """A log reference ``<16 hex>:<rest>`` (plain or with ranges, see ``checkpoint.spans``) as
    ``[8 bytes, rest]`` when that reads back the same; other bytes as they are."""
    log_id, sep, rest = data.partition(b":")
    try:
        short = [bytes.fromhex(log_id.decode()), rest.decode()]
    except ValueError:
        return data
    return short if sep and f"{short[0].hex()}:{short[1]}".encode() == data else data


def decode(vals: bytes | memoryview, versions: Mapping[str, Any], where: str) -> Entries:
    """The entries of a row (channels whose version the skeleton does not name are dropped)."""
    raw = bytes(vals)
    out: Entries = {}
    try:
        if raw[:1] in (b"\x00", b"\x01"):  # the first format: names and packed values
            flat = ormsgpack.unpackb(unpack("v~z1" if raw[:1] == b"\x01" else "v", raw[1:])[1])
            for i in range(0, len(flat), 3):
                channel, typ, value = flat[i : i + 3]
                if channel in versions:
                    entry = None if typ is None else unpack(typ, value, where)
                    out[channel] = (str(versions[channel]), entry)
            return out
        if raw[:1] not in (b"\x02", b"\x03"):
            raise ValueError(f"unknown format {raw[:1]!r}")
        data = raw[1:] if raw[:1] == b"\x02" else inflate(raw[1:], ZDICT_ROWS, where)
        flat = ormsgpack.unpackb(data)
        names = sorted(versions)
        for i in range(0, len(flat), 3):
            pos, typ, value = flat[i : i + 3]
            channel = names[pos]
            if isinstance(value, list):  # a log reference as (log id bytes, length)
                value = f"{value[0].hex()}:{value[1]}".encode()
            entry = None if typ is None else (TYPES[typ] if isinstance(typ, int) else typ, value)
            out[channel] = (str(versions[channel]), entry)
        return out
    except (ormsgpack.MsgpackDecodeError, TypeError, ValueError, IndexError) as exc:
        raise CorruptDataError(f"{where}: the inline channel values are damaged ({exc})") from exc


def inline_value(entry: Entry, where: str = "") -> Typed | None:
    """An inline entry (``None`` for BIG: the caller reads the blobs table)."""
    return entry


class EntryCache:
    """Bounded LRU of the last entries seen per (thread key, ns): what a child checkpoint carries.

    A miss costs one re-serialization of the unchanged channels, never correctness.
    """

    def __init__(self, maxsize: int = 512):
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, str], Entries] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Entries | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def set(self, key: tuple[str, str], entries: Entries) -> None:
        with self._lock:
            self._data[key] = entries
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def drop_thread(self, thread_key: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] == thread_key]:
                del self._data[key]


def log_ids(vals: bytes | memoryview, versions: Mapping[str, Any], where: str) -> set[str]:
    """The logs the inline log references of a row point into (what prune keeps)."""
    out = set()
    for _channel, (_version, entry) in decode(vals, versions, where).items():
        typed = inline_value(entry, where)
        if typed is not None and typed[0] == LOGREF:
            out.add(decode_ref(typed[1])[0])
    return out


def reseal(
    codec: ValueCodec,
    vals: bytes | memoryview,
    versions: Mapping[str, Any],
    keys: tuple[str, str, str],
    shown: str,
) -> bytes:
    """``vals`` of a row copied from thread key ``keys[0]`` to ``keys[1]`` (namespace ``keys[2]``):
    each inline value opened at its old place and sealed at its new one."""
    src, dst, ns = keys
    entries = decode(vals, versions, f"a checkpoint row of {shown!r}")
    out: Entries = {}
    for channel, (version, entry) in entries.items():
        typed = inline_value(entry, f"channel {channel!r} version {version}")
        if typed is not None:
            old, new = blob_place(src, ns, channel, version), blob_place(dst, ns, channel, version)
            entry = codec.reseal(typed, old, new, "blobs", shown)
        out[channel] = (version, entry)
    return encode(out, versions)


BlobKey = tuple[str, str, str, str]  # thread key, ns, channel, version (as the assembler's)


def resolve(
    rows: list[tuple[str, str, str, Mapping[str, Any], bytes | None]],
) -> tuple[dict[BlobKey, Typed | None], list[BlobKey], list[Entries | None]]:
    """Channel values of fetched rows ``(thread key, ns, checkpoint id, versions, vals)``:
    (the values known from the rows, the keys to read from the blobs table, each row's entries)."""
    known: dict[BlobKey, Typed | None] = {}
    fetch: dict[BlobKey, None] = {}
    per_row: list[Entries | None] = []
    for key, ns, cid, versions, vals in rows:
        entries = None if vals is None else decode(vals, versions, f"checkpoint {cid}")
        per_row.append(entries)
        for channel, version in versions.items():
            bkey = (key, ns, channel, str(version))
            if entries is None or (channel in entries and entries[channel][1] is None):
                fetch[bkey] = None  # a row of the first schema, or a large value
            elif channel in entries:
                known[bkey] = inline_value(entries[channel][1], f"channel {channel!r} of {cid}")
            else:
                known.setdefault(bkey, None)  # empty
    return known, [k for k in fetch if known.get(k) is None], per_row
