"""Safe serialization for checkpoints: strict msgpack allow-list, no pickle, optional AES-GCM.

Why strict: loading a checkpoint can build arbitrary objects with LangGraph's permissive default.
The strict serializer admits stdlib, message and LangGraph types, plus schema types added with
``saver.with_allowlist(...)``. Encryption wraps it with keys identified by id, so keys can rotate:
new values use the active key, old values decrypt with the key whose id they carry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.serde.base import CipherProtocol, SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ..errors import ConfigurationError, CorruptDataError

CIPHER_PREFIX = "aesgcm."


def default_serde() -> JsonPlusSerializer:
    """LangGraph's serializer with the strict msgpack allow-list and no pickle fallback."""
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


class AesGcmKeyring(CipherProtocol):
    """AES-256-GCM with named keys; the cipher name carries the key id (``aesgcm.<kid>``)."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str):
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "encryption needs the 'cryptography' package: pip install 'langchain-sessionmem[crypto]'"
            ) from exc
        if active_key_id not in keys:
            raise ConfigurationError(
                f"active key id {active_key_id!r} is not among the keys {sorted(keys)}"
            )
        for kid, key in keys.items():
            if not kid or "." in kid or "+" in kid:
                raise ConfigurationError(f"key id {kid!r} must be non-empty without '.' or '+'")
            if len(key) not in (16, 24, 32):
                raise ConfigurationError(f"key {kid!r} must be 16, 24 or 32 bytes, got {len(key)}")
        self._aead = {kid: AESGCM(bytes(key)) for kid, key in keys.items()}
        self.active_key_id = active_key_id

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        return CIPHER_PREFIX + self.active_key_id, nonce + self._aead[self.active_key_id].encrypt(
            nonce, plaintext, None
        )

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if not ciphername.startswith(CIPHER_PREFIX):
            raise CorruptDataError(
                f"unknown cipher {ciphername!r}: expected {CIPHER_PREFIX}<key id>"
            )
        kid = ciphername[len(CIPHER_PREFIX) :]
        if kid not in self._aead:
            raise CorruptDataError(
                f"value was encrypted with key id {kid!r}, which is not configured"
            )
        try:
            return self._aead[kid].decrypt(ciphertext[:12], ciphertext[12:], None)
        except Exception as exc:
            raise CorruptDataError(
                f"decryption with key {kid!r} failed (tampered data or wrong key)"
            ) from exc


class StrictEncryptedSerializer(EncryptedSerializer):
    """Like ``EncryptedSerializer`` but refuses plaintext on load (no silent downgrade)."""

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if "+" not in data[0] and data[0] != "null":
            raise CorruptDataError(
                f"refusing an unencrypted value of type {data[0]!r}: this saver requires encryption"
            )
        return super().loads_typed(data)


def encrypted_serde(
    keys: Mapping[str, bytes], active_key_id: str, serde: SerializerProtocol | None = None
) -> StrictEncryptedSerializer:
    """The strict serializer wrapped in AES-GCM with rotating key ids."""
    return StrictEncryptedSerializer(AesGcmKeyring(keys, active_key_id), serde or default_serde())


def with_allowlist(serde: SerializerProtocol, extra: Any) -> SerializerProtocol:
    """Extend the msgpack allow-list, keeping our strict encrypted wrapper if present."""
    if isinstance(serde, StrictEncryptedSerializer) and isinstance(serde.serde, JsonPlusSerializer):
        return StrictEncryptedSerializer(serde.cipher, serde.serde.with_msgpack_allowlist(extra))
    if isinstance(serde, JsonPlusSerializer):
        return serde.with_msgpack_allowlist(extra)
    if isinstance(serde, EncryptedSerializer) and isinstance(serde.serde, JsonPlusSerializer):
        return EncryptedSerializer(serde.cipher, serde.serde.with_msgpack_allowlist(extra))
    return serde
