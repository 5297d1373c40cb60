"""Typed errors. Every error of this package derives from :class:`SessionMemoryError`.

Each message names what was wrong and how to fix it; no error leaves stored data half-written.
"""

from __future__ import annotations


class SessionMemoryError(Exception):
    """Base class of every error raised by langchain-sessionmem."""


class ConfigurationError(SessionMemoryError, ValueError):
    """A store, URL or runnable was configured in a way that cannot work."""


class InvalidIdError(SessionMemoryError, ValueError):
    """A session, user or thread id cannot be used as a key (empty, too long, control characters)."""


class InvalidArgumentError(SessionMemoryError, ValueError):
    """An argument is out of range or of the wrong type (a negative or huge ``k``, a bad bound)."""


class MessageTooLargeError(SessionMemoryError, ValueError):
    """A message encodes to more bytes than the store's ``max_message_bytes``."""


class SerializationError(SessionMemoryError, ValueError):
    """A message or value cannot be encoded for storage (for example a non-JSON field)."""


class CorruptDataError(SessionMemoryError):
    """Stored bytes cannot be decoded. Names the session and the position of the bad record."""

    def __init__(self, message: str, *, session_id: str | None = None, position: int | None = None):
        super().__init__(message)
        self.session_id = session_id
        self.position = position


class KeyUnavailableError(CorruptDataError):
    """Stored data was encrypted with a key this keyring lacks; ``key_id`` names it."""

    def __init__(self, message: str, *, key_id: str | None = None):
        super().__init__(message)
        self.key_id = key_id


class EngineUnavailableError(SessionMemoryError, ConnectionError):
    """The storage server cannot be reached. The message names the URL without its password."""


class ConflictError(SessionMemoryError):
    """A compare-and-set on session state kept losing to concurrent writers."""


class ThreadOwnershipError(SessionMemoryError, PermissionError):
    """A checkpointer scoped to one user touched a thread that belongs to someone else."""


class BudgetExceededError(SessionMemoryError, ValueError):
    """A memory's token budget cannot hold what must always be sent (the system message)."""
