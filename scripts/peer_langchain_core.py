#!/usr/bin/env python3
"""Run langchain-core's own chat-history tests with sessionmem's SessionHistory in them.

Downloads the sdist of the installed langchain-core (cached), copies
tests/unit_tests/runnables/test_history.py and tests/unit_tests/chat_history/ with their
conftests (the blockbuster guard stays on) into a temporary folder, rebinds
``InMemoryChatMessageHistory`` in those modules to a SessionHistory stand-in on each engine, and
runs pytest once per engine plus once unchanged (the baseline). Failing tests are re-run with
the ids that sessionmem assigns on write ignored, to tell that deliberate difference apart.
Exits 1 when one of ours fails a test that the baseline passes for another reason.
See docs/peer-suites.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_common import (  # noqa: E402 - after the path set-up above
    DEFAULT_CACHE,
    DEFAULT_POSTGRES_DSN,
    DEFAULT_REDIS_URL,
    PLUGINS,
    PeerError,
    Result,
    SaverResults,
    cluster_missing,
    ensure_deps,
    extract,
    fetch_sdist,
    installed_version,
    parse_junit,
    plugin_args,
    postgres_available,
    postgres_cleanup,
    redis_available,
    redis_cleanup,
    report,
    run_pytest,
    run_token,
    throwaway_cluster,
    timeout_args,
)

ENGINES = ("memory", "sqlite", "redis", "redis_cluster", "postgres")
BASELINE_NAME = "InMemoryChatMessageHistory"
TARGETS = ("tests/unit_tests/runnables/test_history.py", "tests/unit_tests/chat_history")
SUPPORT = (
    "pyproject.toml",
    "tests/__init__.py",
    "tests/unit_tests/__init__.py",
    "tests/unit_tests/conftest.py",
    "tests/unit_tests/pydantic_utils.py",
    "tests/unit_tests/runnables/__init__.py",
    "tests/unit_tests/runnables/conftest.py",
)
TEST_DEPS = {
    "pytest_asyncio": "pytest-asyncio",
    "pytest_mock": "pytest-mock",
    "syrupy": "syrupy",
    "blockbuster": "blockbuster>=1.5.18,<1.6",
}
DELIBERATE = "passes with ids ignored: the deliberate difference (ids assigned on write)"
REBIND = """

# -- sessionmem peer run: the histories built below are sessionmem's ------------------------
from tests.unit_tests._sessionmem_peer import PeerHistory as InMemoryChatMessageHistory  # noqa
"""
CONFTEST_HOOK = """

# -- sessionmem peer run: close the run's store at the end ------------------------------------
from tests.unit_tests._sessionmem_peer import pytest_sessionfinish  # noqa: E402,F401
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--engine",
        default="all",
        help=f"comma-separated engines of ours: {', '.join(ENGINES)} or 'all' (default)",
    )
    p.add_argument("--no-baseline", dest="baseline", action="store_false")
    p.add_argument("-k", "--select", help="a pytest -k expression to bound the run")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="sdist cache folder")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--cluster-url", help="a Redis Cluster node (redis+cluster://host:port); default: start one"
    )
    p.add_argument("--postgres-dsn", default=DEFAULT_POSTGRES_DSN)
    p.add_argument("--junit-dir", type=Path, help="also keep each run's JUnit XML here")
    p.add_argument(
        "--user-id", help="scope ours to this user id (default: the anonymous namespace)"
    )
    p.add_argument("--install-deps", action="store_true", help="pip install missing test deps")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy and the logs")
    p.add_argument("-v", "--verbose", action="store_true", help="print pytest's logs")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    engines = ENGINES if args.engine == "all" else tuple(e.strip() for e in args.engine.split(","))
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {unknown}: use {', '.join(ENGINES)} or all")
    args.engines = engines
    return args


def copy_tree(sdist: Path, dest: Path, ours: bool) -> Path:
    """A copy of the chosen tests; with ``ours`` the histories they build are SessionHistory."""
    root = extract(sdist, [*SUPPORT, *TARGETS], dest)
    if ours:
        shutil.copy(
            PLUGINS / "langchain_core_history.py", root / "tests/unit_tests/_sessionmem_peer.py"
        )
        with (root / "tests/unit_tests/conftest.py").open("a") as conftest:
            conftest.write(CONFTEST_HOOK)
        for module in _modules(root):
            if "InMemoryChatMessageHistory" in module.read_text():
                with module.open("a") as out:
                    out.write(REBIND)
    return root


def _modules(root: Path) -> list[Path]:
    found: list[Path] = []
    for target in TARGETS:
        path = root / target
        found += sorted(path.glob("test_*.py")) if path.is_dir() else [path]
    return found


