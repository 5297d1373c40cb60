"""What every benchmark shares: arguments, services, scratch space, timing, tables, the report.

The entry points (``bench_*.py``) pick systems and scenarios; this module measures and prints.
A benchmark never gates anything: it prints ratios and verdicts and exits 0 (1 only on a crash).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

warnings.filterwarnings("ignore", category=DeprecationWarning)
try:  # the legacy classes under comparison warn on construction
    from langchain_core._api.deprecation import LangChainDeprecationWarning

    warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)
except ImportError:  # pragma: no cover
    pass

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_EXTRA = "pip install 'langchain-sessionmem[bench]'"
INSTALL = {  # modules outside the bench extra
    "langchain.agents.middleware": "pip install 'langchain-sessionmem[agents]'",
    "psycopg_pool": "pip install 'langchain-sessionmem[postgres]'",
}
MODES = ("full", "quick", "smoke")

# -- arguments ---------------------------------------------------------------------------------


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes; add your own before parsing."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a short run with sane ratios")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: tiny sizes, every system once, no target judged",
    )
    p.add_argument("--json", metavar="PATH", help="also write the measurements as JSON to PATH")
    p.add_argument(
        "--only", default="", help="comma-separated system keys or tags to run (default: all)"
    )
    p.add_argument("--redis-url", default=os.environ.get("SESSIONMEM_BENCH_REDIS_URL", REDIS_URL))
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("SESSIONMEM_BENCH_POSTGRES_URL")
        or os.environ.get("SESSIONMEM_BENCH_POSTGRES_DSN", POSTGRES_URL),
    )
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed arguments plus ``mode`` ("full", "quick", "smoke"), ``wanted`` and ``argv``."""
    args = p.parse_args(argv)
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    only = args.only if isinstance(args.only, str) else ",".join(args.only or [])
    args.wanted = {w.strip() for w in only.split(",") if w.strip()} or None
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def by_mode(mode: str, full: Any, quick: Any, smoke: Any) -> Any:
    """The value of a size or a budget for this mode."""
    return {"full": full, "quick": quick, "smoke": smoke}[mode]


# -- services and optional packages ------------------------------------------------------------


