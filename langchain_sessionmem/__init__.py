"""Session memory for LangChain chains and LangGraph agents."""

from .codec import StoredMessage
from .engines.base import SessionInfo, SessionState
from .errors import (
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    EngineUnavailableError,
    InvalidIdError,
    MessageTooLargeError,
    SerializationError,
    SessionMemoryError,
)
from .history import SessionHistory
from .store import SessionStore

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "EngineUnavailableError",
    "InvalidIdError",
    "MessageTooLargeError",
    "SerializationError",
    "SessionHistory",
    "SessionInfo",
    "SessionMemoryError",
    "SessionState",
    "SessionStore",
    "StoredMessage",
]
__version__ = "0.1.0"
