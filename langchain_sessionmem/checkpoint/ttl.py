"""Checkpoint TTL options in LangGraph's names, and the sweeper of engines without native expiry."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..errors import ConfigurationError
from ..records import ttl_seconds

TTL_KEYS = ("default_ttl", "refresh_on_read", "sweep_interval_minutes")
"""LangGraph's ``TTLConfig`` names (durations in minutes)."""

Sweeper = tuple[threading.Thread, threading.Event]

logger = logging.getLogger(__name__)


def parse_ttl(
    ttl: timedelta | float | Mapping[str, Any] | None, refresh_on_read: bool
) -> tuple[float | None, bool, float | None]:
    """(ttl seconds, refresh_on_read, sweep interval seconds) from a duration or a ``TTLConfig`` dict.

    A dict uses LangGraph's names and minutes: ``{"default_ttl": 60 * 24, "refresh_on_read": True,
    "sweep_interval_minutes": 10}``.
    """
    if not isinstance(ttl, Mapping):
        return ttl_seconds(ttl), refresh_on_read, None
    unknown = sorted(set(ttl) - set(TTL_KEYS))
    if unknown:
        raise ConfigurationError(
            f"unknown ttl option(s) {unknown}: use {list(TTL_KEYS)} (durations in minutes)"
        )
    minutes = ttl.get("default_ttl")
    sweep = ttl.get("sweep_interval_minutes")
    if sweep is not None and float(sweep) <= 0:
        raise ConfigurationError(f"sweep_interval_minutes must be positive, got {sweep!r}")
    return (
        None if minutes is None else ttl_seconds(float(minutes) * 60),
        bool(ttl.get("refresh_on_read", refresh_on_read)),
        None if sweep is None else float(sweep) * 60,
    )


def start_sweeper(saver: Any, interval: float, name: str) -> Sweeper:
    """A daemon thread calling ``saver.purge_expired()`` every ``interval`` seconds; it holds the
    saver weakly, so a saver nobody holds any more stops being swept."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_sweep, args=(weakref.ref(saver), stop, interval), name=name, daemon=True
    )
    thread.start()
    return thread, stop


def stop_sweeper(sweeper: Sweeper) -> None:
    thread, stop = sweeper
    stop.set()
    if thread is not threading.current_thread():
        thread.join(timeout=5)


def _sweep(ref: weakref.ReferenceType, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        saver = ref()
        if saver is None:
            return
        try:
            saver.purge_expired()
        except Exception:  # keep sweeping: the next round may succeed
            logger.warning("checkpoint TTL sweep failed", exc_info=True)
        del saver
