"""What memory did in a turn (`MemoryStats`), sent to logging and to the run's callbacks.

Why: memory makes model calls and drops text on the user's behalf; tracers and logs should show
it. The dispatch is one generator of callback calls, run by the blocking or the async driver, so
:func:`report` and :func:`areport` share their logic; :func:`reported` makes the report the last
op of a strategy's plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
)

from .. import telemetry
from .._steps import Steps, adrive, drive
from .ops import Op, Plan

logger = logging.getLogger("langchain_sessionmem.memory")
T = TypeVar("T")

MEMORY_EVENT = "sessionmem_memory"
"""Name of the custom callback event each load and save dispatches (data: :class:`MemoryStats`)."""


@dataclass
class MemoryStats:
    """What memory did in one load or save: sizes, evictions, model calls and time.

    ``summary_cut`` counts summaries cut to ``max_summary_tokens`` (a summarizer that ignored
    its length limit); ``summary_tokens`` is what the summary block takes in the prompt;
    ``recalled`` says what recall brought back, from which session, scored how, at what cost.
    """

    strategy: str
    phase: str
    session_id: str | None = None
    user_id: str | None = None
    window_messages: int = 0
    window_tokens: int = 0
    prompt_tokens: int = 0
    summary_tokens: int = 0
    summary_cut: int = 0
    entity_count: int = 0
    evicted: int = 0
    summarizer_calls: int = 0
    extractor_calls: int = 0
    background: bool = False
    seconds: float = 0.0
    recall_messages: int = 0
    recall_tokens: int = 0
    recalled: list[dict[str, Any]] = field(default_factory=list)
    """One entry per recalled turn: ``session_id``, ``seqs``, ``score``, ``tokens``, ``date``."""

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # flat: cheap every turn
        data["recalled"] = [dict(item) for item in self.recalled]
        return data

    def add(self, other: MemoryStats) -> None:
        """Count ``other``'s model calls, evictions and cuts into these stats."""
        self.summarizer_calls += other.summarizer_calls
        self.extractor_calls += other.extractor_calls
        self.evicted += other.evicted
        self.summary_cut += other.summary_cut


Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _dispatch(manager: Any, data: dict[str, Any], phase: str) -> Steps[Call, None]:
    """Attach the event to the current run, or open a small run to carry it."""
    if manager.parent_run_id is not None:
        yield manager.on_custom_event, (MEMORY_EVENT, data), {"run_id": manager.parent_run_id}
        return
    start = manager.on_chain_start, (None, {"phase": phase}), {"name": f"sessionmem_memory_{phase}"}
    run = yield start
    yield run.get_child().on_custom_event, (MEMORY_EVENT, data), {"run_id": run.run_id}
    yield run.on_chain_end, (data,), {}


def _call(call: Call) -> Any:
    return call[0](*call[1], **call[2])


async def _acall(call: Call) -> Any:
    return await call[0](*call[1], **call[2])


def _data(stats: MemoryStats, config: RunnableConfig | None) -> dict[str, Any] | None:
    data = stats.as_dict()
    logger.debug("memory %s %s: %s", stats.strategy, stats.phase, data)
    telemetry.record_memory(data)  # a no-op unless metrics are enabled
    return data if config and config.get("callbacks") else None


def report(stats: MemoryStats, config: RunnableConfig | None) -> None:
    """Send ``stats`` to logging and to the callbacks as the custom event :data:`MEMORY_EVENT`.

    Inside a run the event is attached to it; outside one (the adapter calls memory around the
    inner runnable) a small ``sessionmem_memory_<phase>`` run is opened to carry it, so tracers
    show memory work as its own step. Reporting never breaks a turn.
    """
    drive(_report(stats, config, get_callback_manager_for_config), _call)


async def areport(stats: MemoryStats, config: RunnableConfig | None) -> None:
    """The async twin of :func:`report`."""
    await adrive(_report(stats, config, get_async_callback_manager_for_config), _acall)


def _report(
    stats: MemoryStats, config: RunnableConfig | None, manager_for: Callable[..., Any]
) -> Steps[Call, None]:
    """Log ``stats``, then dispatch them to the callback manager ``manager_for(config)`` gives
    (sync or async); a failed dispatch is logged and dropped."""
    data = _data(stats, config)
    if data is None:
        return
    try:
        yield from _dispatch(manager_for(config), data, stats.phase)
    except Exception:  # noqa: BLE001
        logger.debug("could not dispatch the memory event", exc_info=True)


@dataclass(frozen=True)
class Report(Op):
    """Report a load's or a save's stats: the last op of a strategy's turn."""

    stats: MemoryStats
    config: RunnableConfig | None

    def call(self) -> None:
        report(self.stats, self.config)

    async def acall(self) -> None:
        await areport(self.stats, self.config)


def reported(plan: Plan[tuple[T, MemoryStats]], config: RunnableConfig | None) -> Plan[T]:
    """``plan``'s result without its stats, which it reports (:class:`Report`) before returning."""
    result, stats = yield from plan
    yield Report(stats, config)
    return result
