"""Serialization for checkpoints: LangGraph's own defaults, strict one option away, no pickle.

By default a saver serializes as LangGraph's savers do (``JsonPlusSerializer()``): user types in
state (pydantic models, dataclasses, ``AgentAction``) come back as themselves, with LangGraph's
warning for types not on an allow-list, and ``LANGGRAPH_STRICT_MSGPACK=true`` makes it strict
(then LangGraph hands the graph's schema types to ``saver.with_allowlist(...)``). ``strict=True``
(or ``serde=default_serde(strict=True)``) admits only stdlib, message and LangGraph types plus
what ``with_allowlist`` adds, whatever the environment: loading a checkpoint can otherwise build
arbitrary importable objects. ``encrypted_serde`` wraps a serializer in AES-GCM with key ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ..crypto import Keyring
from ..errors import CorruptDataError, SerializationError


def default_serde(*, strict: bool = False) -> JsonPlusSerializer:
    """LangGraph's serializer at LangGraph's defaults; ``strict=True``: only the safe msgpack
    allow-list (plus ``with_allowlist`` additions). Never a pickle fallback."""
    if strict:
        return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
    return JsonPlusSerializer(pickle_fallback=False)


def strict_serde() -> JsonPlusSerializer:
    """``default_serde(strict=True)``."""
    return default_serde(strict=True)


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
