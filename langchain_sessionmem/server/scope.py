"""Which ``config.configurable`` keys a client may send, and how they are scoped to the caller.

Only an allow-list of keys may come from a client. ``user_id`` is always the authenticated user
(another value is a 403). ``session_id`` is the URL's. Keys that select stored state are scoped
on the server: the client's ``thread_id`` (by default the session id) becomes the caller's own
thread ``thread_key(user, thread_id)``, so bob's ``t-1`` and alice's ``t-1`` are two threads of
any checkpointer, ours or LangGraph's; ``checkpoint_id`` / ``checkpoint_ns`` select inside that
thread only. Any other key is a 422 naming the allowed ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from fastapi import Request

from ..checkpoint.config import thread_key, validate_ns
from ..errors import InvalidIdError
from ..ids import validate_id
from .auth import Authenticate, resolve_user
from .problems import Problem

STATE_KEYS = frozenset({"thread_id", "checkpoint_id", "checkpoint_ns"})
"""Client keys that select stored LangGraph state; the server scopes them to the caller."""

IDENTITY_KEYS = frozenset({"user_id", "session_id"})
"""Keys the server sets itself (a client may repeat its own value)."""

CONFIG_KEYS = frozenset({"configurable", "tags", "metadata", "run_name"})
"""Top-level config keys a LangServe client may send."""


def scope_configurable(
    client: Mapping[str, Any],
    *,
    user: str,
    session_id: str | None = None,
    extra_keys: Collection[str] = (),
) -> dict[str, Any]:
    """The server-side ``configurable`` of a call by ``user`` from the client's ``client`` keys.

    ``session_id`` is the route's session (``None`` under LangServe: the client names it, and
    sessions are scoped by ``user_id`` anyway). ``extra_keys`` are the operator's own harmless
    keys (e.g. a model choice); their values must be scalars.
    """
    allowed = STATE_KEYS | IDENTITY_KEYS | set(extra_keys)
    unknown = sorted(k for k in client if k not in allowed)
    if unknown:
        raise Problem(
            422,
            f"config.configurable keys {unknown} cannot be set by a client; allowed: "
            f"{sorted(allowed)}",
            error="ConfigNotAllowed",
        )
    claimed = client.get("user_id")
    if claimed not in (None, "", user):
        raise Problem(403, "user_id is set by the server from your credentials", error="Forbidden")
    try:
        if session_id is None:
            session = client.get("session_id")
            session = None if session is None else validate_id(session, "session_id")
        else:
            session = validate_id(session_id, "session_id")
            if client.get("session_id") not in (None, "", session):
                raise Problem(
                    422,
                    "config.configurable.session_id differs from the session in the URL: "
                    "leave it out, the URL names the session",
                    error="ConfigNotAllowed",
                )
        thread = client.get("thread_id") or session
        scoped: dict[str, Any] = {"user_id": user}
        if session is not None:
            scoped["session_id"] = session
        if thread is not None:
            scoped["thread_id"] = thread_key(user, validate_id(thread, "thread_id"))
        if client.get("checkpoint_id") is not None:
            scoped["checkpoint_id"] = validate_id(client["checkpoint_id"], "checkpoint_id")
        if client.get("checkpoint_ns") is not None:
            scoped["checkpoint_ns"] = validate_ns(client["checkpoint_ns"])
    except InvalidIdError as exc:
        raise Problem(422, str(exc), error=type(exc).__name__) from exc
    for key in extra_keys:
        if key in client:
            value = client[key]
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise Problem(
                    422, f"config.configurable.{key} must be a scalar", error="ConfigNotAllowed"
                )
            scoped[key] = value
    return scoped


def owner_config(
    authenticate: Authenticate, *, configurable_keys: Collection[str] = ()
) -> Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]:
    """A LangServe ``per_req_config_modifier`` with the same rules as :func:`create_app`.

    The user is stamped from the credentials, a client's other ``user_id`` is a 403, only the
    allow-listed ``configurable`` keys pass, and thread ids are scoped to the caller.
    """

    async def modify(config: dict[str, Any], request: Request) -> dict[str, Any]:
        user = await resolve_user(authenticate, request)
        configurable = config.get("configurable") or {}
        if not isinstance(configurable, Mapping):
            raise Problem(422, "config.configurable must be an object", error="InvalidConfig")
        kept = {k: v for k, v in config.items() if k in CONFIG_KEYS}
        kept["configurable"] = scope_configurable(
            configurable, user=user, extra_keys=configurable_keys
        )
        return kept

    return modify
