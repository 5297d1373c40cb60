"""Who is calling: the ``authenticate`` hook, the built-in bearer tokens, and the user id check."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping

from fastapi import Request
from fastapi.security import HTTPBearer

from ..errors import InvalidIdError
from ..ids import validate_id
from .problems import Problem

Authenticate = Callable[[Request], "str | Awaitable[str]"]
"""A function (sync or async) from a request to the caller's user id; raises to refuse."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="Authorization: Bearer <token>; the server maps the token to a user id.",
)
"""Declares the bearer scheme in the OpenAPI spec; ``authenticate`` does the real check."""


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, error="Unauthorized", headers={"WWW-Authenticate": "Bearer"})


def bearer_tokens(tokens: Mapping[str, str]) -> Authenticate:
    """Authenticate ``Authorization: Bearer <token>`` against a token -> user id mapping.

    Every known token is compared in constant time, so the reply time does not reveal a prefix.
    """
    known = [(token.encode(), user) for token, user in tokens.items()]

    def authenticate(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        offered = token.strip().encode("utf-8", "surrogateescape")
        found = None
        for secret, user in known:
            if secrets.compare_digest(offered, secret) and found is None:
                found = user
        if scheme.lower() != "bearer" or found is None:
            raise unauthorized(
                "missing or unknown bearer token: send Authorization: Bearer <token>"
            )
        return found

    return authenticate


async def resolve_user(authenticate: Authenticate, request: Request) -> str:
    """The caller's user id from ``authenticate``, checked like every stored id."""
    user = authenticate(request)
    if inspect.isawaitable(user):
        user = await user
    try:
        return validate_id(user, "user_id")
    except InvalidIdError as exc:
        raise unauthorized(f"authentication returned an unusable user id: {exc}") from exc
