"""The session routes: turns (invoke, SSE stream), listings, reads, deletes, all per caller."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from langchain_core.messages import BaseMessage, messages_to_dict
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from .. import telemetry
from ..runnable import SessionMemoryRunnable
from ..store import SessionStore
from .auth import Authenticate, bearer_scheme, resolve_user
from .inputs import chain_input, check_turn, request_model
from .problems import Problem, responses, upstream
from .scope import scope_configurable
from .streaming import sse

try:  # the key LangGraph lends a checkpointer to a graph through (as its own server does)
    from langgraph.constants import CONFIG_KEY_CHECKPOINTER
except ImportError:  # pragma: no cover - older or newer layouts
    CONFIG_KEY_CHECKPOINTER = "__pregel_checkpointer"

SessionId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description="the session's id; the caller's own session of that name",
    ),
]


class SessionOut(BaseModel):
    session_id: str
    created_at: str
    updated_at: str
    message_count: int
    expires_at: str | None


class InvokeOut(BaseModel):
    output: Any


class Me(BaseModel):
    user_id: str


class Deleted(BaseModel):
    deleted: bool


class Erased(BaseModel):
    deleted_sessions: int


def jsonable(value: Any) -> Any:
    """A chain's output or chunk as JSON: messages in their stored dict form."""
    if isinstance(value, BaseMessage):
        return messages_to_dict([value])[0]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return jsonable_encoder(value)


@dataclass
class Turns:
    """What a turn needs: the chain, the store's limits, and how configurable keys are scoped."""

    chain: SessionMemoryRunnable
    store: SessionStore
    configurable_keys: Collection[str] = ()
    checkpointer: Any = None

    def __post_init__(self) -> None:
        self.request_model = request_model(
            self.chain, self.store.max_message_bytes, tuple(self.configurable_keys)
        )

    def prepare(self, body: Any, session_id: str, user: str) -> tuple[Any, RunnableConfig]:
        """The chain input and the server-side config of one turn; 4xx before any model call."""
        client = body.config
        sent = (
            client.configurable.model_dump(exclude_none=True)
            if client is not None and client.configurable is not None
            else {}
        )
        configurable = scope_configurable(
            sent, user=user, session_id=session_id, extra_keys=self.configurable_keys
        )
        if self.checkpointer is not None:  # the caller's own saver: plain thread ids
            configurable["thread_id"] = sent.get("thread_id") or session_id
            configurable[CONFIG_KEY_CHECKPOINTER] = self.checkpointer.for_user(user)
        value = chain_input(self.chain, body.input)
        check_turn(self.chain, value, self.store.max_message_bytes)
        config: RunnableConfig = {"configurable": configurable}
        if client is not None:
            if client.tags:
                config["tags"] = list(client.tags)
            if client.metadata:
                config["metadata"] = dict(client.metadata)
            if client.run_name:
                config["run_name"] = client.run_name
        return value, config


SSE_EVENT = {
    "type": "object",
    "description": "one server-sent event: `data` (a JSON chunk), `end` or `error` (a problem)",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["data", "end", "error"]},
        "data": {"type": "string", "description": "JSON"},
    },
}
TURN_ERRORS = responses(400, 401, 403, 413, 422, 502, 503)
READ_ERRORS = responses(401, 404, 422, 503)


async def strict_query(request: Request) -> None:
    """Refuse query parameters the route does not declare (a typo must not pass unnoticed)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Problem(
            422,
            f"unknown query parameters {unknown}; this route takes {sorted(known) or 'none'}",
            error="UnknownQueryParameter",
        )


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def add_routes(app: FastAPI, turns: Turns, authenticate: Authenticate) -> None:
    """Register the session routes of ``app``."""
    store, chain = turns.store, turns.chain

    async def current_user(
        request: Request, _: Annotated[Any, Security(bearer_scheme)] = None
    ) -> str:
        return await resolve_user(authenticate, request)

    User = Annotated[str, Depends(current_user)]
    TurnRequest = turns.request_model

    @app.post("/sessions/{session_id}/invoke", responses=TURN_ERRORS, tags=["turns"])
    async def invoke(session_id: SessionId, body: TurnRequest, user: User) -> InvokeOut:
        """One turn: the reply of the chain, with the turn stored in the caller's session."""
        value, config = turns.prepare(body, session_id, user)
        try:
            with telemetry.span("http.invoke", engine=store.engine.kind):
                output = await chain.ainvoke(value, config)
        except Exception as exc:
            raise upstream(exc) from exc
        telemetry.count("turns", kind="invoke")
        return InvokeOut(output=jsonable(output))

    @app.post(
        "/sessions/{session_id}/stream",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "server-sent events: `data` per chunk, then `end` or `error`",
                "content": {"text/event-stream": {"schema": SSE_EVENT}},
            },
            **TURN_ERRORS,
        },
        tags=["turns"],
    )
    async def stream(session_id: SessionId, body: TurnRequest, user: User) -> StreamingResponse:
        """The same turn as server-sent events; errors before the first byte are HTTP errors."""
        value, config = turns.prepare(body, session_id, user)
        return await sse(
            chain.astream(value, config),
            jsonable,
            on_done=lambda: telemetry.count("turns", kind="stream"),
        )

    @app.get("/sessions", responses=responses(401, 503), tags=["sessions"])
    async def list_sessions(user: User) -> list[SessionOut]:
        """The caller's sessions, newest first."""
        return [
            SessionOut(
                session_id=s.session_id,
                created_at=s.created_at.isoformat(),
                updated_at=s.updated_at.isoformat(),
                message_count=s.message_count,
                expires_at=s.expires_at.isoformat() if s.expires_at else None,
            )
            for s in await store.alist_sessions(user)
        ]

    @app.get("/sessions/{session_id}/messages", responses=READ_ERRORS, tags=["sessions"])
    async def messages(
        session_id: SessionId,
        user: User,
        last: Annotated[int, Query(ge=1, le=1000, description="how many, newest last")] = 50,
    ) -> list[dict[str, Any]]:
        """The last messages of one of the caller's sessions (404 when it has none)."""
        history = store.history(session_id, user_id=user)
        found = await history.atail(last)
        if not found:
            raise _missing(session_id)
        return messages_to_dict(found)

    @app.delete("/sessions/{session_id}", responses=READ_ERRORS, tags=["sessions"])
    async def delete_session(session_id: SessionId, user: User) -> Deleted:
        """Delete one of the caller's sessions (404 when there is none)."""
        if not await store.adelete_session(session_id, user_id=user):
            raise _missing(session_id)
        return Deleted(deleted=True)

    @app.get("/me", responses=responses(401), tags=["me"])
    async def me(user: User) -> Me:
        """Who the credentials belong to (the chat page signs in with this)."""
        return Me(user_id=user)

    @app.delete("/me", responses=responses(401, 503), tags=["me"])
    async def delete_me(user: User) -> Erased:
        """Erase everything of the caller: sessions, per-user state and threads."""
        return Erased(deleted_sessions=await store.adelete_user(user))


def _missing(session_id: str) -> Problem:
    return Problem(404, f"no session {session_id!r} for this user", error="SessionNotFound")