def short(exc: BaseException, width: int = 90) -> str:
    """``Type: first line of the message``, cut to ``width`` characters."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:width] if text else ''}".rstrip(": ")


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq and psycopg want it (SQLAlchemy's ``+psycopg`` dropped)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_imports: dict[str, str | None] = {}


def package_problem(module: str) -> str | None:
    """Why ``module`` cannot be imported (None if it can), with the command that installs it."""
    if module not in _imports:
        try:
            importlib.import_module(module)
            _imports[module] = None
        except Exception as exc:  # noqa: BLE001 - ImportError, or a dependency missing inside it
            fix = INSTALL.get(module, BENCH_EXTRA)
            _imports[module] = f"{module} cannot be imported ({short(exc, 70)}): {fix}"
    return _imports[module]


@dataclass
class Services:
    """Redis and PostgreSQL as found at start-up: a version, or the reason they cannot be used."""

    redis_url: str
    postgres_url: str
    redis_version: str | None = None
    postgres_version: str | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def discover(cls, redis_url: str, postgres_url: str) -> Services:
        found = cls(redis_url, libpq_url(postgres_url))
        try:
            import redis

            client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
            found.redis_version = client.info("server").get("redis_version")
            client.close()
        except ImportError:
            found.problems["redis"] = "redis-py is not installed: pip install redis"
        except Exception as exc:  # noqa: BLE001
            found.problems["redis"] = f"no Redis at {redis_url}: {short(exc)}"
        try:
            import psycopg

            with psycopg.connect(found.postgres_url, connect_timeout=2) as conn:
                found.postgres_version = conn.execute("SHOW server_version").fetchone()[0]
        except ImportError:
            found.problems["postgres"] = "psycopg is not installed: pip install 'psycopg[binary]'"
        except Exception as exc:  # noqa: BLE001
            found.problems["postgres"] = f"no PostgreSQL at {found.postgres_url}: {short(exc)}"
        return found

    def problem(self, needs: Iterable[str]) -> str | None:
        """The first unmet need: "redis", "postgres", or a module name to import."""
        for need in needs:
            why = (
                self.problems.get(need) if need in ("redis", "postgres") else package_problem(need)
            )
            if why:
                return why
        return None


def pick(classes: Sequence[Any], wanted: set[str] | None, services: Services) -> tuple[list, list]:
    """The classes asked for (``key`` or any of ``tags`` in ``wanted``) and runnable here.

    Returns ``(chosen, skipped)``; ``skipped`` are printable lines naming the reason.
    """
    chosen, skipped = [], []
    for cls in classes:
        if wanted and cls.key not in wanted and not (set(cls.tags) & wanted):
            continue
        why = services.problem(cls.needs)
        if why:
            skipped.append(f"  skipped {cls.label}: {why}")
        else:
            chosen.append(cls)
    return chosen, skipped


# -- scratch space -----------------------------------------------------------------------------


class Workspace:
    """Unique names, a temp directory, a PostgreSQL schema of the run; all removed on close."""

    def __init__(self, services: Services):
        self.services = services
        self.run_id = uuid.uuid4().hex[:10]
        self.prefix = f"bench-{self.run_id}"
        self.schema = f"bench_{self.run_id}"
        self.tmp = tempfile.mkdtemp(prefix="sessionmem-bench-")
        self._n = 0
        self._schemas: list[str] = []
        self.redis_used = False

    def name(self, kind: str) -> str:
        """A unique name (fixed width, so no name is a prefix of another)."""
        self._n += 1
        return f"{self.prefix}-{kind}{self._n:04d}"

    def db_path(self, kind: str) -> str:
        return os.path.join(self.tmp, f"{self.name(kind)}.db")

    def postgres(self, schema: str | None = None) -> str:
        """A libpq URL whose ``search_path`` is a schema of this run (created on first use)."""
        import psycopg

        schema = schema or self.schema
        if schema not in self._schemas:
            with psycopg.connect(self.services.postgres_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._schemas.append(schema)
        url = self.services.postgres_url
        return f"{url}{'&' if '?' in url else '?'}options={quote(f'-c search_path={schema}')}"

    def sqlalchemy_postgres(self) -> str:
        return self.postgres().replace("postgresql://", "postgresql+psycopg://", 1)

    def drop_tables(self, prefix: str) -> None:
        """Drop the tables of this run's schema whose names start with ``prefix``."""
        import psycopg

        with psycopg.connect(self.services.postgres_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND starts_with(tablename, %s)",
                (self.schema, prefix),
            ).fetchall()
            for (table,) in rows:
                conn.execute(f'DROP TABLE IF EXISTS "{self.schema}"."{table}" CASCADE')

    def forget_keys(self, name: str) -> int:
        """Delete every Redis key containing ``name``; returns how many."""
        import redis

        client = redis.Redis.from_url(self.services.redis_url)
        keys = list(client.scan_iter(match=f"*{name}*", count=1000))
        deleted = sum(client.delete(*keys[i : i + 500]) for i in range(0, len(keys), 500))
        client.close()
        return deleted

    def close(self) -> list[str]:
        """Remove everything; returns notes about leftovers and failures."""
        notes = []
        if self.redis_used:
            try:
                if left := self.forget_keys(self.prefix):
                    notes.append(f"removed {left} leftover Redis keys")
            except Exception as exc:  # noqa: BLE001
                notes.append(f"Redis cleanup failed: {short(exc)}")
        if self._schemas:
            try:
                import psycopg

                with psycopg.connect(self.services.postgres_url, autocommit=True) as conn:
                    for schema in self._schemas:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except Exception as exc:  # noqa: BLE001
                notes.append(f"PostgreSQL cleanup failed: {short(exc)}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return notes


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Budget:
    """How long one cell runs: wall seconds (untimed set-up included), sample bounds, warm-up."""

    seconds: float
    min_samples: int
    max_samples: int
    warmup: int = 3
    slice_seconds: float = 0.05


@dataclass
class Cell:
    """The samples (seconds) of one system in one scenario, or the error that stopped it."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def summary(self) -> dict[str, Any]:
        """Median, quartiles, min, max and count, for the JSON output."""
        s = sorted(self.samples)
        quart = statistics.quantiles(s, n=4) if len(s) >= 2 else s * 3
        return {
            "median": self.median,
            "p25": quart[0] if s else None,
            "p75": quart[-1] if s else None,
            "min": s[0] if s else None,
            "max": s[-1] if s else None,
            "n": len(s),
            "error": self.error,
        }


def interleave(samplers: dict[str, Callable[[], float]], budget: Budget) -> dict[str, Cell]:
    """Run the samplers by turns, in slices of ``budget.slice_seconds``, until each cell is done.

    A sampler does one measured operation (its untimed set-up too) and returns the measured
    seconds. Alternating in short slices makes a noisy moment of the machine hit every system
    alike, so ratios within a run stay fair. The first ``warmup`` results are dropped.
    """
    gc.collect()
    cells = {key: Cell() for key in samplers}
    done = dict.fromkeys(samplers, 0)
    spent = dict.fromkeys(samplers, 0.0)

    def finished(key: str) -> bool:
        n = len(cells[key].samples)
        return (
            cells[key].error is not None
            or n >= budget.max_samples
            or (n >= budget.min_samples and spent[key] >= budget.seconds)
        )

    while not all(finished(k) for k in samplers):
        for key, sample in samplers.items():
            start = time.perf_counter()
            try:
                while not finished(key):
                    elapsed = sample()
                    done[key] += 1
                    if done[key] > budget.warmup:
                        cells[key].samples.append(elapsed)
                    if time.perf_counter() - start >= budget.slice_seconds:
                        break
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not crash
                cells[key].error = short(exc)
            spent[key] += time.perf_counter() - start
    return cells


def timing(step: Callable[[], Any]) -> Callable[[], float]:
    """A sampler for :func:`interleave` that times one whole call of ``step``."""
    clock = time.perf_counter

    def sample() -> float:
        began = clock()
        step()
        return clock() - began

    return sample


def medians_us(
    steps: dict[str, Callable[[], Any]],
    calls: int,
    *,
    sampled: Iterable[str] = (),
    warmup: int = 8,
    slice_seconds: float = 0.002,
) -> dict[str, float]:
    """Median microseconds of ``calls`` calls of each step (the profile_*_turn scripts), in order.

    The steps take turns in slices of a few milliseconds (:func:`interleave`), so a noisy moment
    of the machine hits them all alike. A step is timed whole, unless it is named in ``sampled``:
    then it is a sampler of :func:`interleave`'s kind (untimed set-up allowed, returns seconds).
    Each step runs once untimed first, so a broken one raises with its traceback.
    """
    sampled = set(sampled)
    for step in steps.values():
        step()
    rotation = {n: step if n in sampled else timing(step) for n, step in steps.items()}
    budget = Budget(0.0, calls, calls, warmup=warmup, slice_seconds=slice_seconds)
    cells = interleave(rotation, budget)
    for name, cell in cells.items():
        if cell.error is not None:
            raise RuntimeError(f"{name}: {cell.error}")
    return {name: cell.median * 1e6 for name, cell in cells.items()}  # type: ignore[operator]


def print_turn_profile(
    title: str,
    medians: dict[str, float],
    floor: Sequence[str],
    ours: Sequence[str],
    minus: str | None = None,
) -> None:
    """The profile_*_turn scripts' report: each step's median, then a whole turn of the floor
    and of ours, each the sum of its steps (less the ``minus`` step, timed inside both)."""
    print(title)
    for name, us in medians.items():
        print(f"  {name:<54}{us:>9.1f} us")
    less = medians[minus] if minus else 0.0
    floor_us = sum(medians[n] for n in floor) - less
    ours_us = sum(medians[n] for n in ours) - less
    note = f" ({minus.split(maxsplit=1)[1]} taken out of both)" if minus else ""
    print(
        f"  sum floor turn {floor_us:.1f} us, ours {ours_us:.1f} us: {ours_us / floor_us:.2f}x{note}"
    )


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 0) -> float:
    """Median milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


# -- formatting --------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt_ms(seconds: float | None) -> str:
    """Seconds as milliseconds with 4 significant-ish digits."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    digits = 4 if ms < 0.1 else 3 if ms < 10 else 2 if ms < 100 else 1
    return f"{ms:.{digits}f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 0.1:
        return f"{x:.4f}x"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], first_width: int = 34) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(first_width, len(header[0]), *(len(r[0]) for r in rows))]
    for i in range(1, len(header)):
        widths.append(max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]))

    def line(cells: Sequence[str]) -> str:
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([cells[0].ljust(widths[0]), *rest]).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def markdown(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A titled Markdown table; ints get thousands separators, floats two decimals."""

    def cell(c: Any) -> str:
        if isinstance(c, bool):
            return "yes" if c else "no"
        if isinstance(c, float):
            return f"{c:,.2f}"
        return f"{c:,}" if isinstance(c, int) else str(c)

    lines = [f"\n### {title}\n", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- the report --------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


class Report:
    """Prints the header (machine, load, packages, servers), collects verdicts and JSON results.

    ``failed`` records a system of ours or a floor that raised: a full run reports it and exits
    0; a smoke run exits 1, since that means a broken benchmark (or a broken public API).
    """

    def __init__(self, name: str, title: str, args: argparse.Namespace, services: Services):
        self.name, self.args, self.services = name, args, services
        self.started = time.perf_counter()
        self.verdicts: list[str] = []
        self.failures: list[str] = []
        self.results: dict[str, Any] = {}
        self.title = title + ("" if args.mode == "full" else f" (--{args.mode})")

    def header(self, packages: Sequence[str], *extra: str) -> None:
        cores = os.cpu_count()
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
        s = self.services
        servers = [f"Redis {s.redis_version} at {s.redis_url}"] if s.redis_version else []
        if s.postgres_version:
            servers.append(f"PostgreSQL {s.postgres_version} at {s.postgres_url}")
        self.machine = {
            "cores": cores,
            "usable": usable,
            "cpu": _cpu_model(),
            "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "packages": {p: _version(p) for p in ("langchain-sessionmem", *packages)},
            "servers": servers,
        }
        for line in (
            self.title,
            "=" * 60,
            f"machine   {cores} cores ({usable} usable), {_cpu_model()}, "
            f"load average {load_average()}",
            f"system    {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
            "packages  " + ", ".join(f"{k} {v}" for k, v in self.machine["packages"].items()),
            "servers   " + ("; ".join(servers) if servers else "none reachable"),
            f"command   python benchmarks/{self.name}.py {' '.join(self.args.argv)}".rstrip(),
            *extra,
        ):
            print(line)
        print()

    def verdict(self, passed: bool | None, text: str) -> None:
        """PASS / MISS against a target (``None``, or any verdict of a smoke run: information)."""
        judged = passed is not None and self.args.mode != "smoke"
        self.verdicts.append(f"{('PASS' if passed else 'MISS') if judged else 'info'}  {text}")

    def failed(self, cls: Any, error: str) -> None:
        """Note an error of ``cls``; it counts (for a smoke run's exit code) for ours and floors."""
        if {"ours", "floor"} & set(cls.tags):
            self.failures.append(f"{cls.label}: {error}")

    def finish(self, notes: Sequence[str] = ()) -> int:
        """Print the verdicts, cleanup notes, wall time and load; write the JSON; the exit code."""
        print("Verdicts\n--------")
        if self.args.mode == "smoke":
            print("(--smoke: sizes too small to judge any target)")
        for line in self.verdicts or ["no target judged: a target needs both of its systems"]:
            print(line)
        for note in notes:
            print(f"cleanup: {note}")
        for failure in self.failures:
            print(f"FAIL  {failure}")
        wall = time.perf_counter() - self.started
        print(f"\ntotal wall time {wall:.0f} s, load average at the end {load_average()}")
        if self.args.json:
            out = {
                "benchmark": self.name,
                "mode": self.args.mode,
                "command": self.args.argv,
                "machine": getattr(self, "machine", {}),
                "wall_seconds": wall,
                "verdicts": self.verdicts,
                "failures": self.failures,
                "results": self.results,
            }
            with open(self.args.json, "w") as f:
                json.dump(out, f, indent=1, default=str)
        return 1 if self.failures and self.args.mode == "smoke" else 0


def entry(main: Callable[[], int]) -> None:
    """Run ``main`` as a script: its exit code, 130 on Ctrl-C, 1 (with the traceback) on a crash."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - a crash is not a result: say so
        traceback.print_exc()
        sys.exit(1)
