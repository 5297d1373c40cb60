"""Log references that name ranges of a log: a trimmed list is stored without copying what it kept.

A list channel version is a reference into an append-only log. The plain form ``"<log>:<end>"``
means items ``0..end-1`` (the only form 0.1 wrote, still read). When a value keeps some of the
logged items in order (a ``RemoveMessage`` trim: the oldest messages leave, the rest stay) plus new
items, the new items are appended to the same log and the value is the concatenation of
half-open ranges of that log: ``"<log>:<end>:<a>-<b>,...,<c>"`` (the last range runs from ``c`` to
``end``). Engines only need ``end`` (how far the log must be read) and :func:`first` (where the
value starts), so they fetch what the value holds and nothing older.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import CorruptDataError
from .serde import Typed
from .values import LOGREF

Spans = list[tuple[int, int]]
"""Half-open ranges ``[a, b)`` of a log, in order, whose items make the value."""


def encode_spans(log_id: str, spans: Sequence[tuple[int, int]]) -> Typed:
    """The reference to the value made of ``spans`` of log ``log_id`` (plain when a prefix)."""
    end = spans[-1][1] if spans else 0
    if len(spans) <= 1 and (not spans or spans[0][0] == 0):
        return LOGREF, f"{log_id}:{end}".encode()
    head = ",".join(f"{a}-{b}" for a, b in spans[:-1])
    last = str(spans[-1][0])
    return LOGREF, f"{log_id}:{end}:{head + ',' if head else ''}{last}".encode()


def decode_spans(data: bytes) -> tuple[str, int, Spans]:
    """``(log_id, end, spans)`` of a log reference; damaged bytes raise :class:`CorruptDataError`."""
    try:
        text = bytes(data).decode()
        log_id, sep, rest = text.partition(":")
        end_text, colon, ranges = rest.partition(":")
        end = int(end_text)
        spans: Spans = []
        if colon:
            parts = ranges.split(",")
            for part in parts[:-1]:
                a, dash, b = part.partition("-")
                if not dash:
                    raise ValueError(f"range {part!r} has no '-'")
                spans.append((int(a), int(b)))
            spans.append((int(parts[-1]), end))
        elif end:
            spans.append((0, end))
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"damaged log reference {data!r}: {exc}") from exc
    if not sep or not log_id or end < 0 or not _ordered(spans, end):
        raise CorruptDataError(
            f"damaged log reference {data!r}: expected '<log id>:<length>[:<ranges>]'"
        )
    return log_id, end, spans


def _ordered(spans: Spans, end: int) -> bool:
    last = 0
    for a, b in spans:
        if a < last or b <= a or b > end:
            return False
        last = b
    return True


def positions(spans: Sequence[tuple[int, int]]) -> list[int]:
    """The log position of each item of the value."""
    return [i for a, b in spans for i in range(a, b)]


def spans_of(pos: Sequence[int]) -> Spans:
    """The ranges of strictly increasing log positions (``positions`` inverted)."""
    out: Spans = []
    for p in pos:
        if out and out[-1][1] == p:
            out[-1] = (out[-1][0], p + 1)
        else:
            out.append((p, p + 1))
    return out


def first(spans: Sequence[tuple[int, int]]) -> int:
    """Where the value starts in its log (nothing before it needs reading)."""
    return spans[0][0] if spans else 0
