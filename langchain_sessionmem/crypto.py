"""Encryption at rest: an AES-GCM keyring whose ciphertexts are bound to the place they are stored.

- Keys have ids, so they rotate: the active key encrypts, every listed key still decrypts what it
  wrote (the key id travels in the ciphertext header).
- Every ciphertext is bound by associated data to its place (namespace, owner, session or thread,
  record): bytes copied to another place fail to decrypt with :class:`CorruptDataError`.
- With ``per_user_keys=True`` each user's data is encrypted under a data key of its own, stored
  wrapped by the keyring; erasing the user destroys that key (crypto-shredding), so backups of
  the erased user's data become unreadable.

Nothing here knows LangChain or any backend; histories and savers call :class:`Sealer`.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping

from .errors import ConfigurationError, CorruptDataError, KeyUnavailableError
from .opened import DEFAULT_MAX_BYTES, OpenedCache

MAGIC = b"\x00sm1"
"""Every sealed value starts with these bytes (no JSON or msgpack value does)."""
_NONCE = 12
_DEK_PLACE = "data-key"
_SERIALS = itertools.count()


@functools.lru_cache(maxsize=4096)
def _aead(key: bytes):  # type: ignore[no-untyped-def]
    """The AES-GCM cipher of ``key``, built once per key (per-user data keys repeat every turn)."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "encryption needs the 'cryptography' package: "
            "pip install 'langchain-sessionmem[crypto]'"
        ) from exc
    return AESGCM(key)


def _head(kid: str) -> bytes:
    raw = kid.encode()
    return MAGIC + bytes([len(raw)]) + raw


