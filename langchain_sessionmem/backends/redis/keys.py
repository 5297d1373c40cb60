"""Key names of the Redis backend (no I/O): one hash tag per user for sessions, per thread for checkpoints.

Every key of a user's sessions shares the tag ``{<namespace>|<user>}``, and every key of a thread
shares the thread's tag, so each operation touches one slot: atomic on Redis Cluster too.
"""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

from ...records import SessionKey

_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A", "|": "%7C"})
_SUFFIXES = ("log", "ids", "meta", "state")
THREAD_SUFFIXES = ("m", "i", "c", "d", "b", "w", "wz", "l", "r")


def escape(value: str) -> str:
    return value.translate(_ESCAPES)


def unescape(value: str) -> str:
    return unquote(value)  # exact inverse: every literal "%" was escaped


class Keys:
    """Key names of one namespace; no I/O."""

    def __init__(self, namespace: str):
        self.namespace = namespace

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
        return [*self.session(key.user_id, key.session_id), self.index(key.user_id)]

    def user_state(self, user_id: str) -> str:
        """The per-user state hash (entities shared by a user's sessions): not a session."""
        return f"{self.tag(user_id)}:ustate"


class ThreadKeys:
    """Key names of one namespace. The thread id is the hash tag (hashed if it holds braces)."""

    def __init__(self, namespace: str):
        self.prefix = f"{namespace}:cp"
        self.threads = f"{self.prefix}:threads"

    def thread(self, thread_id: str) -> list[str]:
        tag = (
            thread_id
            if "{" not in thread_id and "}" not in thread_id
            else "#" + hashlib.sha1(thread_id.encode()).hexdigest()
        )
        return [f"{self.prefix}:{{{tag}}}:{s}" for s in THREAD_SUFFIXES]

    def runs_of(self, thread_id: str) -> str:
        """Run ids of a thread, outside the expiring keys so cleanup can find them after expiry."""
        return self.thread(thread_id)[0][:-1] + "runs"

    def run(self, run_id: str) -> str:
        tag = (
            run_id
            if "{" not in run_id and "}" not in run_id
            else "#" + hashlib.sha1(run_id.encode()).hexdigest()
        )
        return f"{self.prefix}:run:{{{tag}}}"
