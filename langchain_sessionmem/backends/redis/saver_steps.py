"""The Redis checkpointer's reads and writes of checkpoints as generators of requests (no I/O):
each is the whole logic of a sync/async pair, which :mod:`.saver` drives over
``RedisConnections.send`` / ``asend``. Whole-thread operations are in :mod:`.thread_steps`.
"""

from __future__ import annotations

import builtins  # `list` is a method name of the saver: annotations here say builtins.list
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..._steps import Steps
from ...checkpoint.assemble import BlobKey, Row, TupleAssembler
from ...checkpoint.config import target
from ...checkpoint.delta import DeltaWalk, empty_history
from ...checkpoint.linear import LogCache, plan_put
from ...checkpoint.values import ValueCodec
from ...checkpoint.writes import WriteRow, plan_writes
from ...errors import CorruptDataError
from .connections import Cmd, Pipe, Request, Script
from .keys import ThreadKeys
from .saver_codec import (
    apply_values,
    chain_links,
    delta_fetch_args,
    list_params,
    merge_pages,
    parse_delta_fetch,
    parse_rows,
    put_args,
    rebase_on_conflict,
    rows_args,
    text,
    values_args,
    writes_args,
)
from .scripts import script

T = TypeVar("T")
SaverSteps = Steps[Request, T]
CHAIN_PAGE = 200  # ancestors per round trip in the DeltaChannel walk
Walked = tuple[DeltaWalk, dict[str, list[WriteRow]], dict[str, Any]]


