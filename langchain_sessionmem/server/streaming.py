"""Server-sent events that never end mid-body: errors before the first byte are HTTP errors,
errors after it are an ``error`` event followed by a clean end of the stream.

Events: ``data`` (one chunk, JSON), then either ``end`` (``{}``) or ``error`` (a problem body).
The first chunk is awaited before the response starts, so validation and most model failures
get a real status code. A client that goes away closes the chain's stream, which stores the
partial reply marked as interrupted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi.responses import StreamingResponse

from .. import telemetry
from .problems import body, upstream

_END = object()


def event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def sse(
    chunks: AsyncIterator[Any],
    encode: Callable[[Any], Any],
    *,
    on_done: Callable[[], None] | None = None,
) -> StreamingResponse:
    """A ``text/event-stream`` response of ``chunks``; raises the first chunk's error instead."""
    iterator = aiter(chunks)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        first = _END
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await _close(iterator)
        raise upstream(exc) from exc

    async def events() -> AsyncIterator[str]:
        try:
            if first is not _END:
                yield event("data", encode(first))
                async for chunk in iterator:
                    yield event("data", encode(chunk))
        except Exception as exc:  # after the first byte: report in-band, end cleanly
            telemetry.error(exc, "stream")
            yield event("error", body(upstream(exc)))
            return
        finally:
            with anyio.CancelScope(shield=True):
                await _close(iterator)
        if on_done is not None:
            on_done()
        yield event("end", {})

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