def run_one(
    args: argparse.Namespace,
    sdist: Path,
    work: Path,
    engine: str | None,
    token: str,
    only: list[str] | None = None,
    ignore_ids: bool = False,
) -> tuple[Path, list[Result], int]:
    label = (engine or "baseline") + ("-ids-ignored" if ignore_ids else "")
    folder = work / label
    folder.mkdir()
    root = copy_tree(sdist, folder, ours=engine is not None)
    junit, log = folder / "junit.xml", folder / "pytest.log"
    env = {
        "SESSIONMEM_PEER_TOKEN": token,
        "SESSIONMEM_PEER_TMP": str(folder),
        "SESSIONMEM_PEER_REDIS_URL": args.redis_url,
        "SESSIONMEM_PEER_CLUSTER_URL": args.cluster_url or "",
        "SESSIONMEM_PEER_POSTGRES_DSN": args.postgres_dsn,
        **({"SESSIONMEM_PEER_ENGINE": engine} if engine else {}),
        **({"SESSIONMEM_PEER_USER_ID": args.user_id} if args.user_id else {}),
        **({"SESSIONMEM_PEER_IGNORE_IDS": "1"} if ignore_ids else {}),
    }
    selection = only if only is not None else list(TARGETS)
    pytest_args = [
        *selection,
        *plugin_args("pytest_asyncio.plugin", "pytest_mock", "syrupy"),
        "-p",
        "no:cacheprovider",
        "-q",
        "-rN",
        f"--junitxml={junit}",
        *timeout_args(120),
        *(["-k", args.select] if args.select and only is None else []),
        *args.pytest_args,
    ]
    code = run_pytest(root, pytest_args, env, log)
    results = parse_junit(junit, root)
    if args.verbose or code not in (0, 1) or not results:
        print(f"--- pytest log ({label}) ---\n{log.read_text()[-20000:]}")
    if code not in (0, 1) or not results:
        raise PeerError(f"pytest exited with {code} for {label} (log: {log}; keep it with --keep)")
    if args.junit_dir:
        args.junit_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(junit, args.junit_dir / f"{label}.xml")
    return root, results, code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_deps(TEST_DEPS, args.install_deps)
    checks = {
        "redis": lambda: redis_available(args.redis_url),
        "redis_cluster": lambda: cluster_missing(args.cluster_url),
        "postgres": lambda: postgres_available(args.postgres_dsn),
    }
    engines = list(args.engines)
    for engine in args.engines:
        if engine in checks and (why := checks[engine]()):
            if args.engine != "all":
                raise PeerError(f"--engine {engine}: {why}")
            print(f"skipping {engine}: {why}")
            engines.remove(engine)
    args.engines = tuple(engines)
    version = installed_version("langchain-core")
    sdist = fetch_sdist("langchain-core", version, args.cache)
    token = run_token()
    work = Path(tempfile.mkdtemp(prefix="sessionmem-peer-langchain-core-"))
    print(
        f"langchain-core {version}: running {' '.join(TARGETS)} on "
        f"{', '.join(([BASELINE_NAME] if args.baseline else []) + list(args.engines))} "
        f"(namespace prefix {token}, work folder {work})",
        flush=True,
    )
    groups: list[SaverResults] = []
    baseline = None
    cluster = None
    try:
        if "redis_cluster" in args.engines and args.cluster_url is None:
            cluster = throwaway_cluster()
            args.cluster_url = cluster.__enter__()
        if args.baseline:
            _, results, _ = run_one(args, sdist, work, None, token)
            baseline = SaverResults(BASELINE_NAME, {r.nodeid: r for r in results})
            groups.append(baseline)
        for engine in args.engines:
            _, results, _ = run_one(args, sdist, work, engine, token)
            group = SaverResults(f"sessionmem_{engine}", {r.nodeid: r for r in results})
            groups.append(group)
            failed = [r.nodeid for _, r in group.failed()]
            if failed:
                _, again, _ = run_one(
                    args, sdist, work, engine, token, only=failed, ignore_ids=True
                )
                group.notes.update({r.nodeid: DELIBERATE for r in again if r.outcome == "passed"})
    finally:
        deleted = 0
        if "redis" in args.engines:
            deleted += redis_cleanup(args.redis_url, token)
        if cluster is not None:
            cluster.__exit__(None, None, None)
        elif "redis_cluster" in args.engines and args.cluster_url:
            deleted += redis_cleanup(args.cluster_url, token)
        if "postgres" in args.engines:
            dropped = postgres_cleanup(args.postgres_dsn, token)
            if dropped:
                print(f"dropped {dropped} PostgreSQL tables of this run ({token}*)")
        if deleted:
            print(f"deleted {deleted} Redis keys of this run ({token}*)")
    gaps = report(f"langchain-core {version} history tests with SessionHistory", groups, baseline)
    if args.keep:
        print(f"\nkept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if gaps:
        print(f"\n{gaps} failure(s) of ours where {BASELINE_NAME} passes (besides ids on write)")
    return 1 if gaps and not args.report_only else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
