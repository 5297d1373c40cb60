"""Pending writes that remove messages, stored with the removals as their ids.

A trim (``SessionMemoryMiddleware``, ``pre_model_hook``, a node returning removals and its reply)
writes a list starting with ``RemoveMessage(id=...)`` items; serialized as messages that is about
200 bytes per removal, as ids about 40, and 18 when every id is a UUID (LangGraph's ids for
input messages, LangChain's ``lc_run--<uuid>-0`` for replies). Only bare ``RemoveMessage``
objects (nothing but an id) leading a list whose plain serialization is unencrypted msgpack are stored this way (the rest of
the list serialized as usual after them), so a serializer that encrypts keeps encrypting.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from langchain_core.messages import RemoveMessage
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..errors import CorruptDataError
from .serde import Typed

REMOVALS = "sm.removals"
"""Type tag of a write led by removals: their ids, one per line (UTF-8; deflated behind
``\\0<4-byte length>`` when that is shorter), then, if the list goes on, ``\\0<type>\\0<bytes>``
of the rest as the serializer stores it."""
UUID_REMOVALS = "sm.removals16"
"""Type tag of a write led by removals whose ids are all a known prefix and a UUID in its usual
text and an optional ``-<n>`` (n < 255): the count (4 bytes), per id the prefix's index, n + 1
or 0 (one byte each) and the UUID (16 bytes), then, if the list goes on, ``\\0<type>\\0<bytes>``
as above."""
PREFIXES = ("", "lc_run--", "run-")
"""Id prefixes of the UUID form, by index (frozen: stored writes depend on it; append only)."""
_UUID_ID = re.compile(
    r"(|lc_run--|run-)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?:-(0|[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-3]))?"
)
_MAX_IDS = 1 << 24  # bytes of ids a damaged deflate stream may expand to before it is refused


def _deflate(text: bytes) -> bytes:
    """``text``, or its raw deflate stream behind ``\\0`` and its length when that is shorter
    (random ids are hex: about half their size)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = co.compress(text) + co.flush()
    if len(packed) + 5 >= len(text):
        return text
    return b"\0" + len(packed).to_bytes(4, "big") + packed


def _inflate(data: bytes) -> tuple[bytes, bytes]:
    """(ids text, what follows it) of stored removals."""
    if not data.startswith(b"\0"):
        text, sep, rest = data.partition(b"\0")
        return text, sep + rest
    n = int.from_bytes(data[1:5], "big")
    do = zlib.decompressobj(-15)
    text = do.decompress(data[5 : 5 + n], _MAX_IDS)
    if len(data) < 5 + n or do.unconsumed_tail or not do.eof:
        raise ValueError("the deflated ids are cut short or too long")
    return text, data[5 + n :]


def _bare(m: Any) -> bool:
    return (
        type(m) is RemoveMessage
        and isinstance(m.id, str)
        and bool(m.id)
        and "\n" not in m.id
        and "\0" not in m.id
        and m == RemoveMessage(id=m.id)
    )


def compact(serde: SerializerProtocol, value: Any, plain: Typed, *, deflate: bool = True) -> Typed:
    """``plain`` (the serde's bytes of ``value``), or the ids form for a list led by removals
    (``deflate=False`` for values that will be sealed: no compression under encryption)."""
    if plain[0] != "msgpack" or type(value) is not list or not value or not _bare(value[0]):
        return plain
    n = 1
    while n < len(value) and _bare(value[n]):
        n += 1
    ids = [m.id for m in value[:n]]
    found = [_UUID_ID.fullmatch(i) for i in ids]
    if all(found):
        tag, data = UUID_REMOVALS, n.to_bytes(4, "big")
        for f in found:
            suffix = 0 if f[3] is None else int(f[3]) + 1
            data += bytes((PREFIXES.index(f[1]), suffix)) + bytes.fromhex(f[2].replace("-", ""))
    else:
        tag, data = REMOVALS, "\n".join(ids).encode()
        data = _deflate(data) if deflate else data
    if n < len(value):
        typ, rest = serde.dumps_typed(value[n:])
        if typ != "msgpack":
            return plain
        data += b"\0" + typ.encode() + b"\0" + bytes(rest)
    return tag, data


def _uuids(data: bytes) -> tuple[list[str], bytes]:
    """(ids, what follows them) of the UUID form."""
    n = int.from_bytes(data[:4], "big")
    end = 4 + 18 * n
    if len(data) < end or n == 0:
        raise ValueError("the ids are cut short")
    ids = []
    for k in range(4, end, 18):
        h, n_1 = data[k + 2 : k + 18].hex(), data[k + 1]
        suffix = f"-{n_1 - 1}" if n_1 else ""
        ids.append(f"{PREFIXES[data[k]]}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}{suffix}")
    return ids, data[end:]


def expand(
    serde: SerializerProtocol, data: bytes, path: str, thread_id: str, tag: str = REMOVALS
) -> list[Any]:
    """The list stored by :func:`compact` under ``tag``."""
    try:
        if tag == UUID_REMOVALS:
            ids, rest = _uuids(bytes(data))
        else:
            ids_part, rest = _inflate(bytes(data))
            ids = ids_part.decode().split("\n")
        sep, rest = rest[:1], rest[1:]
        if not all(ids):
            raise ValueError("an empty message id")
        if sep not in (b"", b"\0"):
            raise ValueError("the ids are followed by something else")
        out: list[Any] = [RemoveMessage(id=i) for i in ids]
        if sep:
            typ, sep2, raw = rest.partition(b"\0")
            tail = serde.loads_typed((typ.decode(), raw)) if sep2 else None
            if type(tail) is not list:
                raise ValueError("the messages after the removals are not a list")
            out += tail
    except Exception as exc:  # noqa: BLE001 - any damage is reported the same way
        raise CorruptDataError(
            f"{path} of thread {thread_id!r} is damaged: {exc}", session_id=thread_id
        ) from exc
    return out
