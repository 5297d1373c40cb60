"""A FastAPI app where every session belongs to the authenticated user.

The client names a session; the server decides whose it is. ``user_id`` always comes from
``authenticate(request)``, never from the request body or a client-side config, so one user cannot
read or write another's history by choosing ids (the LangServe config hole).

    app = create_app(chain, store, authenticate=bearer_tokens({"token-a": "alice"}))

Routes: ``POST /sessions/{session_id}/invoke``, ``POST /sessions/{session_id}/stream`` (SSE),
``GET /sessions``, ``GET /sessions/{session_id}/messages?last=50``,
``DELETE /sessions/{session_id}``, ``DELETE /me`` (erase all of the caller's sessions).
"""

from __future__ import annotations

import inspect
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

try:
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the server needs FastAPI: pip install 'langchain-sessionmem[server]'"
    ) from exc

from langchain_core.messages import BaseMessage, messages_to_dict
from langchain_core.runnables import RunnableConfig

from .errors import EngineUnavailableError, InvalidIdError, SessionMemoryError
from .ids import validate_id
from .runnable import SessionMemoryRunnable
from .store import SessionStore

Authenticate = Callable[[Request], "str | Awaitable[str]"]


class TurnRequest(BaseModel):
    """One chat turn: the chain's input (a string, a message dict list, or a dict of variables)."""

    input: Any
    config: dict[str, Any] | None = None


def bearer_tokens(tokens: Mapping[str, str]) -> Authenticate:
    """Authenticate ``Authorization: Bearer <token>`` against a token -> user id mapping."""

    def authenticate(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        for known, user in tokens.items():
            if scheme.lower() == "bearer" and secrets.compare_digest(
                token.encode(), known.encode()
            ):
                return user
        raise HTTPException(
            status_code=401,
            detail="missing or unknown bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return authenticate


def owner_config(
    authenticate: Authenticate,
) -> Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]:
    """A LangServe ``per_req_config_modifier`` that stamps the authenticated user on every call.

    A client that sends another ``user_id`` gets HTTP 403 instead of silently reaching its history.
    """

    async def modify(config: dict[str, Any], request: Request) -> dict[str, Any]:
        user = await _user(authenticate, request)
        configurable = dict(config.get("configurable") or {})
        claimed = configurable.get("user_id")
        if claimed not in (None, "", user):
            raise HTTPException(
                status_code=403, detail="user_id is set by the server from your credentials"
            )
        configurable["user_id"] = user
        return {**config, "configurable": configurable}

    return modify


async def _user(authenticate: Authenticate, request: Request) -> str:
    user = authenticate(request)
    if inspect.isawaitable(user):
        user = await user
    try:
        return validate_id(user, "user_id")
    except InvalidIdError as exc:
        raise HTTPException(
            status_code=401, detail=f"authentication returned an unusable user id: {exc}"
        ) from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return messages_to_dict([value])[0]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def create_app(
    chain: SessionMemoryRunnable,
    store: SessionStore,
    *,
    authenticate: Authenticate,
    title: str = "langchain-sessionmem",
) -> FastAPI:
    """The HTTP API of one chain with session memory; sessions are scoped to the caller."""
    app = FastAPI(title=title)

    async def current_user(request: Request) -> str:
        return await _user(authenticate, request)

    def turn_config(body: TurnRequest, session_id: str, user: str) -> RunnableConfig:
        client = dict((body.config or {}).get("configurable") or {})
        if client.get("user_id") not in (None, "", user):
            raise HTTPException(
                status_code=403, detail="user_id is set by the server from your credentials"
            )
        try:
            validate_id(session_id, "session_id")
        except InvalidIdError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return {"configurable": {**client, "session_id": session_id, "user_id": user}}

    @app.exception_handler(SessionMemoryError)
    async def session_error(request: Request, exc: SessionMemoryError) -> JSONResponse:
        status = (
            503
            if isinstance(exc, EngineUnavailableError)
            else 422
            if isinstance(exc, ValueError)
            else 500
        )
        return JSONResponse(
            status_code=status, content={"error": type(exc).__name__, "detail": str(exc)}
        )

    @app.post("/sessions/{session_id}/invoke")
    async def invoke(
        session_id: str, body: TurnRequest, user: str = Depends(current_user)
    ) -> dict[str, Any]:
        output = await chain.ainvoke(body.input, turn_config(body, session_id, user))
        return {"output": _jsonable(output)}

    @app.post("/sessions/{session_id}/stream")
    async def stream(
        session_id: str, body: TurnRequest, user: str = Depends(current_user)
    ) -> StreamingResponse:
        config = turn_config(body, session_id, user)

        async def events() -> AsyncIterator[str]:
            async for chunk in chain.astream(body.input, config):
                yield f"event: data\ndata: {json.dumps(_jsonable(chunk))}\n\n"
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/sessions")
    async def list_sessions(user: str = Depends(current_user)) -> list[dict[str, Any]]:
        return [
            {
                "session_id": s.session_id,
                "created_at": s.created_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
                "message_count": s.message_count,
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in await store.alist_sessions(user)
        ]

    @app.get("/sessions/{session_id}/messages")
    async def messages(
        session_id: str, last: int = 50, user: str = Depends(current_user)
    ) -> list[dict[str, Any]]:
        if not 0 < last <= 1000:
            raise HTTPException(status_code=422, detail="last must be between 1 and 1000")
        return messages_to_dict(await store.history(session_id, user_id=user).atail(last))

    @app.delete("/sessions/{session_id}")
    async def delete_session(session_id: str, user: str = Depends(current_user)) -> dict[str, bool]:
        return {"deleted": await store.adelete_session(session_id, user_id=user)}

    @app.delete("/me")
    async def delete_me(user: str = Depends(current_user)) -> dict[str, int]:
        return {"deleted_sessions": await store.adelete_user(user)}

    return app
