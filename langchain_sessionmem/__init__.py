"""Session memory for LangChain chains and LangGraph agents.

Light names (errors, records, the keyring) import eagerly; the ones that need langchain-core's
message and runnable machinery (``SessionStore``, ``with_session_memory``, ...) load on first
access, so ``import langchain_sessionmem`` and ``sessionmem --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from .ids import ANONYMOUS
from .records import SessionInfo, SessionState, ThreadInfo

if TYPE_CHECKING:
    from .codec import StoredMessage
    from .history import SessionHistory
    from .recall_index import RecallIndex
    from .runnable import SessionMemoryRunnable, with_session_memory
    from .store import SessionStore

_LAZY = {
    "SessionStore": ".store",
    "SessionHistory": ".history",
    "StoredMessage": ".codec",
    "SessionMemoryRunnable": ".runnable",
    "RecallIndex": ".recall_index",
    "with_session_memory": ".runnable",
}

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
    "RecallIndex",
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
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later accesses skip this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
