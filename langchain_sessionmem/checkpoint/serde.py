"""Safe serialization for checkpoints: strict msgpack allow-list, no pickle, optional AES-GCM.

Why strict: loading a checkpoint can build arbitrary objects with LangGraph's permissive default.
The strict serializer admits stdlib, message and LangGraph types, plus schema types added with
``saver.with_allowlist(...)``. Encryption wraps it with keys identified by id, so keys can rotate:
new values use the active key, old values decrypt with the key whose id they carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ..crypto import Keyring
from ..errors import CorruptDataError, SerializationError


def default_serde() -> JsonPlusSerializer:
    """LangGraph's serializer with the strict msgpack allow-list and no pickle fallback."""
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


class StrictEncryptedSerializer(EncryptedSerializer):
    """Like ``EncryptedSerializer`` but refuses plaintext on load (no silent downgrade)."""

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if "+" not in data[0] and data[0] != "null":
            raise CorruptDataError(
                f"refusing an unencrypted value of type {data[0]!r}: this saver requires encryption"
            )
        return super().loads_typed(data)


class KeyringCipher:
    """LangGraph's ``CipherProtocol`` over a :class:`Keyring` (cipher name ``aesgcm``)."""

    def __init__(self, keyring: Keyring):
        self.keyring = keyring

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return "aesgcm", self.keyring.encrypt(plaintext, b"")

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != "aesgcm":
            raise CorruptDataError(f"unknown cipher {ciphername!r}: expected 'aesgcm'")
        return self.keyring.decrypt(ciphertext, b"")


def encrypted_serde(
    keys: Mapping[str, bytes], active_key_id: str, serde: SerializerProtocol | None = None
) -> StrictEncryptedSerializer:
    """The strict serializer wrapped in AES-GCM with rotating key ids."""
    return StrictEncryptedSerializer(
        KeyringCipher(Keyring(keys, active_key_id)), serde or default_serde()
    )


def with_allowlist(serde: SerializerProtocol, extra: Any) -> SerializerProtocol:
    """Extend the msgpack allow-list, keeping our strict encrypted wrapper if present."""
    if isinstance(serde, StrictEncryptedSerializer) and isinstance(serde.serde, JsonPlusSerializer):
        return StrictEncryptedSerializer(serde.cipher, serde.serde.with_msgpack_allowlist(extra))
    if isinstance(serde, JsonPlusSerializer):
        return serde.with_msgpack_allowlist(extra)
    if isinstance(serde, EncryptedSerializer) and isinstance(serde.serde, JsonPlusSerializer):
        return EncryptedSerializer(serde.cipher, serde.serde.with_msgpack_allowlist(extra))
    return serde


Typed = tuple[str, bytes]
"""A serialized value: (type tag, bytes)."""


def dump(serde: SerializerProtocol, value: Any, path: str) -> Typed:
    """Serialize ``value``; a failure names the state path instead of a bare msgpack error."""
    try:
        return serde.dumps_typed(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot store {path} ({type(value).__name__}): {exc}. Checkpoints hold msgpack-serializable "
            "values (str, numbers, lists, dicts, LangChain messages, dataclasses, pydantic models)"
        ) from exc


def load(serde: SerializerProtocol, typed: Typed, path: str, thread_id: str) -> Any:
    try:
        return serde.loads_typed(typed)
    except Exception as exc:
        raise CorruptDataError(
            f"cannot decode {path} of thread {thread_id!r} (type {typed[0]!r}): {exc}",
            session_id=thread_id,
        ) from exc
