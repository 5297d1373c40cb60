"""ASGI middleware of the app: a request body limit, and request metrics by route template."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import telemetry
from .problems import Problem, response


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a 413 problem, before they are parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> Problem:
        return Problem(
            413,
            f"the request body is over {self.max_bytes} bytes: send less per turn",
            error="BodyTooLarge",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await response(self._too_large())(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)


class RequestMetrics:
    """Count requests and time them (to the last byte) by method, route template and status."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not telemetry.enabled():
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = _template(scope)
            method = scope.get("method", "")
            telemetry.count("http_requests", method=method, route=route, status=status)
            telemetry.observe(
                "http_request_seconds", time.perf_counter() - start, method=method, route=route
            )


def _template(scope: Scope) -> str:
    """The matched route's path template (never the raw path: ids stay out of labels)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
