"""Whole-thread operations of the Redis checkpointer and the owner's indexes, as generators of
requests (no I/O): delete, runs, copy, prune, listing, expiry cleanup and the erase of a user.

Every thread of an owner is in the owner's thread index (a zset on the owner's hash tag), and every
thread holding checkpoints of a run is in the owner's set for that run: listing and erasing an
owner never scan the keyspace. A write registers its thread before the script (so a crash never
leaves an unlisted thread) and again when the script reports that it created the thread or the
run (another process may have deleted it meanwhile). Cleanup removes an index entry only if it
was not re-registered since it was read, so a thread re-created concurrently stays listed.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...checkpoint.delta import delta_channels
from ...checkpoint.values import ValueCodec, checkpoint_place
from ...errors import ConflictError, InvalidIdError, SessionMemoryError
from ...ids import validate_id
from ...records import ThreadInfo
from .connections import Cmd, Pipe, Script
from .keys import THREAD_SUFFIXES
from .reseal import SEALED_SUFFIXES, resealed
from .saver_codec import prune_args, rows_args, text, thread_info_of, thread_row
from .saver_steps import CheckpointSteps, SaverSteps
from .scripts import script

logger = logging.getLogger(__name__)
ERASE_PASSES = 1000
"""Passes over an owner's index before an erase gives up on writers that keep re-creating threads."""
Forget = tuple[str, Any, builtins.list[str]]  # thread id, index score seen ('' = any), run ids


def _score() -> int:
    """An index score: microseconds, so two registrations of one thread never compare equal."""
    return time.time_ns() // 1000


