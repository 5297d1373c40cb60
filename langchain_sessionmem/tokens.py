"""Token counters: ``counter(messages) -> int``, the shape of ``trim_messages``' ``token_counter``.

Every counter here is a :class:`MessageTokenCounter`: the count of a list is a fixed overhead
plus the sum of per-message counts, and each message's count is cached (by message id, else by a
content hash). A chat turn therefore tokenizes only the messages that are new, and the counter
is additive and monotone, which is what budget trimming relies on.

- :func:`tiktoken_counter` — exact OpenAI-style counts; the encoding follows the model name.
  When tiktoken cannot load its encoding (offline, no cached file) it falls back to
  :func:`approximate_counter` with one :class:`TokenizerFallbackWarning` per encoding.
- :func:`approximate_counter` — ``count_tokens_approximately`` per message: no tokenizer.
- :func:`model_counter` — a chat model's own ``get_num_tokens_from_messages``.
- :func:`as_token_counter` — turns any of the above, ``"approximate"``, a model name, a chat
  model, a list counter or a per-message function (as ``trim_messages`` accepts) into one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import threading
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

logger = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[BaseMessage]], int]
"""A function of a message list returning its token count (``trim_messages``' shape)."""

TokenCounterLike = Any
"""A counter, a chat model, a model or encoding name, ``"approximate"``, or ``None`` (default)."""

# OpenAI chat format: each message costs 3 tokens of framing, a name 1 more, and every reply
# is primed with 3 (see the openai-cookbook "How to count tokens with tiktoken").
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
TOKENS_PER_TOOL_CALL = 3
TOKENS_PER_IMAGE = 85

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


class TokenizerFallbackWarning(UserWarning):
    """tiktoken could not load an encoding; token counts are approximate."""


@dataclass
class CounterStats:
    """What a counter did: messages it tokenized and messages answered from its cache."""

    messages_tokenized: int = 0
    cache_hits: int = 0


class MessageTokenCounter:
    """``counter(messages) -> int`` as ``base_tokens`` plus cached per-message counts.

    Why a cache: a window of 20 messages is recounted every turn, but only one or two of them
    are new. Keys are the message id (with its type and content length, so an edited message
    is recounted), or a hash of the content for messages without an id.
    """

    def __init__(
        self,
        count_message: Callable[[BaseMessage], int],
        *,
        base_tokens: int = 0,
        name: str = "custom",
        cache_size: int = 50_000,
    ) -> None:
        self._count_message = count_message
        self.base_tokens = base_tokens
        self.name = name
        self.cache_size = cache_size
        self.stats = CounterStats()
        self._cache: dict[Any, int] = {}
        self._lock = threading.Lock()

    def count_message(self, message: BaseMessage) -> int:
        """Tokens of one message, framing included; cached."""
        key = _cache_key(message)
        cached = self._cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        value = int(self._count_message(message))
        self.stats.messages_tokenized += 1
        with self._lock:
            if len(self._cache) >= self.cache_size:
                # Drop the oldest half: dicts keep insertion order, so this is FIFO eviction.
                for stale in list(self._cache)[: self.cache_size // 2]:
                    self._cache.pop(stale, None)
            self._cache[key] = value
        return value

    def counts(self, messages: Sequence[BaseMessage]) -> list[int]:
        """Per-message counts, without the list overhead."""
        return [self.count_message(m) for m in messages]

    def __call__(self, messages: Sequence[BaseMessage]) -> int:
        return self.base_tokens + sum(self.count_message(m) for m in messages)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def __repr__(self) -> str:
        return f"MessageTokenCounter({self.name!r}, base_tokens={self.base_tokens})"


def _content_len(message: BaseMessage) -> int:
    content = message.content
    return len(content) if isinstance(content, (str, list)) else 0


def _cache_key(message: BaseMessage) -> Any:
    if message.id:
        tool_calls = len(message.tool_calls) if isinstance(message, AIMessage) else 0
        return (message.type, message.id, _content_len(message), tool_calls)
    payload: list[Any] = [message.type, message.content, message.name]
    if isinstance(message, AIMessage):
        payload.append([(tc["name"], tc["args"], tc.get("id")) for tc in message.tool_calls])
    if isinstance(message, ToolMessage):
        payload.append(message.tool_call_id)
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return ("h", hashlib.blake2b(raw, digest_size=16).digest())


# -- tiktoken --------------------------------------------------------------------------------
_encodings: dict[str, Any] = {}
_encodings_lock = threading.Lock()


def encoding_name_for_model(model: str) -> str:
    """tiktoken's encoding for ``model``: ``o200k_base`` for the gpt-4o / o-series families, else cl100k."""
    try:
        import tiktoken

        return tiktoken.encoding_name_for_model(model)
    except (ImportError, KeyError):
        bare = model.split("/")[-1].lower()
        return "o200k_base" if bare.startswith(_O200K_PREFIXES) else "cl100k_base"


def load_encoding(name: str) -> Any | None:
    """The tiktoken ``Encoding`` called ``name``, or ``None`` (warned once) when it cannot load.

    The outcome is remembered per process, so an offline machine tries the download once.
    """
    with _encodings_lock:
        if name in _encodings:
            return _encodings[name]
        try:
            import tiktoken

            encoding = tiktoken.get_encoding(name)
        except Exception as exc:  # noqa: BLE001 - ImportError, ConnectionError, bad file: all mean "fall back"
            encoding = None
            warnings.warn(
                f"tiktoken could not load the {name!r} encoding ({type(exc).__name__}: {str(exc)[:160]}); "
                "counting tokens approximately (about 4 characters per token) instead. To count "
                "exactly offline, put the encoding file in TIKTOKEN_CACHE_DIR.",
                TokenizerFallbackWarning,
                stacklevel=3,
            )
            logger.warning("tiktoken encoding %r unavailable, using approximate token counts", name)
        _encodings[name] = encoding
        return encoding


def _text_of(content: Any, encode: Callable[[str], list[int]]) -> int:
    if isinstance(content, str):
        return len(encode(content)) if content else 0
    total = 0
    for block in content or []:
        if isinstance(block, str):
            total += len(encode(block))
        elif isinstance(block, dict) and block.get("type") in {"image", "image_url"}:
            total += TOKENS_PER_IMAGE
        elif isinstance(block, dict) and block.get("type") == "text":
            total += len(encode(block.get("text", "")))
        else:
            total += len(encode(json.dumps(block, default=str)))
    return total


_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
}


def _tiktoken_message_counter(encoding: Any) -> Callable[[BaseMessage], int]:
    # Stored text that looks like a special token (``<|endoftext|>`` occurs in public chat logs)
    # is counted as ordinary text: tiktoken's default would raise for the whole session.
    def encode(text: str) -> list[int]:
        return encoding.encode(text, disallowed_special=())  # type: ignore[no-any-return]

    def count(message: BaseMessage) -> int:
        tokens = TOKENS_PER_MESSAGE + len(encode(_ROLES.get(message.type, message.type)))
        tokens += _text_of(message.content, encode)
        if message.name:
            tokens += TOKENS_PER_NAME + len(encode(message.name))
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                tokens += TOKENS_PER_TOOL_CALL + len(encode(call["name"]))
                tokens += len(encode(json.dumps(call["args"], ensure_ascii=False)))
        if isinstance(message, ToolMessage):
            tokens += len(encode(message.tool_call_id))
        return tokens

    return count


def tiktoken_counter(
    model: str | None = None, *, encoding: str | None = None
) -> MessageTokenCounter:
    """An exact OpenAI-style counter; approximate (warned once) if the encoding cannot load.

    ``encoding`` wins over ``model``; with neither, ``cl100k_base`` is used.
    """
    name = encoding or (encoding_name_for_model(model) if model else "cl100k_base")
    loaded = load_encoding(name)
    if loaded is None:
        counter = approximate_counter()
        counter.name = f"approximate (fallback for {name})"
        return counter
    return MessageTokenCounter(
        _tiktoken_message_counter(loaded), base_tokens=REPLY_PRIMING_TOKENS, name=name
    )


def approximate_counter(*, chars_per_token: float = 4.0) -> MessageTokenCounter:
    """``count_tokens_approximately`` per message (chars/4 + 3 framing, tool calls included)."""

    def count(message: BaseMessage) -> int:
        return count_tokens_approximately([message], chars_per_token=chars_per_token)

    return MessageTokenCounter(count, base_tokens=REPLY_PRIMING_TOKENS, name="approximate")


def model_counter(model: Any) -> MessageTokenCounter:
    """A chat model's own ``get_num_tokens_from_messages``, made per-message and cached.

    A message's count is the model's count of ``[message]`` minus its count of ``[]``, so
    list-level overhead (reply priming) is counted once.
    """
    try:
        base = int(model.get_num_tokens_from_messages([]))
    except Exception:  # noqa: BLE001 - some models refuse an empty list
        base = 0

    def count(message: BaseMessage) -> int:
        return max(0, int(model.get_num_tokens_from_messages([message])) - base)

    return MessageTokenCounter(count, base_tokens=base, name=f"model:{type(model).__name__}")


def _list_counter(fn: Callable[[list[BaseMessage]], int]) -> MessageTokenCounter:
    base = int(fn([]))
    return MessageTokenCounter(
        lambda m: int(fn([m])) - base, base_tokens=base, name=getattr(fn, "__name__", "custom")
    )


def _is_per_message(fn: Callable[..., Any]) -> bool:
    """``trim_messages``' rule: a first parameter annotated as a message type means per message."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    annotation = params[0].annotation
    if isinstance(annotation, str):  # postponed annotations: resolve them if we can
        try:
            annotation = typing.get_type_hints(fn).get(params[0].name, annotation)
        except Exception:  # noqa: BLE001 - unresolvable names: judge by the spelling
            return annotation.endswith("Message")
    return isinstance(annotation, type) and issubclass(annotation, BaseMessage)


_default: MessageTokenCounter | None = None


def default_token_counter() -> MessageTokenCounter:
    """The shared default: tiktoken ``cl100k_base`` (one cache for every strategy), else approximate."""
    global _default
    if _default is None:
        _default = tiktoken_counter(encoding="cl100k_base")
    return _default


def as_token_counter(value: TokenCounterLike = None) -> MessageTokenCounter:
    """Normalise what users pass as ``token_counter`` into a cached :class:`MessageTokenCounter`."""
    if value is None:
        return default_token_counter()
    if isinstance(value, MessageTokenCounter):
        return value
    if isinstance(value, str):
        if value == "approximate":
            return approximate_counter()
        if value.endswith("_base"):
            return tiktoken_counter(encoding=value)
        return tiktoken_counter(value)
    if hasattr(value, "get_num_tokens_from_messages"):
        return model_counter(value)
    if callable(value):
        if _is_per_message(value):
            return MessageTokenCounter(value, name=getattr(value, "__name__", "custom"))
        return _list_counter(value)
    raise TypeError(
        f"token_counter must be a counter function, a chat model, a model name or 'approximate', got {type(value).__name__}"
    )


__all__ = [
    "CounterStats",
    "MessageTokenCounter",
    "TokenCounter",
    "TokenizerFallbackWarning",
    "approximate_counter",
    "as_token_counter",
    "default_token_counter",
    "encoding_name_for_model",
    "load_encoding",
    "model_counter",
    "tiktoken_counter",
]