class CheckpointSteps:
    """Checkpoint reads and writes of :class:`~.saver.RedisCheckpointSaver` (mixed into it).

    Rows and the log cache carry the stored thread key (``self._key(thread_id)``); the Redis keys
    are named from the public thread id by :class:`~.keys.ThreadKeys`, which spells the same key.
    """

    keys: ThreadKeys
    serde: Any
    linear: bool
    ttl: float | None
    refresh_on_read: bool
    _logs: LogCache

    if TYPE_CHECKING:  # from SessionSaverBase and thread_steps.ThreadSteps

        def _key(self, thread_id: str) -> str: ...
        def _public(self, key: str) -> str: ...
        def _index_ops(
            self, thread_id: str, run_id: str | None, reply: Any = None
        ) -> builtins.list[Cmd]: ...
        def _indexed(self, thread_id: str, run_id: str | None) -> None: ...

    # -- small request builders ----------------------------------------------------------------
    @property
    def _ttl_ms(self) -> int:
        return 0 if self.ttl is None else int(self.ttl * 1000)

    @property
    def _refresh_ms(self) -> int:
        """TTL a read re-applies inside its own script (refresh_on_read), else 0."""
        return self._ttl_ms if self.refresh_on_read else 0

    def _lua(self, name: str, thread_id: str, args: builtins.list[Any]) -> Script:
        """The checkpoint script ``name`` on the keys of ``thread_id`` (one slot)."""
        return Script(script(f"checkpoint_{name}"), self.keys.script_keys(thread_id), args)

    @staticmethod
    def _check(reply: Any, thread_id: str) -> None:
        if not (isinstance(reply, list) and reply and text(reply[0]) == "ok"):
            raise CorruptDataError(
                f"unexpected reply from the checkpoint script for thread {thread_id!r}: {reply!r}"
            )

    # -- reads ---------------------------------------------------------------------------------
    def _rows_steps(
        self, thread_id: str, args: builtins.list[Any]
    ) -> SaverSteps[builtins.list[Row]]:
        reply = yield self._lua("rows", thread_id, args)
        return parse_rows(self._key(thread_id), reply, thread_id)

    def _assemble_steps(
        self, codec: ValueCodec, rows: builtins.list[Row], cache: bool
    ) -> SaverSteps[builtins.list[CheckpointTuple]]:
        """Channel values and log items of ``rows``: one VALUES script per thread."""
        asm = TupleAssembler(codec, rows, self._logs, public=self._public)
        by_thread: dict[str, list[BlobKey]] = {}
        for key in asm.blob_keys():
            by_thread.setdefault(key[0], []).append(key)
        for stored, keys in by_thread.items():
            tid = self._public(stored)
            reply = yield self._lua("values", tid, values_args(asm, stored, keys))
            apply_values(asm, keys, reply, tid)
        return asm.tuples(self._logs if cache else None)

    def _get_tuple_steps(
        self, codec: ValueCodec, config: RunnableConfig
    ) -> SaverSteps[CheckpointTuple | None]:
        t = target(config)
        args = rows_args(t.ns, t.checkpoint_id, None, 1, {}, self._refresh_ms)
        rows = yield from self._rows_steps(t.thread_id, args)
        return (yield from self._assemble_steps(codec, rows, cache=True))[0] if rows else None

    def _list_steps(
        self,
        codec: ValueCodec,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> SaverSteps[builtins.list[CheckpointTuple]]:
        """Rows of one thread, or of every thread of the owner; filters Lua cannot compare run here."""
        ns, exact, before_id, pushed, local, limit = list_params(config, filter, before, limit)
        args = rows_args(ns, exact, before_id, None if local else limit, pushed, self._refresh_ms)
        if config:
            threads = [target(config).thread_id]
        else:
            threads = [text(t) for t in (yield Cmd("zrange", (self.keys.threads, 0, -1)))]
        rows: list[Row] = []
        for tid in threads:
            rows += yield from self._rows_steps(tid, args)
        return (yield from self._assemble_steps(codec, merge_pages(rows, local, limit), False))

    def _delta_steps(
        self,
        codec: ValueCodec,
        thread_id: str,
        ns: str,
        checkpoint_id: str | None,
        channels: Sequence[str],
        *,
        from_parent: bool = True,
        refresh_ms: int = 0,
    ) -> SaverSteps[Walked | None]:
        """The DeltaChannel walk: one DELTA_CHAIN call reads the target and up to 200 ancestors,
        one DELTA_FETCH call walks them server-side and returns the seeds and the writes of the
        visited checkpoints (two round trips per 200 ancestors). None when there is no target."""
        key = self._key(thread_id)
        chain = [ns, checkpoint_id or "", CHAIN_PAGE + 1, refresh_ms]
        reply = yield self._lua("delta_chain", thread_id, chain)
        links = chain_links(codec, key, ns, reply, thread_id)
        if not links:
            return None
        walk = DeltaWalk(channels, links[0].parent_id if from_parent else links[0].checkpoint_id)
        if from_parent:
            links = links[1:]
        writes: dict[str, list[WriteRow]] = {}
        seeds: dict[str, Any] = {}
        while not walk.done:
            if not links:
                page = [ns, walk.cursor, CHAIN_PAGE, 0]
                reply = yield self._lua("delta_chain", thread_id, page)
                links = chain_links(codec, key, ns, reply, thread_id)
                if not links:
                    walk.end()
                    break
            chans = [ch for ch in walk.channels if ch in walk.remaining]
            reply = yield self._lua("delta_fetch", thread_id, delta_fetch_args(ns, chans, links))
            where = (thread_id, key, ns)
            filled, found, more = parse_delta_fetch(codec, where, chans, reply)
            seeds.update(found)
            for cid, rows in more.items():
                writes.setdefault(cid, []).extend(rows)
            walk.advance(links, filled)
            links = []
        return walk, writes, seeds

    def _history_steps(
        self, codec: ValueCodec, config: RunnableConfig, channels: Sequence[str]
    ) -> SaverSteps[dict[str, Any]]:
        if not channels:
            return {}
        t = target(config)
        found = yield from self._delta_steps(
            codec, t.thread_id, t.ns, t.checkpoint_id, channels, refresh_ms=self._refresh_ms
        )
        if found is None:
            return empty_history(channels)
        walk, writes, seeds = found
        return walk.history(codec, t.thread_id, writes, seeds, key=self._key(t.thread_id), ns=t.ns)

    # -- writes --------------------------------------------------------------------------------
    def _put_steps(
        self,
        codec: ValueCodec,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> SaverSteps[RunnableConfig]:
        """Index the thread, then one PUT script; a log another writer grew is rebased and retried."""
        key = self._key(target(config).thread_id)
        plan = plan_put(
            codec,
            self._logs,
            config,
            checkpoint,
            metadata,
            new_versions,
            linear=self.linear,
            key=key,
        )
        yield from self._pipe(self._index_ops(plan.thread_id, plan.run_id))
        for _ in range(len(plan.appends) + 1):
            reply = yield self._lua("put", plan.thread_id, put_args(plan, self._ttl_ms))
            if not rebase_on_conflict(plan, reply):
                break
        self._check(reply, plan.thread_id)
        yield from self._pipe(self._index_ops(plan.thread_id, plan.run_id, reply))
        self._indexed(plan.thread_id, plan.run_id)
        plan.commit(self._logs)
        return {
            "configurable": {
                "thread_id": plan.thread_id,
                "checkpoint_ns": plan.ns,
                "checkpoint_id": plan.checkpoint_id,
            }
        }

    def _put_writes_steps(
        self,
        codec: ValueCodec,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> SaverSteps[None]:
        t = target(config)
        key, cid = self._key(t.thread_id), t.checkpoint_id
        rows = plan_writes(codec, writes, task_id, task_path, key=key, ns=t.ns, checkpoint_id=cid)
        yield from self._pipe(self._index_ops(t.thread_id, None))
        args = writes_args(rows, self._ttl_ms, t.thread_id, t.ns, str(t.checkpoint_id))
        reply = yield self._lua("put_writes", t.thread_id, args)
        self._check(reply, t.thread_id)
        yield from self._pipe(self._index_ops(t.thread_id, None, reply))
        self._indexed(t.thread_id, None)

    @staticmethod
    def _pipe(cmds: builtins.list[Cmd]) -> SaverSteps[Any]:
        """A pipeline step, skipped when there is nothing to send (no round trip)."""
        return (yield Pipe(cmds)) if cmds else []