class ThreadSteps(CheckpointSteps):
    """Thread lifecycle of :class:`~.saver.RedisCheckpointSaver` (mixed into it)."""

    user_id: str | None
    _registered: dict[str, set[str]]  # thread tag -> run ids indexed by this process ("" = thread)

    if TYPE_CHECKING:  # from SessionSaverBase

        def _strategy(self, strategy: str) -> str: ...

    # -- the owner's indexes -------------------------------------------------------------------
    def _index_ops(
        self, thread_id: str, run_id: str | None, reply: Any = None
    ) -> builtins.list[Cmd]:
        """Index updates before a write (``reply`` None: what this process has not registered), or
        after it (what the script reports it created: the thread, or the run in the thread)."""
        seen = self._registered.get(self.keys.tag(thread_id))
        if reply is None:
            thread, run = seen is None, bool(run_id) and (seen is None or run_id not in seen)
        else:
            thread = int(reply[1]) == 1
            run = len(reply) > 2 and int(reply[2]) == 1
        ops = [Cmd("zadd", (self.keys.threads, {thread_id: _score()}))] if thread else []
        if run and run_id:
            ops.append(Cmd("sadd", (self.keys.run(run_id), thread_id)))
        return ops

    def _indexed(self, thread_id: str, run_id: str | None) -> None:
        if len(self._registered) > 50_000:
            self._registered.clear()
        self._registered.setdefault(self.keys.tag(thread_id), {""}).add(run_id or "")

    def _forget_steps(self, entries: builtins.list[Forget]) -> SaverSteps[int]:
        """Remove threads from the owner's indexes, unless re-registered since ``score`` was read."""
        for tid, _score_seen, _runs in entries:
            self._registered.pop(self.keys.tag(tid), None)
            self._logs.drop_thread(self._key(tid))
        run_keys: dict[str, int] = {}
        args: list[Any] = []
        for tid, seen, runs in entries:
            at = [run_keys.setdefault(self.keys.run(r), len(run_keys) + 2) for r in sorted(runs)]
            args += [tid, "" if seen is None or seen == "" else str(int(seen)), len(at), *at]
        if not args:
            return 0
        keys = [self.keys.threads, *run_keys]
        return int((yield Script(script("thread_index_forget"), keys, args)))

    def _drop_steps(
        self, thread_id: str, score: Any, *, only_gone: bool = False
    ) -> SaverSteps[tuple[bool, Forget] | None]:
        """The DELETE script on one thread: ``(existed, forget entry)``, or None if it is alive
        and ``only_gone``."""
        reply = yield self._lua("delete", thread_id, ["gone" if only_gone else ""])
        if text(reply[0]) == "alive":
            return None
        self._check(reply, thread_id)
        return int(reply[1]) == 1, (thread_id, score, [text(r) for r in reply[2:]])

    def _entries_steps(self) -> SaverSteps[builtins.list[tuple[str, float]]]:
        """(thread id, score) of every entry of the owner's thread index, newest first."""
        entries = yield Cmd("zrevrange", (self.keys.threads, 0, -1), {"withscores": True})
        return [(text(tid), score) for tid, score in entries]

    # -- thread operations ---------------------------------------------------------------------
    def _delete_thread_steps(self, thread_id: str) -> SaverSteps[None]:
        """Every key of the thread, then its entries in the owner's indexes."""
        tid = validate_id(thread_id, "thread_id")
        score = yield Cmd("zscore", (self.keys.threads, tid))
        dropped = yield from self._drop_steps(tid, score)
        assert dropped is not None
        yield from self._forget_steps([dropped[1]])

    def _delete_user_threads_steps(self) -> SaverSteps[int]:
        """Every thread of the owner (all keys) and the owner's indexes; returns threads deleted."""
        deleted = 0
        for _ in range(ERASE_PASSES):
            entries = yield from self._entries_steps()
            if not entries:
                return deleted
            forget = []
            for tid, score in entries:
                dropped = yield from self._drop_steps(tid, score)
                assert dropped is not None
                deleted += dropped[0]
                forget.append(dropped[1])
            yield from self._forget_steps(forget)
        raise ConflictError(
            f"the threads of user {self.user_id!r} kept being re-created while they were erased: "
            "stop the writers of this user and call delete_user_threads() again"
        )

    def _delete_for_runs_steps(self, run_ids: Sequence[str]) -> SaverSteps[None]:
        """Threads of the runs from the owner's run sets, then one DELETE_RUNS script per thread."""
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        members = yield Pipe([Cmd("smembers", (self.keys.run(run),)) for run in runs])
        threads = sorted({text(t) for m in members for t in m})
        for tid in threads:
            yield self._lua("delete_runs", tid, runs)
        if threads:
            yield Pipe([Cmd("srem", (self.keys.run(run), *threads)) for run in runs])

    def _copy_thread_steps(
        self, codec: ValueCodec, source_thread_id: str, target_thread_id: str
    ) -> SaverSteps[None]:
        """DUMP every key of the source, RESTORE it under the target's tag, re-stamp and index it;
        with encryption the sealed hashes are re-sealed for the target instead (:mod:`.reseal`)."""
        source = validate_id(source_thread_id, "thread_id")
        target = validate_id(target_thread_id, "thread_id")
        src, dst = self.keys.script_keys(source), self.keys.script_keys(target)
        dumps = yield Pipe(
            [*[Cmd("dump", (key,)) for key in src], Cmd("smembers", (src[-1],))]
            + [Cmd("smembers", (dst[-1],))]
        )
        if dumps[0] is None:
            return  # no such thread
        runs, old_runs = {text(r) for r in dumps[-2]}, {text(r) for r in dumps[-1]}
        yield Pipe(
            [Cmd("zadd", (self.keys.threads, {target: _score()}))]
            + [Cmd("sadd", (self.keys.run(r), target)) for r in sorted(runs)]
            + [Cmd("srem", (self.keys.run(r), target)) for r in sorted(old_runs - runs)]
        )
        sealed: dict[str, dict[bytes, bytes]] = {}
        at = {suffix: THREAD_SUFFIXES.index(suffix) for suffix in SEALED_SUFFIXES}
        if codec.sealing:
            got = yield Pipe([Cmd("hgetall", (src[at[s]],)) for s in SEALED_SUFFIXES])
            hashes = dict(zip(SEALED_SUFFIXES, got, strict=True))
            sealed = resealed(codec, self._key(source), self._key(target), hashes, source)
        rewritten = {dst[at[s]]: mapping for s, mapping in sealed.items()}
        cmds = [Cmd("delete", (key,)) for key in dst]  # cluster pipelines refuse multi-key DEL
        cmds += [
            Cmd("restore", (key, self._ttl_ms if key != dst[-1] else 0, blob), {"replace": True})
            for key, blob in zip(dst, dumps[: len(src)], strict=True)
            if blob is not None and key not in rewritten
        ]
        for key, mapping in rewritten.items():
            if mapping:
                cmds.append(Cmd("hset", (key,), {"mapping": mapping}))
                if self._ttl_ms:
                    cmds.append(Cmd("pexpire", (key, self._ttl_ms)))
        stamp = repr(time.time())
        cmds.append(
            Cmd("hset", (dst[0],), {"mapping": {"tid": target, "created": stamp, "updated": stamp}})
        )
        yield Pipe(cmds)
        self._registered.pop(self.keys.tag(target), None)
        self._logs.drop_thread(self._key(target))

    def _keep_steps(
        self, codec: ValueCodec, thread_id: str, rows: builtins.list[Any]
    ) -> SaverSteps[set[tuple[str, str]]]:
        """(ns, id) of the newest checkpoint per namespace plus the ancestors its DeltaChannels replay."""
        latest = {r.ns: r for r in sorted(rows, key=lambda r: r.checkpoint_id)}
        keep = {(r.ns, r.checkpoint_id) for r in latest.values()}
        for r in latest.values():
            if chans := delta_channels(json.loads(r.metadata)):
                found = yield from self._delta_steps(
                    codec, thread_id, r.ns, r.checkpoint_id, chans, from_parent=False
                )
                if found is not None:
                    keep |= {(r.ns, cid) for cid in found[0].visited}
        return keep

    def _prune_steps(
        self, codec: ValueCodec, thread_ids: Sequence[str], strategy: str
    ) -> SaverSteps[None]:
        """keep_latest: the newest checkpoint per namespace and what its DeltaChannels replay stay;
        the PRUNE script drops the other checkpoints, the blobs none of them names, unused logs."""
        self._strategy(strategy)
        if isinstance(thread_ids, (str, bytes)):
            raise InvalidIdError("prune() takes a list of thread ids, not one id: prune([tid])")
        for tid in [validate_id(t, "thread_id") for t in thread_ids]:
            if strategy == "delete":
                yield from self._delete_thread_steps(tid)
                continue
            rows = yield from self._rows_steps(tid, rows_args(None, None, None, None, {}, 0))
            if not rows:
                continue
            keep = yield from self._keep_steps(codec, tid, rows)
            keep_fields = set()
            for r in [r for r in rows if (r.ns, r.checkpoint_id) in keep]:
                place = checkpoint_place(r.thread_id, r.ns, r.checkpoint_id)
                versions = codec.load(r.ckpt, "checkpoint", tid, place).get("channel_versions", {})
                keep_fields |= {f"{r.ns}\0{ch}\0{v}" for ch, v in versions.items()}
            fields = sorted(keep_fields)
            keys = self.keys.thread(tid)
            res = yield Pipe(
                [
                    Cmd("hkeys", (keys[4],)),
                    Cmd("hkeys", (keys[0],)),
                    *([Cmd("hmget", (keys[4], fields))] if fields else []),
                ]
            )
            all_blobs = [text(f) for f in res[0]]
            all_logs = {text(f)[4:] for f in res[1] if text(f).startswith("log:")}
            kept_values = dict(zip(fields, res[2], strict=True)) if fields else {}
            args = prune_args(rows, keep, all_blobs, keep_fields, kept_values, all_logs)
            yield self._lua("prune", tid, args)
            self._logs.drop_thread(self._key(tid))

    # -- listing and expiry --------------------------------------------------------------------
    def _thread_info_steps(self, thread_id: str) -> SaverSteps[dict[str, Any] | None]:
        tid = validate_id(thread_id, "thread_id")
        keys = self.keys.script_keys(tid)
        res = yield Pipe(
            [
                Cmd("hmget", (keys[0], ["created", "updated"])),
                Cmd("zcard", (keys[1],)),
                Cmd("pttl", (keys[0],)),
                *[Cmd("memory_usage", (key,), {"samples": 0}) for key in keys],
            ]
        )
        return thread_info_of(tid, self.user_id, res)

    def _cleanup_steps(self, gone: builtins.list[tuple[str, float]]) -> SaverSteps[int]:
        """Threads whose meta key expired: their remaining keys, then their index entries."""
        forget = []
        for tid, score in gone:
            dropped = yield from self._drop_steps(tid, score, only_gone=True)
            if dropped is not None:
                forget.append(dropped[1])
        return (yield from self._forget_steps(forget))

    def _list_threads_steps(self) -> SaverSteps[builtins.list[ThreadInfo]]:
        """The owner's live threads, most recently updated first; expired entries are cleaned up."""
        entries = yield from self._entries_steps()
        cmds: list[Cmd] = []
        for tid, _ in entries:
            m, i = self.keys.thread(tid)[:2]
            cmds += [
                Cmd("hmget", (m, ["created", "updated"])),
                Cmd("zcard", (i,)),
                Cmd("pttl", (m,)),
            ]
        replies = yield Pipe(cmds, tolerant=True)
        infos, gone, at = [], [], time.time()
        for n, (tid, score) in enumerate(entries):
            meta, count, pttl = replies[3 * n : 3 * n + 3]
            try:
                info = thread_row(tid, self.user_id, meta, count, pttl, at)
            except SessionMemoryError as exc:  # one damaged thread never hides the others
                logger.warning("skipping damaged thread %r of user %r: %s", tid, self.user_id, exc)
                continue
            if info is None:
                gone.append((tid, score))
            else:
                infos.append(info)
        if gone:
            yield from self._cleanup_steps(gone)
        return sorted(infos, key=lambda info: info.updated_at, reverse=True)

    def _purge_expired_steps(self) -> SaverSteps[int]:
        """The owner's threads whose meta key expired leave its indexes (with their other keys)."""
        entries = yield from self._entries_steps()
        alive = yield from self._pipe(
            [Cmd("exists", (self.keys.thread(tid)[0],)) for tid, _ in entries]
        )
        gone = [entry for entry, live in zip(entries, alive, strict=True) if not live]
        return (yield from self._cleanup_steps(gone))
