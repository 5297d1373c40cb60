"""Keyrings for encryption at rest: AES-GCM with named keys, so keys rotate without re-encrypting.

New values use the active key; old values decrypt with the key whose id they carry. Shared by chat
histories and checkpoints; it knows nothing of LangChain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigurationError, CorruptDataError

CIPHER_PREFIX = "aesgcm."


class AesGcmKeyring:
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
