"""A bounded cache of opened (decrypted) values, keyed by the exact sealed bytes and their place.

A chat turn reads the same recent messages every time; opening each again costs an AES-GCM
decryption plus framing. :class:`OpenedCache` remembers the plaintext of sealed bytes this
process sealed or opened, so reading them again is a dict lookup. It never serves plaintext for
other bytes: the key is the full stored value (key id, nonce, ciphertext and tag) together with
the sealer (owner and key) and the place it was opened at, and only an exact match hits; moved,
tampered or foreign bytes miss and go through the real decryption, which refuses them.

Bounded by entries and bytes (oldest first out), and dropped per owner when a user is erased.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 8192
MAX_VALUE_BYTES = 64 * 1024
"""Larger values are never cached: the budget is for the many small messages of a turn."""


class OpenedCache:
    """``(sealer.scope, place, sealed bytes) -> plaintext``.

    A sealer's ``scope`` is ``(owner, serial number)``: unique per sealer (so per owner and data
    key) and never reused, and holding no key material, so an entry keeps no sealer alive.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._values: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()  # oldest first
        self._bytes = 0
        self._lock = threading.Lock()
        self.get = self._values.get  # a hit is one dict lookup (atomic under the GIL)

    def put(self, key: tuple[Any, ...], plain: bytes) -> None:
        """Remember ``plain`` for ``key`` (whose last item is the sealed bytes)."""
        self.put_many(((key, plain),))

    def put_many(self, items: Iterable[tuple[tuple[Any, ...], bytes]]) -> None:
        values = self._values
        with self._lock:
            for key, plain in items:
                size = len(key[-1]) + len(plain)
                if size > MAX_VALUE_BYTES or key in values:  # same bytes, same place: same text
                    continue
                values[key] = plain
                self._bytes += size
            if self._bytes > self.max_bytes or len(values) > self.max_entries:
                self._evict()

    def _evict(self) -> None:
        """Oldest first, until within both bounds (the caller holds the lock)."""
        values = self._values
        while self._bytes > self.max_bytes or len(values) > self.max_entries:
            stale, value = values.popitem(last=False)
            self._bytes -= len(stale[-1]) + len(value)

    def drop_owner(self, owner: str | None) -> None:
        """Forget every value opened for ``owner`` (its data key is gone)."""
        with self._lock:
            for key in [k for k in self._values if k[0][0] == owner]:
                self._bytes -= len(key[-1]) + len(self._values.pop(key))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._values)
