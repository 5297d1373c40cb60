"""Messages to bytes and back, with langchain-core's own message dicts (lossless for every type).

Encoding assigns a time-ordered id to messages that have none, turns streamed chunks into whole
messages and enforces the size limit, so engines only ever see finished, identified bytes.
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

from .errors import CorruptDataError, MessageTooLargeError, SerializationError
from .ids import uuid7
from .records import EncodedMessage

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576


@dataclass(frozen=True)
class StoredMessage:
    """A decoded message with its 1-based position (``seq``) in the session log."""

    seq: int
    message: BaseMessage


def encode(
    messages: Sequence[BaseMessage], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> list[EncodedMessage]:
    """Encode a batch; any bad message fails the whole batch before anything is written.

    Chunks become whole messages and a message without an id gets a new one in its stored
    form; the caller's objects are not mutated.
    """
    encoded = []
    for position, message in enumerate(messages):
        if not isinstance(message, BaseMessage):
            raise SerializationError(
                f"expected a langchain_core BaseMessage, got {type(message).__name__}: wrap text in HumanMessage(...)"
            )
        if isinstance(message, BaseMessageChunk):
            message = message_chunk_to_message(message)
        record = message_to_dict(message)  # a fresh dict: safe to complete
        generated = not message.id
        if generated:
            record["data"]["id"] = uuid7()
        try:
            data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"message {position} ({message.type}) cannot be stored as JSON: {exc}. "
                "Keep additional_kwargs / response_metadata to JSON types (str, numbers, lists, dicts)."
            ) from exc
        if len(data) > max_bytes:
            raise MessageTooLargeError(
                f"message {position} ({message.type}) encodes to {len(data)} bytes, over the store's "
                f"max_message_bytes={max_bytes}: shorten it or raise max_message_bytes"
            )
        encoded.append(EncodedMessage(str(record["data"]["id"]), data, generated))
    return encoded


def decode_many(
    records: Sequence[tuple[int, bytes | str]], *, session_id: str
) -> list[BaseMessage]:
    """Decode a batch in one pass; on any failure, :func:`decode` each record to find the bad one."""
    try:
        return messages_from_dict(
            [json.loads(data.decode() if isinstance(data, bytes) else data) for _, data in records]
        )
    except Exception:  # noqa: BLE001 - the per-record pass below names the culprit
        return [decode(data, session_id=session_id, position=seq) for seq, data in records]


def decode(data: bytes | str, *, session_id: str, position: int) -> BaseMessage:
    """Decode one stored record; bad bytes raise :class:`CorruptDataError` naming where they are."""
    try:
        return messages_from_dict([json.loads(data)])[0]
    except Exception as exc:  # noqa: BLE001 - any failure here means the record is unreadable
        raise CorruptDataError(
            f"session {session_id!r}: stored message at position {position} cannot be decoded ({exc}); "
            "other messages of the session are still readable (read around it, or delete the session)",
            session_id=session_id,
            position=position,
        ) from exc
