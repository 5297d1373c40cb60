"""Engine calls as metrics and spans: a transparent wrapper the store puts around its engine while
telemetry is enabled (nothing wraps anything, and nothing is paid, while it is off)."""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any

from . import telemetry

_COUNTED = {"delete_session": "sessions_deleted", "adelete_session": "sessions_deleted"}


class InstrumentedEngine:
    """Every engine method timed (``engine_seconds``), traced (``sessionmem.engine.<op>``) and its
    errors counted (``errors{where="engine"}``); attributes pass through unchanged."""

    def __init__(self, engine: Any):
        self.__dict__["_engine"] = engine
        self.__dict__["kind"] = engine.kind

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if name.startswith("_") or not callable(attr):
            return attr
        op = name[1:] if name.startswith("a") and hasattr(self._engine, name[1:]) else name
        kind = self.kind
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            async def acall(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                with telemetry.span(f"engine.{op}", engine=kind):
                    try:
                        result = await attr(*args, **kwargs)
                    except Exception as exc:
                        telemetry.error(exc, "engine")
                        raise
                _record(kind, op, name, result, started)
                return result

            return acall

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            with telemetry.span(f"engine.{op}", engine=kind):
                try:
                    result = attr(*args, **kwargs)
                except Exception as exc:
                    telemetry.error(exc, "engine")
                    raise
            _record(kind, op, name, result, started)
            return result

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._engine, name, value)

    def __repr__(self) -> str:
        return f"InstrumentedEngine({self._engine!r})"


def _record(kind: str, op: str, name: str, result: Any, started: float) -> None:
    telemetry.observe("engine_seconds", time.perf_counter() - started, engine=kind, op=op)
    if name in _COUNTED and result:
        telemetry.count(_COUNTED[name], engine=kind)
    elif op == "list_sessions" and isinstance(result, list):
        telemetry.gauge("sessions", len(result), engine=kind)


def instrumented(engine: Any) -> Any:
    """``engine`` wrapped while telemetry is enabled, else ``engine`` itself."""
    if telemetry.enabled() and not isinstance(engine, InstrumentedEngine):
        return InstrumentedEngine(engine)
    return engine
