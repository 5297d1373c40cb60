"""The one sans-IO driver: sync and async runs of the same generator give the same result, and an
error of a request is thrown back into the generator, which may recover or let it propagate."""

from __future__ import annotations

import asyncio

import pytest

from langchain_sessionmem._steps import adrive, drive


def counting(limit: int):
    """Asks for numbers until their sum reaches ``limit``; recovers from one failed request."""
    total, asked = 0, 0
    while total < limit:
        asked += 1
        try:
            total += yield ("number", asked)
        except KeyError:
            total += 100  # a recovered failure counts as a big number
    return total, asked


def send(request):
    if request[1] == 3:
        raise KeyError("three")
    return request[1]


async def asend(request):
    await asyncio.sleep(0)
    return send(request)


def test_sync_and_async_drivers_agree_and_throw_errors_back():
    # 1 + 2 = 3 < 5; the third request fails and the generator counts it as 100: 103 after 3 asks
    assert drive(counting(5), send) == (103, 3)
    assert drive(counting(2), send) == (3, 2)  # no failure on this path
    assert drive(counting(5), send) == asyncio.run(adrive(counting(5), asend))


def test_an_unhandled_request_error_propagates_from_the_generator():
    def steps():
        yield ("boom",)
        return "never"

    def fail(request):
        raise ValueError("request failed")

    with pytest.raises(ValueError, match="request failed"):
        drive(steps(), fail)


def test_base_exceptions_are_not_thrown_into_the_generator():
    """Cancellation must reach the caller at once, not be handled as a request error."""
    seen = []

    def steps():
        try:
            yield ("wait",)
        except BaseException as exc:  # noqa: BLE001 - recording what reaches the generator
            seen.append(type(exc))
            raise

    async def cancelled(request):
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(adrive(steps(), cancelled))
    assert asyncio.CancelledError not in seen
