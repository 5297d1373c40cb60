"""`create_app`: one chain with session memory behind HTTP, every session the caller's own."""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from .. import telemetry
from ..runnable import SessionMemoryRunnable
from ..store import SessionStore
from . import page, problems
from .auth import Authenticate
from .middleware import BodyLimit, RequestMetrics
from .routes import Turns, add_routes, strict_query

DESCRIPTION = """\
Chat turns with session memory. Every session belongs to the authenticated caller: the client
names a session, the server decides whose it is. Errors are RFC 9457 problem details.
"""


def create_app(
    chain: SessionMemoryRunnable,
    store: SessionStore,
    *,
    authenticate: Authenticate,
    title: str = "langchain-sessionmem",
    configurable_keys: Collection[str] = (),
    checkpointer: Any = None,
    max_body_bytes: int | None = None,
    chat_page: bool = True,
    metrics: bool | None = None,
    metrics_registry: Any = None,
) -> FastAPI:
    """The HTTP API of ``chain`` on ``store``; sessions and threads are scoped to the caller.

    ``authenticate(request) -> user_id`` (sync or async) decides who calls; see
    :func:`bearer_tokens`. ``configurable_keys`` are extra ``config.configurable`` keys clients
    may send (scalars only; ``thread_id`` / ``checkpoint_id`` / ``checkpoint_ns`` are always
    allowed and scoped). ``checkpointer`` is the saver of a served LangGraph graph
    (``store.checkpointer()``): each call then runs on the caller's own saver, so threads are
    listed and erased with the user; without it thread ids are prefixed with the caller.
    ``max_body_bytes`` bounds a request (default: twice the store's ``max_message_bytes``).
    ``chat_page`` serves the chat page at ``/``; ``metrics`` serves Prometheus at ``/metrics`` (default:
    when prometheus-client is installed; ``metrics_registry``: a ``CollectorRegistry`` of yours).
    """
    app = FastAPI(
        title=title,
        description=DESCRIPTION,
        version=_version(),
        dependencies=[Depends(strict_query)],
    )
    problems.install(app)
    turns = Turns(chain, store, tuple(configurable_keys), checkpointer)
    add_routes(app, turns, authenticate)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes or 2 * store.max_message_bytes)
    if metrics is None:
        metrics = importlib.util.find_spec("prometheus_client") is not None
    if metrics:
        telemetry.enable(metrics_registry)
        app.add_middleware(RequestMetrics)

        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            content, media_type = telemetry.render()
            return Response(content, media_type=media_type)

    if chat_page:
        page.add_page(app)
    return app


def _version() -> str:
    from .. import __version__

    return __version__
