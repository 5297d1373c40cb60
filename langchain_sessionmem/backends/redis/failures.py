"""redis-py exceptions as the package's typed errors, each saying what went wrong and the fix.

One place for the whole backend: a server that cannot be reached or cannot serve, credentials or a
database number it refuses, stored data of the wrong type or shape (keys written by something
else, values edited by hand), and arguments Redis cannot take.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    DataError,
    NoPermissionError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import (
    ConfigurationError,
    CorruptDataError,
    EngineUnavailableError,
    InvalidArgumentError,
    SessionMemoryError,
)

UNAVAILABLE = ("READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "OOM", "BUSY")
"""Reply prefixes of a server that is up but cannot serve the command now."""
MAPPED = (RedisError, RedisClusterException, OSError, UnicodeError)
"""What :func:`typed` converts (anything else is a bug here and propagates as it is)."""


def unreachable(where: str, exc: BaseException) -> EngineUnavailableError:
    return EngineUnavailableError(
        f"cannot reach Redis at {where}: {exc}. Check that the server is running "
        "and the URL is right; nothing was written by this call unless it had already "
        "reached the server"
    )


def typed(exc: BaseException, where: str, request: Any = None) -> SessionMemoryError:
    """The typed error for a redis-py failure of ``request`` (a Script, Cmd or Pipe) at ``where``."""
    text = str(exc).split(" of pipeline caused error: ", 1)[-1]  # the server's own reply
    if isinstance(exc, (AuthenticationError, AuthorizationError, NoPermissionError)) or (
        text.startswith(("NOAUTH", "WRONGPASS", "NOPERM"))
    ):
        return ConfigurationError(
            f"Redis at {where} refused this client: {text}. Put the right user and password in "
            "the URL (redis://user:password@host:6379/0) and check the user's ACL"
        )
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)):
        return unreachable(where, exc)
    if "DB index is out of range" in text or "invalid DB index" in text:
        return ConfigurationError(
            f"Redis at {where} has no such database ({text}): use a database number the "
            "server has (redis://host:6379/0; the default server has 0-15, see its 'databases' "
            "setting; Redis Cluster has only 0)"
        )
    if isinstance(exc, UnicodeError):
        return InvalidArgumentError(
            f"an id or value for {_keys(request)} is not valid UTF-8 text ({text}): pass str of "
            "whole characters (no lone surrogates) or bytes"
        )
    if isinstance(exc, DataError):
        return InvalidArgumentError(f"a value cannot be sent to Redis: {text}")
    if isinstance(exc, ResponseError):
        return _refused(exc, text, where, request)
    return EngineUnavailableError(f"Redis at {where} failed: {type(exc).__name__}: {text}")


def _refused(exc: ResponseError, text: str, where: str, request: Any) -> SessionMemoryError:
    keys = _keys(request)
    if text.startswith("WRONGTYPE"):
        return CorruptDataError(
            f"a Redis key of {keys} holds another type of value than this package stores there "
            f"({text}): it was written by something else. Delete that key (DEL) to start the "
            "record afresh, or use another namespace"
        )
    name = getattr(getattr(request, "script", None), "name", None)
    if name is not None and ("script" in text.lower() or "user_function" in text):
        return CorruptDataError(
            f"the {name} script failed on the stored data of {keys}: {text}. The data was changed "
            "outside this package: delete the damaged key(s) to start that record afresh"
        )
    if "out of range" in text or "not an integer" in text or "not a valid float" in text:
        return InvalidArgumentError(f"Redis refused an argument for {keys}: {text}")
    if text.startswith(UNAVAILABLE):
        return EngineUnavailableError(
            f"Redis at {where} cannot serve this now: {text}. Retry later, or check the server "
            "(memory limit, replica in read-only mode, cluster state)"
        )
    return EngineUnavailableError(f"Redis at {where} refused the command for {keys}: {text}")


def _keys(request: Any) -> str:
    """The keys a request touches, for error messages (the caller's own keys only)."""
    if request is None:
        return "this request"
    keys = getattr(request, "keys", None)
    if keys is None and hasattr(request, "cmds"):
        keys = [c.args[0] for c in request.cmds[:3] if c.args]
    elif keys is None:
        keys = list(getattr(request, "args", ())[:1])
    shown = [
        k.decode(errors="replace")
        if isinstance(k, bytes)
        else str(k).encode(errors="backslashreplace").decode()
        for k in keys[:3]
    ]
    return ", ".join(shown) + (", ..." if len(keys) > 3 else "") or "this request"
