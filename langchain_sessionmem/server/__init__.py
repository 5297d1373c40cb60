"""A FastAPI app where every session belongs to the authenticated user.

The client names a session; the server decides whose it is. ``user_id`` always comes from
``authenticate(request)``, never from the request body or a client-side config, and the config
keys that select stored state (``thread_id``, ``checkpoint_id``, ``checkpoint_ns``) are scoped to
the caller on the server, so no choice of ids reaches another user's history or thread.

    app = create_app(chain, store, authenticate=bearer_tokens({"token-a": "alice"}))

Routes: ``POST /sessions/{id}/invoke``, ``POST /sessions/{id}/stream`` (SSE), ``GET /sessions``,
``GET /sessions/{id}/messages?last=50``, ``DELETE /sessions/{id}``, ``GET /me``, ``DELETE /me``,
the chat page at ``/`` and Prometheus metrics at ``/metrics``. See docs/server.md.
"""

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the HTTP app needs FastAPI and uvicorn: pip install 'langchain-sessionmem[server]'"
    ) from exc

from .app import create_app
from .auth import Authenticate, bearer_tokens
from .problems import Problem
from .scope import owner_config, scope_configurable

__all__ = [
    "Authenticate",
    "Problem",
    "bearer_tokens",
    "create_app",
    "owner_config",
    "scope_configurable",
]
