"""Metrics and traces: Prometheus metrics and OpenTelemetry spans, both no-ops until enabled.

Every layer may call the tiny API below; it costs one global check while nothing is enabled, and
nothing here imports ``prometheus_client`` or ``opentelemetry`` before it is needed.

    telemetry.enable()                               # Prometheus metrics (prometheus-client)
    telemetry.count("turns", kind="invoke")          # a counter
    telemetry.observe("messages_read", 12, strategy="window")   # a histogram
    telemetry.gauge("sessions", 42, engine="redis")  # a gauge
    with telemetry.span("engine.append", engine="sqlite"):       # an OpenTelemetry span
        ...
    body, content_type = telemetry.render()          # the /metrics page

Metric names are fixed in :data:`METRICS` (labels included), so a typo fails loudly instead of
creating a new series. Labels never carry user or session ids: they would leak who uses the
service and explode the number of series.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError

PREFIX = "sessionmem_"


@dataclass(frozen=True)
class Metric:
    """One metric: kind (``counter`` / ``histogram`` / ``gauge``), help text, label names."""

    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


_COUNTS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_TOKENS = (0, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000)

METRICS: dict[str, Metric] = {
    "http_requests": Metric("counter", "HTTP requests answered", ("method", "route", "status")),
    "http_request_seconds": Metric(
        "histogram", "HTTP request latency (until the last byte)", ("method", "route")
    ),
    "turns": Metric("counter", "chat turns completed", ("kind",)),
    "messages_read": Metric("histogram", "stored messages read per turn", ("strategy",), _COUNTS),
    "tokens_injected": Metric(
        "histogram", "prompt tokens memory injected per turn", ("strategy",), _TOKENS
    ),
    "model_calls": Metric("counter", "model calls made by memory strategies", ("role", "strategy")),
    "errors": Metric("counter", "errors by type and where they surfaced", ("type", "where")),
    "sessions": Metric("gauge", "sessions an engine holds (when counted)", ("engine",)),
    "sessions_created": Metric("counter", "sessions created", ("engine",)),
    "sessions_deleted": Metric("counter", "sessions deleted", ("engine",)),
    "engine_seconds": Metric("histogram", "engine call latency", ("engine", "op")),
}

_lock = threading.Lock()
_registry: Any = None
_instruments: dict[str, Any] = {}
_tracer: Any = None


def enable(registry: Any = None) -> Any:
    """Turn Prometheus metrics on (idempotent) and return the registry they live in.

    ``registry`` is a ``prometheus_client.CollectorRegistry``; by default the metrics go to a
    registry of this package (so they never clash with an app's own). Passing a registry again
    moves the metrics there (tests use a fresh one each).
    """
    global _registry
    try:
        import prometheus_client as prom
    except ImportError as exc:
        raise ConfigurationError(
            "metrics need prometheus-client: pip install 'langchain-sessionmem[metrics]'"
        ) from exc
    with _lock:
        if _registry is not None and (registry is None or registry is _registry):
            return _registry
        target = registry if registry is not None else prom.CollectorRegistry()
        kinds = {"counter": prom.Counter, "histogram": prom.Histogram, "gauge": prom.Gauge}
        made = {}
        for name, metric in METRICS.items():
            options: dict[str, Any] = {"registry": target}
            if metric.buckets is not None:
                options["buckets"] = metric.buckets
            made[name] = kinds[metric.kind](PREFIX + name, metric.help, metric.labels, **options)
        _instruments.clear()
        _instruments.update(made)
        _registry = target
        return target


def disable() -> None:
    """Turn metrics off again (calls become no-ops; the registry keeps its last values)."""
    global _registry
    with _lock:
        _registry = None
        _instruments.clear()


def enabled() -> bool:
    """Whether :func:`enable` was called."""
    return _registry is not None


def _instrument(name: str, kind: str, labels: Mapping[str, Any]) -> Any:
    metric = METRICS.get(name)
    if metric is None or metric.kind != kind:
        raise ConfigurationError(
            f"no {kind} named {name!r}: use one of "
            f"{sorted(n for n, m in METRICS.items() if m.kind == kind)}"
        )
    if set(labels) != set(metric.labels):
        raise ConfigurationError(
            f"{name} takes the labels {list(metric.labels)}, got {sorted(labels)}"
        )
    instrument = _instruments.get(name)
    if instrument is None:  # disabled meanwhile
        return None
    return instrument.labels(**{k: str(v) for k, v in labels.items()})


def count(name: str, amount: float = 1, **labels: Any) -> None:
    """Add ``amount`` to the counter ``name`` (a key of :data:`METRICS`)."""
    if _registry is not None:
        instrument = _instrument(name, "counter", labels)
        if instrument is not None:
            instrument.inc(amount)


def observe(name: str, value: float, **labels: Any) -> None:
    """Record ``value`` in the histogram ``name``."""
    if _registry is not None:
        instrument = _instrument(name, "histogram", labels)
        if instrument is not None:
            instrument.observe(value)


def gauge(name: str, value: float, **labels: Any) -> None:
    """Set the gauge ``name`` to ``value``."""
    if _registry is not None:
        instrument = _instrument(name, "gauge", labels)
        if instrument is not None:
            instrument.set(value)


def error(exc: BaseException, where: str) -> None:
    """Count an error by its class name and the place it surfaced (``http``, ``stream``, ...)."""
    count("errors", type=type(exc).__name__, where=where)


def record_memory(stats: Mapping[str, Any]) -> None:
    """Metrics from one memory report (``MemoryStats.as_dict()``): reads, tokens, model calls."""
    if _registry is None:
        return
    strategy = stats.get("strategy") or "unknown"
    if stats.get("phase") == "load":
        observe("messages_read", stats.get("window_messages", 0), strategy=strategy)
        injected = stats.get("prompt_tokens") or (
            stats.get("window_tokens", 0) + stats.get("summary_tokens", 0)
        )
        observe("tokens_injected", injected, strategy=strategy)
    for role in ("summarizer", "extractor"):
        calls = stats.get(f"{role}_calls", 0)
        if calls:
            count("model_calls", calls, role=role, strategy=strategy)


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of the enabled metrics, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if _registry is None:
        raise ConfigurationError("metrics are not enabled: call telemetry.enable() first")
    return generate_latest(_registry), CONTENT_TYPE_LATEST


# -- traces ---------------------------------------------------------------------------------
def _get_tracer() -> Any:
    """The package's OpenTelemetry tracer, or ``False`` when opentelemetry-api is missing."""
    global _tracer
    if _tracer is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = False
        else:
            _tracer = trace.get_tracer("langchain_sessionmem")
    return _tracer


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """An OpenTelemetry span named ``sessionmem.<name>`` (current for its body), or nothing.

    Exceptions are recorded on the span and re-raised. Attribute values must be str, bool, int or
    float; others are turned into str. Works in async code too (the span lives in a contextvar).
    """
    tracer = _get_tracer()
    if not tracer:
        yield None
        return
    clean = {
        k: v if isinstance(v, (str, bool, int, float)) else str(v)
        for k, v in attributes.items()
        if v is not None
    }
    with tracer.start_as_current_span(f"sessionmem.{name}", attributes=clean) as current:
        yield current


__all__ = [
    "METRICS",
    "Metric",
    "count",
    "disable",
    "enable",
    "enabled",
    "error",
    "gauge",
    "observe",
    "record_memory",
    "render",
    "span",
]
