"""What a turn request may carry, and the checks it passes before the model is called.

The body is ``{"input": ..., "config": {...}}``; ``input`` is one of what docs/server.md promises:
a plain string, a list of message dicts (``{"role": "user", "content": "..."}`` or the stored
form ``{"type": "human", "data": {"content": "..."}}``), or a dict of the chain's variables.
The request model is built per app from the chain's own input schema and the store's size
limit, so the OpenAPI spec says exactly what is accepted; whatever passes it is size-checked
here, so a bad request is a 4xx before any model call and before the first byte of a stream.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..codec import encode
from ..runnable import SessionMemoryRunnable
from .problems import Problem

Scalar = str | int | float | bool | None
Id = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
RECORD_OVERHEAD = 2_048  # bytes of a stored message besides its text (type, id, metadata)


class TurnConfig(BaseModel):
    """The part of a LangChain config a client may send; the server scopes ``configurable``."""

    model_config = ConfigDict(extra="forbid")
    tags: Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=32)] = Field(
        default_factory=list
    )
    metadata: Annotated[dict[str, Scalar], Field(max_length=32)] = Field(default_factory=dict)
    run_name: Annotated[str, Field(max_length=256)] | None = None


class Configurable(BaseModel):
    """The ``configurable`` keys a client may send (the URL names the session)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(None, description="only your own (set from your credentials)")
    thread_id: Id | None = Field(None, description="a thread of yours; default: the session")
    checkpoint_id: Id | None = Field(None, description="a checkpoint of that thread")
    checkpoint_ns: Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")] | None = None


def request_model(
    chain: SessionMemoryRunnable, max_message_bytes: int, extra_keys: tuple[str, ...] = ()
) -> type[BaseModel]:
    """The body model of a turn for ``chain``: its input forms, sizes and allowed config keys."""
    text = Annotated[str, Field(max_length=max(1, (max_message_bytes - RECORD_OVERHEAD) // 6))]
    Id_ = Id
    user_roles = Literal["user", "human"]
    any_roles = Literal["user", "human", "assistant", "ai"]
    text_chain = _input_annotation(chain) is str  # a prompt's "{input}": one user text per turn

    def messages(name: str, roles: Any, types: Any) -> Any:
        chat = create_model(
            f"{name}ChatMessage",
            __config__=ConfigDict(extra="forbid"),
            role=(roles, ...),
            content=(text, ...),
            id=(Id_ | None, None),
        )
        data = create_model(
            f"{name}StoredMessageData",
            __config__=ConfigDict(extra="ignore"),
            content=(text, ...),
            id=(Id_ | None, None),
        )
        stored = create_model(
            f"{name}StoredMessage",
            __config__=ConfigDict(extra="ignore"),
            type=(types, ...),
            data=(data, ...),
        )
        return chat | stored

    if text_chain:
        listed = Annotated[
            list[messages("User", user_roles, Literal["human"])], Field(min_length=1, max_length=1)
        ]  # type: ignore[misc]
        variable: Any = text
    else:
        message = messages("Any", any_roles, Literal["human", "ai"])
        listed = Annotated[list[message], Field(min_length=1, max_length=200)]  # type: ignore[valid-type]
        variable = text | listed
    config = create_model(
        "TurnRequestConfig",
        __base__=TurnConfig,
        configurable=(
            create_model(
                "TurnConfigurable",
                __base__=Configurable,
                **{k: (Scalar, None) for k in extra_keys},  # type: ignore[call-overload]
            )
            | None,
            None,
        ),
    )
    return create_model(
        "TurnRequest",
        __config__=ConfigDict(extra="forbid"),
        input=(text | listed | _variables_model(chain, variable), ...),
        config=(config | None, None),
    )


def _bound_fields(chain: SessionMemoryRunnable) -> dict[str, Any]:
    try:
        fields = getattr(chain.bound.get_input_schema(), "model_fields", None) or {}
    except Exception:  # noqa: BLE001 - a chain without a usable schema: no variables known
        return {}
    return {} if set(fields) == {"root"} else dict(fields)


def _input_annotation(chain: SessionMemoryRunnable) -> Any:
    field = _bound_fields(chain).get(chain.shape.input_messages_key or "input")
    return None if field is None else field.annotation


def _variables_model(chain: SessionMemoryRunnable, variable: Any) -> type[BaseModel]:
    """The dict form: the chain's input key plus the other variables its input schema needs."""
    shape = chain.shape
    key = shape.input_messages_key or "input"
    fields: dict[str, Any] = {key: (variable, ...)}
    for name, field in _bound_fields(chain).items():
        if name not in (key, shape.history_messages_key):
            fields[name] = (field.annotation, ... if field.is_required() else field.default)
    return create_model("TurnVariables", __config__=ConfigDict(extra="allow"), **fields)


def to_messages(items: list[Any]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in items:
        if hasattr(m, "role"):
            human, content, mid = m.role in ("user", "human"), m.content, m.id
        else:
            human, content, mid = m.type == "human", m.data.content, m.data.id
        out.append(HumanMessage(content, id=mid) if human else AIMessage(content, id=mid))
    return out


def chain_input(chain: SessionMemoryRunnable, value: Any) -> Any:
    """The request's ``input`` in the shape ``chain`` takes (a string or messages under its key).

    A chain with a history key (a prompt with ``{input}``) takes one user message per turn as
    text, so a list of one user message is passed as its text.
    """
    shape = chain.shape
    if isinstance(value, BaseModel):  # the dict form
        value = {k: _plain(v) for k, v in value}
    elif isinstance(value, list):
        value = to_messages(value)
        if shape.history_messages_key and len(value) == 1 and value[0].type == "human":
            value = value[0].text
    keyed = shape.history_messages_key is not None or shape.input_messages_key is not None
    if keyed and not isinstance(value, dict):
        return {shape.input_messages_key or "input": value}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return to_messages(value)
    return value


def check_turn(chain: SessionMemoryRunnable, value: Any, max_message_bytes: int) -> None:
    """Raise a 4xx :class:`Problem` unless ``chain`` can take ``value`` and store its messages."""
    try:
        messages = chain.shape.input_messages(value)
    except ValueError as exc:
        raise Problem(422, str(exc), error=type(exc).__name__) from exc
    if not messages:
        raise Problem(422, "the input holds no message: send at least one", error="EmptyInput")
    encode(messages, max_message_bytes)  # MessageTooLargeError -> 413, before the model runs
    if isinstance(value, dict) and chain.shape.history_messages_key:
        _check_variables(chain, value)


def _check_variables(chain: SessionMemoryRunnable, value: dict[str, Any]) -> None:
    """Validate a dict input against the wrapped chain's input schema (a prompt's variables)."""
    if not _bound_fields(chain):
        return
    history_key = chain.shape.history_messages_key
    try:
        chain.bound.get_input_schema().model_validate({**value, history_key: []})
    except ValidationError as exc:
        errors = [
            {"loc": ["body", "input", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        where = "; ".join(".".join(str(p) for p in e["loc"][2:]) + ": " + e["msg"] for e in errors)
        raise Problem(
            422, f"the chain cannot take this input: {where}", error="InvalidInput", errors=errors
        ) from exc
