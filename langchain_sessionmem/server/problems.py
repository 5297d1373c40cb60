"""One JSON error shape for every HTTP error: RFC 9457 problem details.

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "error": "SessionNotFound", "detail": "no session 't1' for this user"}

``error`` is a stable name to branch on (the package's error class, or a name of the app's own);
validation errors add ``errors`` (where and what). The same body is the ``data`` of an SSE
``error`` event when a stream fails after its first byte.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import telemetry
from ..errors import (
    ConflictError,
    EngineUnavailableError,
    MessageTooLargeError,
    SessionMemoryError,
)

MEDIA_TYPE = "application/problem+json"


class Problem(StarletteHTTPException):
    """An HTTP error answered with a problem-details body (an ``HTTPException``, so it also
    works in apps without our handlers, e.g. under LangServe)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.status = status
        self.error = error or _title(status).replace(" ", "")
        self.extra = extra


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def body(problem: Problem) -> dict[str, Any]:
    """The JSON body of ``problem``."""
    return {
        "type": "about:blank",
        "title": _title(problem.status),
        "status": problem.status,
        "error": problem.error,
        "detail": problem.detail,
        **problem.extra,
    }


def response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(body(problem)),
        status_code=problem.status,
        headers=problem.headers,
        media_type=MEDIA_TYPE,
    )


def from_exception(exc: BaseException) -> Problem:
    """The problem an exception stands for (package errors by class, anything else 500/502)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, SessionMemoryError):
        status = (
            503
            if isinstance(exc, EngineUnavailableError)
            else 413
            if isinstance(exc, MessageTooLargeError)
            else 409
            if isinstance(exc, ConflictError)
            else 422
            if isinstance(exc, ValueError)
            else 500
        )
        return Problem(status, str(exc), error=type(exc).__name__)
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
        return Problem(exc.status_code, detail, headers=getattr(exc, "headers", None))
    return Problem(500, "the server failed to answer; the error is logged", error="InternalError")


def upstream(exc: BaseException) -> Problem:
    """A failure of the served chain or its model (not of the request): 502."""
    if isinstance(exc, (SessionMemoryError, Problem, StarletteHTTPException)):
        return from_exception(exc)
    return Problem(
        502,
        f"the chain failed ({type(exc).__name__}); nothing of this turn was stored",
        error="UpstreamError",
    )


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` (ours, FastAPI's, Starlette's 404/405, crashes) as a problem."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        problem = from_exception(exc)
        cause = exc.__cause__ if problem.status >= 500 and exc.__cause__ is not None else None
        telemetry.count(
            "errors", type=type(cause).__name__ if cause else problem.error, where="http"
        )
        if problem.status == 405:  # every method of the path, not only the first route's
            problem.headers = {"Allow": ", ".join(_allowed(request))}
        return response(problem)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        where = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in errors[:5])
        telemetry.count("errors", type="RequestValidationError", where="http")
        return response(
            Problem(422, f"invalid request: {where}", error="RequestValidationError", errors=errors)
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(SessionMemoryError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_problem)


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "error", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    return {
        status: {
            "description": _title(status),
            "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