def _part(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(4, "big") + raw


@functools.lru_cache(maxsize=4096)
def _owner_prefix(namespace: str, owner: str | None) -> bytes:
    return _part(namespace) + _part("" if owner is None else "u:" + owner)


def aad(namespace: str, owner: str | None, *place: str) -> bytes:
    """The associated data of a place: unambiguous (each part length-prefixed)."""
    return _owner_prefix(namespace, owner) + b"".join([_part(p) for p in place])


def is_sealed(data: bytes | bytearray | memoryview | None) -> bool:
    return data is not None and bytes(data[: len(MAGIC)]) == MAGIC


class Keyring:
    """Named AES keys (16, 24 or 32 bytes); ``active_key_id`` encrypts, all of them decrypt.

    ``per_user_keys=True`` encrypts each user's data under its own data key, wrapped by the
    active key and stored by the engine; :meth:`SessionStore.delete_user` destroys it.

    ``opened_cache_bytes`` bounds each store's cache of decrypted messages (recent messages are
    read every turn; an exact match of the stored bytes skips their decryption). ``0`` turns
    it off, so plaintext lives in the process only while a call uses it.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active_key_id: str,
        *,
        per_user_keys: bool = False,
        opened_cache_bytes: int = DEFAULT_MAX_BYTES,
    ):
        if not keys:
            raise ConfigurationError("a Keyring needs at least one key: Keyring({'k1': key}, 'k1')")
        if active_key_id not in keys:
            raise ConfigurationError(
                f"active key id {active_key_id!r} is not among the keys {sorted(keys)}"
            )
        for kid, key in keys.items():
            if not isinstance(kid, str) or not kid or len(kid.encode()) > 64:
                raise ConfigurationError(f"key id {kid!r} must be a non-empty str of <= 64 bytes")
            if not isinstance(key, (bytes, bytearray)) or len(key) not in (16, 24, 32):
                raise ConfigurationError(
                    f"key {kid!r} must be 16, 24 or 32 bytes (e.g. os.urandom(32))"
                )
        if not isinstance(opened_cache_bytes, int) or opened_cache_bytes < 0:
            raise ConfigurationError(
                f"opened_cache_bytes={opened_cache_bytes!r} must be an int >= 0 (0 disables it)"
            )
        self._keys = {kid: _aead(bytes(key)) for kid, key in keys.items()}
        self.active_key_id = active_key_id
        self.per_user_keys = per_user_keys
        self.opened_cache_bytes = opened_cache_bytes

    # -- sealing -----------------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, associated: bytes, *, key: bytes | None = None) -> bytes:
        """``MAGIC | len(kid) | kid | nonce | ciphertext``; ``key`` is a user's data key."""
        kid = "" if key is not None else self.active_key_id
        aead = _aead(key) if key is not None else self._keys[kid]
        nonce = os.urandom(_NONCE)
        head = _head(kid)
        return head + nonce + aead.encrypt(nonce, plaintext, head + associated)

    def decrypt(self, sealed: bytes, associated: bytes, *, key: bytes | None = None) -> bytes:
        """The plaintext, or :class:`CorruptDataError` (moved, tampered, not encrypted) /
        :class:`KeyUnavailableError` (written with a key id this keyring lacks)."""
        sealed = bytes(sealed)
        if not is_sealed(sealed):
            raise CorruptDataError(
                "refusing an unencrypted value: this store requires encryption (the value was "
                "written without it, or the bytes were replaced)"
            )
        n = sealed[len(MAGIC)]
        start = len(MAGIC) + 1
        kid = sealed[start : start + n].decode("utf-8", "replace")
        head, body = sealed[: start + n], sealed[start + n :]
        if kid:
            if kid not in self._keys:
                raise KeyUnavailableError(
                    f"the value was encrypted with key id {kid!r}, which this keyring lacks: "
                    f"add that key to Keyring(...) (known: {sorted(self._keys)})",
                    key_id=kid,
                )
            aead = self._keys[kid]
        elif key is None:
            raise KeyUnavailableError(
                "the value was encrypted with a user's data key, which is gone (the user was "
                "erased) or was not given",
                key_id="<user data key>",
            )
        else:
            aead = _aead(key)
        try:
            return bytes(aead.decrypt(body[:_NONCE], body[_NONCE:], head + associated))
        except Exception as exc:  # noqa: BLE001 - InvalidTag and malformed input alike
            raise CorruptDataError(
                f"decryption with key {kid or '<user data key>'!r} failed: the value was "
                "tampered with, moved from another place, or written with another key"
            ) from exc

    # -- per-user data keys ------------------------------------------------------------------
    def new_data_key(self, namespace: str, user_id: str) -> tuple[bytes, bytes]:
        """A fresh data key for ``user_id`` and its wrapped form (to store)."""
        dek = os.urandom(32)
        return dek, self.encrypt(dek, aad(namespace, user_id, _DEK_PLACE))

    def unwrap(self, wrapped: bytes, namespace: str, user_id: str) -> bytes:
        return self.decrypt(wrapped, aad(namespace, user_id, _DEK_PLACE))

    def __repr__(self) -> str:  # never print key material
        return (
            f"Keyring(key_ids={sorted(self._keys)}, active={self.active_key_id!r}, "
            f"per_user_keys={self.per_user_keys})"
        )


@functools.lru_cache(maxsize=4096)
def _message_place(session_id: str) -> bytes:
    """The associated data of a session's messages, up to the message id."""
    return _part("session") + _part(session_id) + _part("message")


def _places(place: tuple[str, ...]) -> bytes:
    return b"".join([_part(p) for p in place])


class Sealer:
    """Encryption bound to one owner in one namespace: ``seal(data, *place)`` / ``open(...)``.

    ``place`` names where the bytes live (``"session", sid, "message", message_id`` or
    ``"thread", tid, "blob", channel, version``); the same place must be given to open them.
    The header and the owner's part of the associated data are built once per sealer, so a
    seal or an open costs the AES-GCM call plus a few concatenations. ``opened`` is the
    store's :class:`~langchain_sessionmem.opened.OpenedCache` (messages only; see codec).
    """

    __slots__ = (
        "keyring",
        "namespace",
        "owner",
        "data_key",
        "opened",
        "scope",
        "_aead",
        "_head",
        "_own",
        "_lead",
    )

    def __init__(
        self,
        keyring: Keyring,
        namespace: str,
        owner: str | None,
        data_key: bytes | None = None,
        opened: OpenedCache | None = None,
    ):
        self.keyring = keyring
        self.namespace = namespace
        self.owner = owner
        self.data_key = data_key
        self.opened = opened
        self.scope = (owner, next(_SERIALS))  # what opened values are filed under
        kid = "" if data_key is not None else keyring.active_key_id
        self._aead = _aead(bytes(data_key)) if data_key is not None else keyring._keys[kid]
        self._head = _head(kid)
        self._own = _owner_prefix(namespace, owner)
        self._lead = self._head + self._own  # every associated data of this sealer starts so

    def _seal(self, data: bytes, place: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return b"".join((self._head, nonce, self._aead.encrypt(nonce, data, self._lead + place)))

    def _open(self, sealed: bytes, place: bytes) -> bytes:
        head = self._head
        n = len(head)
        if sealed[:n] == head:  # written with this sealer's key: no header parsing, no lookup
            try:
                return self._aead.decrypt(  # type: ignore[no-any-return]
                    sealed[n : n + _NONCE], sealed[n + _NONCE :], self._lead + place
                )
            except Exception:  # noqa: BLE001, S110 - the keyring's pass below names the failure
                pass
        return self.keyring.decrypt(sealed, self._own + place, key=self.data_key)

    def seal(self, data: bytes, *place: str) -> bytes:
        return self._seal(data, _places(place))

    def open(self, sealed: bytes, *place: str) -> bytes:
        return self._open(sealed, _places(place))

    def seal_message(self, data: bytes, session_id: str, message_id: str) -> bytes:
        """``seal(data, "session", session_id, "message", message_id)``, faster."""
        mid = message_id.encode()
        return self._seal(data, _message_place(session_id) + len(mid).to_bytes(4, "big") + mid)

    def seal_messages(self, session_id: str, items: list[tuple[str, bytes]]) -> list[bytes]:
        """``seal_message`` of each ``(message_id, data)``; one random draw makes all nonces."""
        nonces = os.urandom(_NONCE * len(items))
        head, lead, aead = self._head, self._lead + _message_place(session_id), self._aead
        out = []
        for i, (message_id, data) in enumerate(items):
            mid = message_id.encode()
            nonce = nonces[i * _NONCE : (i + 1) * _NONCE]
            box = aead.encrypt(nonce, data, lead + len(mid).to_bytes(4, "big") + mid)
            out.append(b"".join((head, nonce, box)))
        return out

    def open_message(self, sealed: bytes, session_id: str, message_id: str) -> bytes:
        """``open(sealed, "session", session_id, "message", message_id)``, faster."""
        mid = message_id.encode()
        return self._open(sealed, _message_place(session_id) + len(mid).to_bytes(4, "big") + mid)

    def __repr__(self) -> str:  # never print key material
        return f"Sealer(namespace={self.namespace!r}, owner={self.owner!r}, {self.keyring!r})"


class DataKeyCache:
    """Unwrapped per-user data keys of this process, bounded (an LRU), dropped on erase."""

    def __init__(self, maxsize: int = 4096):
        self.maxsize = maxsize
        self._keys: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, user_id: str) -> bytes | None:
        with self._lock:
            key = self._keys.get((namespace, user_id))
            if key is not None:
                self._keys.move_to_end((namespace, user_id))
            return key

    def put(self, namespace: str, user_id: str, key: bytes) -> None:
        with self._lock:
            self._keys[(namespace, user_id)] = key
            while len(self._keys) > self.maxsize:
                self._keys.popitem(last=False)

    def drop(self, namespace: str, user_id: str) -> None:
        with self._lock:
            self._keys.pop((namespace, user_id), None)


AesGcmKeyring = Keyring
"""The name this class had before it covered chat histories too."""
