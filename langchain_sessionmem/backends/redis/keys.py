"""Key names of the Redis backend (no I/O): a hash tag per user for sessions, per thread for checkpoints.

Every key of a user's sessions shares the tag ``{<namespace>|<user>}``, and every key of a thread
shares the thread's tag, so each operation touches one slot: atomic on Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from ...errors import ConfigurationError, InvalidIdError
from ...records import SessionKey

_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A", "|": "%7C"})
_SUFFIXES = ("log", "ids", "meta", "state")
THREAD_SUFFIXES = ("m", "i", "c", "d", "b", "w", "wz", "l", "r")


def escape(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdError(f"an id must be a str, got {type(value).__name__}: {value!r:.40}")
    return value.translate(_ESCAPES)


def unescape(value: str) -> str:
    return unquote(value)  # exact inverse: every literal "%" was escaped


class Keys:
    """Key names of one namespace; no I/O."""

    CACHED = 4096
    """How many sessions' key lists :meth:`touch_keys` keeps (a turn reuses them twice)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._touch: dict[SessionKey, list[str]] = {}

    def tag(self, user_id: str | None) -> str:
        return (
            "{" + self.namespace + "|" + ("" if user_id is None else "u=" + escape(user_id)) + "}"
        )

    def index(self, user_id: str | None) -> str:
        return f"{self.tag(user_id)}:sessions"

    def session(self, user_id: str | None, session_id: str) -> list[str]:
        prefix = f"{self.tag(user_id)}:s:{escape(session_id)}:"
        return [prefix + suffix for suffix in _SUFFIXES]

    def touch_keys(self, key: SessionKey) -> list[str]:
        """log, ids, meta, state and the user's index: what the session scripts get (cached;
        callers must not change the list)."""
        keys = self._touch.get(key)
        if keys is None:
            if len(self._touch) >= self.CACHED:
                self._touch.clear()
            tag = self.tag(key.user_id)
            prefix = f"{tag}:s:{escape(key.session_id)}:"
            keys = self._touch[key] = [prefix + s for s in _SUFFIXES] + [f"{tag}:sessions"]
        return keys

    def user_state(self, user_id: str | None) -> str:
        """The per-user state hash (entities shared by a user's sessions): not a session."""
        return f"{self.tag(user_id)}:ustate"

    def user_key(self, user_id: str | None) -> str:
        """The user's wrapped data key (per-user encryption): never expires, erased with the user."""
        return f"{self.tag(user_id)}:ukey"


class ThreadKeys:
    """Key names of one owner's checkpointer threads in one namespace; no I/O.

    A thread's hash tag is its identity ``(owner, thread_id)`` spelled by ``identity``
    (``checkpoint.config.thread_key``: injective and free of braces), so two owners' threads of the
    same id, or ids that look alike (``{x}``), never share a key. The owner's indexes (its threads,
    and the threads of each run) share the owner's tag ``{o=<owner>}`` (``{o}``: anonymous), which
    no thread tag equals (a thread tag always holds an unescaped ``|``).
    """

    def __init__(
        self, namespace: str, owner: str | None, identity: Callable[[str | None, str], str]
    ):
        if "{" in namespace or "}" in namespace:
            raise ConfigurationError(f"namespace {namespace!r} must not contain braces")
        self.prefix = f"{namespace}:cp"
        self.owner = owner
        self._identity = identity
        owner_tag = "{o}" if owner is None else "{o=" + escape(owner) + "}"
        self.threads = f"{self.prefix}:{owner_tag}:threads"
        """The owner's thread ids (zset, scored by registration time in ms)."""
        self._runs = f"{self.prefix}:{owner_tag}:run:"

    def tag(self, thread_id: str) -> str:
        return "{" + self._identity(self.owner, thread_id) + "}"

    def thread(self, thread_id: str) -> list[str]:
        """The keys of the thread that expire together (``m`` first)."""
        tag = self.tag(thread_id)
        return [f"{self.prefix}:{tag}:{s}" for s in THREAD_SUFFIXES]

    def runs_of(self, thread_id: str) -> str:
        """Run ids of a thread, outside the expiring keys so cleanup can find them after expiry."""
        return f"{self.prefix}:{self.tag(thread_id)}:runs"

    def script_keys(self, thread_id: str) -> list[str]:
        """What every checkpoint script gets: :meth:`thread` then :meth:`runs_of`."""
        return [*self.thread(thread_id), self.runs_of(thread_id)]

    def run(self, run_id: str) -> str:
        """The owner's threads that hold checkpoints of ``run_id`` (set)."""
        return self._runs + run_id
