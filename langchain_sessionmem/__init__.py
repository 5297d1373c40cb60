"""Session memory for LangChain chains and LangGraph agents."""

from .codec import StoredMessage
from .crypto import Keyring
from .errors import (
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    EngineUnavailableError,
    InvalidArgumentError,
    InvalidIdError,
    KeyUnavailableError,
    MessageTooLargeError,
    SerializationError,
    SessionMemoryError,
)
from .history import SessionHistory
from .ids import ANONYMOUS
from .records import SessionInfo, SessionState, ThreadInfo
from .runnable import SessionMemoryRunnable, with_session_memory
from .store import SessionStore

__all__ = [
    "ANONYMOUS",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "EngineUnavailableError",
    "InvalidArgumentError",
    "InvalidIdError",
    "KeyUnavailableError",
    "Keyring",
    "MessageTooLargeError",
    "SerializationError",
    "SessionHistory",
    "SessionInfo",
    "SessionMemoryError",
    "SessionMemoryRunnable",
    "SessionState",
    "SessionStore",
    "StoredMessage",
    "ThreadInfo",
    "with_session_memory",
]
__version__ = "0.1.0"
