"""Messages to stored bytes and back, with langchain-core's own message dicts (lossless for every type).

Encoding assigns a time-ordered id to messages that have none, turns streamed chunks into whole
messages, enforces the size limit and, with a :class:`~langchain_sessionmem.crypto.Sealer`,
encrypts each message bound to its session and id (remembering the plaintext of what it sealed
or opened in the store's bounded cache, keyed by the exact stored bytes, so the messages a turn
reads again are not decrypted again). Engines only ever see finished, identified bytes;
LangChain knowledge stays above the backends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import (
    BaseMessage,
    BaseMessageChunk,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)

from .crypto import Sealer
from .errors import (
    CorruptDataError,
    KeyUnavailableError,
    MessageTooLargeError,
    SerializationError,
)
from .ids import uuid7, validate_id
from .records import EncodedMessage

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
MAX_DEPTH = 100
"""How deeply stored JSON may nest: deeper payloads are refused before they reach the encoder."""
_ID_SEP = b"\x00"
_DUMP = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_SCALARS = (str, int, float, bool, type(None))


def _shallow(record: dict) -> bool:
    """A message dict whose fields are scalars or flat containers (the usual case): it cannot nest
    deeply, so the full walk of :func:`depth_ok` is skipped."""
    for value in record["data"].values():
        if isinstance(value, _SCALARS):
            continue
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(value, (dict, list)) or not all(isinstance(v, _SCALARS) for v in items):
            return False
    return True


@dataclass(frozen=True)
class StoredMessage:
    """A decoded message with its 1-based position (``seq``) in the session log."""

    seq: int
    message: BaseMessage


def depth_ok(value: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests at most ``limit`` containers deep (iteratively: no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth >= limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def encode(
    messages: Sequence[BaseMessage],
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    *,
    sealer: Sealer | None = None,
    session_id: str = "",
) -> list[EncodedMessage]:
    """Encode a batch; any bad message fails the whole batch before anything is written.

    Chunks become whole messages and a message without an id gets a new one in its stored
    form; the caller's objects are not mutated. With ``sealer`` each record is encrypted, bound
    to ``session_id`` and its message id (the id stays readable in front of the ciphertext).
    """
    encoded = []  # (id, JSON bytes, generated)
    for position, message in enumerate(messages):
        if not isinstance(message, BaseMessage):
            raise SerializationError(
                f"expected a langchain_core BaseMessage, got {type(message).__name__}: "
                "wrap text in HumanMessage(...)"
            )
        if isinstance(message, BaseMessageChunk):
            message = message_chunk_to_message(message)
        record = message_to_dict(message)  # a fresh dict: safe to complete
        generated = not message.id
        if generated:
            message_id = record["data"]["id"] = uuid7()  # valid by construction
        else:
            message_id = validate_id(str(record["data"]["id"]), f"message {position}'s id")
        if not _shallow(record) and not depth_ok(record):
            raise SerializationError(
                f"message {position} ({message.type}) nests more than {MAX_DEPTH} levels deep: "
                "flatten additional_kwargs / content before storing it"
            )
        try:
            data = _DUMP(record).encode()
        except (TypeError, ValueError, RecursionError, UnicodeError) as exc:
            raise SerializationError(
                f"message {position} ({message.type}) cannot be stored as JSON: {exc}. Keep "
                "additional_kwargs / response_metadata to JSON types (str, numbers, lists, dicts)."
            ) from exc
        if len(data) > max_bytes:
            raise MessageTooLargeError(
                f"message {position} ({message.type}) encodes to {len(data)} bytes, over the "
                f"store's max_message_bytes={max_bytes}: shorten it or raise max_message_bytes"
            )
        encoded.append((message_id, data, generated))
    if sealer is not None:
        return _sealed(encoded, sealer, session_id)
    return [EncodedMessage(*item) for item in encoded]


def _sealed(
    encoded: list[tuple[str, bytes, bool]], sealer: Sealer, session_id: str
) -> list[EncodedMessage]:
    """``id NUL ciphertext`` per message, the batch sealed in one call; the plaintext of each
    record goes into the store's opened cache, since the next turn reads it back."""
    sealed = sealer.seal_messages(session_id, [(mid, data) for mid, data, _ in encoded])
    out, fresh, scope = [], [], sealer.scope
    for (mid, data, generated), box in zip(encoded, sealed, strict=True):
        record = mid.encode() + _ID_SEP + box
        out.append(EncodedMessage(mid, record, generated))
        fresh.append(((scope, session_id, record), data))
    if sealer.opened is not None:
        sealer.opened.put_many(fresh)
    return out


def _plain(data: bytes | str, sealer: Sealer | None, session_id: str) -> bytes | str:
    """The JSON text of a stored record (decrypted with ``sealer``, which checks its place)."""
    if sealer is None:
        return data
    raw = data.encode() if isinstance(data, str) else bytes(data)
    opened = sealer.opened
    if opened is not None:  # exactly these bytes, at this place, already opened by this sealer
        key = (sealer.scope, session_id, raw)
        plain = opened.get(key)
        if plain is not None:
            return plain
    message_id, sep, sealed = raw.partition(_ID_SEP)
    if not sep:
        raise CorruptDataError("the record is not encrypted, but this store requires encryption")
    plain = sealer.open_message(sealed, session_id, message_id.decode("utf-8", "replace"))
    if opened is not None:
        opened.put(key, plain)
    return plain


def _texts(
    records: Sequence[tuple[int, bytes | str]], sealer: Sealer | None, session_id: str
) -> list[bytes | str]:
    """The JSON text of each record; messages this sealer already opened cost one lookup each."""
    opened = None if sealer is None else sealer.opened
    if opened is None:
        return [_plain(data, sealer, session_id) for _, data in records]
    get, scope = opened.get, sealer.scope  # _plain's key, built inline: a turn reads ~20
    texts = [get((scope, session_id, data)) for _, data in records]
    if not all(texts):  # a miss (no stored JSON text is empty)
        texts = [
            _plain(data, sealer, session_id) if text is None else text
            for text, (_, data) in zip(texts, records, strict=True)
        ]
    return texts


def decode_many(
    records: Sequence[tuple[int, bytes | str]], *, session_id: str, sealer: Sealer | None = None
) -> list[BaseMessage]:
    """Decode a batch in one pass; on any failure, :func:`decode` each record to find the bad one."""
    try:
        texts = _texts(records, sealer, session_id)
        return messages_from_dict(
            [json.loads(t.decode() if isinstance(t, bytes) else t) for t in texts]
        )
    except Exception:  # noqa: BLE001 - the per-record pass below names the culprit
        return [
            decode(data, session_id=session_id, position=seq, sealer=sealer)
            for seq, data in records
        ]


def decode(
    data: bytes | str, *, session_id: str, position: int, sealer: Sealer | None = None
) -> BaseMessage:
    """Decode one stored record; bad bytes raise :class:`CorruptDataError` naming where they are."""
    try:
        return messages_from_dict([json.loads(_plain(data, sealer, session_id))])[0]
    except KeyUnavailableError:
        raise
    except CorruptDataError as exc:
        raise CorruptDataError(
            f"session {session_id!r}: stored message at position {position}: {exc}",
            session_id=session_id,
            position=position,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any failure here means the record is unreadable
        raise CorruptDataError(
            f"session {session_id!r}: stored message at position {position} cannot be decoded "
            f"({exc}); other messages of the session are still readable (read around it, or "
            "delete the session)",
            session_id=session_id,
            position=position,
        ) from exc
