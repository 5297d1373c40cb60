"""Stored checkpoint values: the serde, then (with encryption) a seal bound to the value's place.

A place names where the bytes live: the thread key and the record (checkpoint, blob, write, log
item), so ciphertext copied into another thread or record fails to open with
:class:`CorruptDataError`. Structural values (log references, "cleared" markers) carry no state
and stay readable to the engines (Redis scripts follow log references); checkpoint metadata is
plaintext JSON so ``list(filter=...)`` can run in the engine.

Every function of ``checkpoint/`` that decodes or encodes takes either a plain serializer or a
:class:`ValueCodec` (see :func:`as_codec`), so savers without encryption keep passing ``self.serde``.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ..crypto import Sealer
from ..errors import CorruptDataError, KeyUnavailableError
from .headers import HEADER, pack_header, read_header
from .removals import REMOVALS, UUID_REMOVALS, compact, expand
from .serde import Typed, dump, load

LOGREF = "sm.logref"
"""Blob type of a channel version stored as a reference into an append-only log."""
EMPTY = "empty"
"""Blob type of a channel version that has no value (the channel was cleared)."""
STRUCTURAL = frozenset({LOGREF, EMPTY})
SEALED = "+sealed"
"""Suffix of the type tag of a sealed value (the tag itself stays readable)."""

Place = tuple[str, ...]


def checkpoint_place(key: str, ns: str, checkpoint_id: str) -> Place:
    return ("thread", key, "checkpoint", ns, checkpoint_id)


def blob_place(key: str, ns: str, channel: str, version: str) -> Place:
    return ("thread", key, "blob", ns, channel, str(version))


def write_place(key: str, ns: str, checkpoint_id: str, task_id: str, idx: int) -> Place:
    return ("thread", key, "write", ns, str(checkpoint_id), task_id, str(idx))


def log_place(key: str, ns: str, log_id: str, seq: int) -> Place:
    return ("thread", key, "log", ns, log_id, str(seq))


class ValueCodec:
    """``serde`` plus an optional :class:`~langchain_sessionmem.crypto.Sealer` of one owner."""

    def __init__(self, serde: SerializerProtocol, sealer: Sealer | None = None):
        self.serde = serde
        self.sealer = sealer

    @property
    def sealing(self) -> bool:
        return self.sealer is not None

    def dump_plain(self, value: Any, path: str) -> Typed:
        """Serialized, not sealed (what digests and re-sealing work on)."""
        return dump(self.serde, value, path)

    def seal(self, plain: Typed, place: Place) -> Typed:
        if self.sealer is None or plain[0] in STRUCTURAL:
            return plain
        return plain[0] + SEALED, self.sealer.seal(bytes(plain[1]), *place)

    def dump(self, value: Any, path: str, place: Place) -> Typed:
        kind = place[2:3]
        if kind == ("checkpoint",) and isinstance(self.serde, JsonPlusSerializer):
            # the serializer stores a header's plain types as plain msgpack: nothing of it is lost
            header = pack_header(value, place[4])
            if header is not None:
                return self.seal((HEADER, header), place)
        plain = self.dump_plain(value, path)
        if kind == ("write",):  # a trim's removals: stored as the ids (removals.py)
            plain = compact(self.serde, value, plain, deflate=not self.sealing)
        return self.seal(plain, place)

    def open(self, typed: Typed, place: Place, path: str, thread_id: str) -> Typed:
        """The serialized value at ``place``; a moved, tampered or unsealed value is refused."""
        typ, data = typed
        if not isinstance(typ, str):
            raise CorruptDataError(
                f"{path} of thread {thread_id!r} has no type tag (found {typ!r})",
                session_id=thread_id,
            )
        if typ in STRUCTURAL:
            return typed
        if typ.endswith(SEALED):
            if self.sealer is None:
                raise KeyUnavailableError(
                    f"{path} of thread {thread_id!r} is encrypted: build the saver (or the store) "
                    "with encryption=Keyring(...) holding its key"
                )
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise CorruptDataError(
                    f"{path} of thread {thread_id!r} is damaged: sealed bytes expected, found "
                    f"{type(data).__name__}",
                    session_id=thread_id,
                )
            try:
                return typ[: -len(SEALED)], self.sealer.open(bytes(data), *place)
            except KeyUnavailableError as exc:
                raise KeyUnavailableError(
                    f"cannot open {path} of thread {thread_id!r}: {exc}", key_id=exc.key_id
                ) from exc
            except CorruptDataError as exc:
                raise CorruptDataError(
                    f"cannot open {path} of thread {thread_id!r}: {exc}", session_id=thread_id
                ) from exc
        if self.sealer is not None:
            raise CorruptDataError(
                f"refusing the unencrypted {path} of thread {thread_id!r}: this saver requires "
                "encryption (the value was written without it, or the bytes were replaced)",
                session_id=thread_id,
            )
        return typed

    def load(self, typed: Typed, path: str, thread_id: str, place: Place) -> Any:
        plain = self.open(typed, place, path, thread_id)
        if plain[0] in (REMOVALS, UUID_REMOVALS):
            return expand(self.serde, plain[1], path, thread_id, plain[0])
        if plain[0] == HEADER:
            return read_header(plain[1], place[4], thread_id)
        return load(self.serde, plain, path, thread_id)

    def reseal(self, typed: Typed, old: Place, new: Place, path: str, thread_id: str) -> Typed:
        """The value moved on purpose (``copy_thread``): open it at ``old``, seal it at ``new``."""
        if self.sealer is None:
            return typed
        return self.seal(self.open(typed, old, path, thread_id), new)


def as_codec(serde: SerializerProtocol | ValueCodec) -> ValueCodec:
    """A codec for ``serde`` (one that seals nothing for a plain serializer)."""
    return serde if isinstance(serde, ValueCodec) else ValueCodec(serde)
