#!/usr/bin/env python3
"""Run LangGraph's own test suite with sessionmem's savers in its checkpointer fixtures.

Downloads the sdist of the installed langgraph (cached), copies its tests into a temporary
folder, replaces the ``sync_checkpointer`` / ``async_checkpointer`` fixtures with ours (and
upstream's InMemorySaver as the baseline), runs pytest, and prints per saver the counts and the
failing tests, marking those that fail on InMemorySaver too. Exits 1 when one of ours fails a
test that InMemorySaver passes. See docs/peer-suites.md.
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
DEFAULT_ENGINES = ("memory", "sqlite", "redis")
BASELINE = "memory"  # upstream's fixture id for MemorySaverAssertImmutable (an InMemorySaver)
BASELINE_NAME = "InMemorySaver"
# module -> requirement: what LangGraph's tests import at collection, beyond langgraph itself
TEST_DEPS = {
    "pytest_mock": "pytest-mock",
    "syrupy": "syrupy",
    "Crypto": "pycryptodome",
    "redis": "redis",
    "psycopg": "psycopg[binary]",
    "psycopg_pool": "psycopg-pool",
    "langgraph.checkpoint.sqlite": "langgraph-checkpoint-sqlite",
    "aiosqlite": "aiosqlite",
    "langgraph.checkpoint.postgres": "langgraph-checkpoint-postgres",
    "httpx": "httpx",
}

CONFTEST_HOOK = """

# -- sessionmem peer run: the fixtures below replace the checkpointer fixtures above ---------
from tests._sessionmem_peer import (  # noqa: E402,F401
    async_checkpointer,
    pytest_collection_modifyitems,
    sync_checkpointer,
)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--engine",
        default=",".join(DEFAULT_ENGINES),
        help=f"comma-separated engines of ours: {', '.join(ENGINES)} or 'all' "
        f"(default {','.join(DEFAULT_ENGINES)})",
    )
    p.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="do not run InMemorySaver in the same run (failures are then not compared)",
    )
    p.add_argument("-k", "--select", help="a pytest -k expression to bound the run")
    p.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        help="test files of LangGraph's tests/ folder to run (default: all), e.g. test_pregel.py",
    )
    p.add_argument("--workers", type=int, default=0, help="pytest-xdist workers (default: none)")
    p.add_argument("--junit", type=Path, help="also write pytest's JUnit XML here")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="sdist cache folder")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--cluster-url", help="a Redis Cluster node (redis+cluster://host:port); default: start one"
    )
    p.add_argument("--postgres-dsn", default=DEFAULT_POSTGRES_DSN)
    p.add_argument(
        "--strict-msgpack",
        action="store_true",
        help="set LANGGRAPH_STRICT_MSGPACK=true (LangGraph then gives savers the schema types)",
    )
    p.add_argument(
        "--user-id", help="scope ours to this user id (default: the anonymous namespace)"
    )
    p.add_argument("--install-deps", action="store_true", help="pip install missing test deps")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy and the log")
    p.add_argument("-v", "--verbose", action="store_true", help="print pytest's log at the end")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="exit 0 even when ours fail where the baseline passes",
    )
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    engines = ENGINES if args.engine == "all" else tuple(e.strip() for e in args.engine.split(","))
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {unknown}: use {', '.join(ENGINES)} or all")
    args.engines = engines
    args.all_engines = args.engine == "all"
    return args


def has_checkpointer(url: str, token: str) -> str | None:
    """None when this version's store builds a checkpointer on ``url``, else why not."""
    import langchain_sessionmem
    from langchain_sessionmem import ConfigurationError, SessionStore

    store = SessionStore.from_url(url, namespace=f"{token}-probe")
    try:
        store.checkpointer(user_id=getattr(langchain_sessionmem, "ANONYMOUS", None))
    except ConfigurationError as exc:
        return str(exc)
    finally:
        store.close()
    return None


def prepare(root: Path) -> None:
    """Put our fixtures into the copied tests."""
    shutil.copy(PLUGINS / "langgraph_savers.py", root / "tests" / "_sessionmem_peer.py")
    with (root / "tests" / "conftest.py").open("a") as conftest:
        conftest.write(CONFTEST_HOOK)


def saver_of(nodeid: str, ours: list[str]) -> tuple[str, str] | None:
    """(saver id, comparison key): the key names the baseline's id in place of ours. ``None``
    for entries of no saver (a module skipped at collection)."""
    head, sep, params = nodeid.partition("[")
    if not sep:
        return None
    tokens = params[:-1].split("-")
    for i, token in enumerate(tokens):
        if token in ours:
            tokens[i] = BASELINE
            return token, f"{head}[{'-'.join(tokens)}]"
    return BASELINE, nodeid


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_deps(
        {**TEST_DEPS, **({"xdist": "pytest-xdist"} if args.workers else {})}, args.install_deps
    )
    token = run_token()
    engines = list(args.engines)
    for engine in args.engines:
        if engine == "redis" and (why := redis_available(args.redis_url)):
            raise PeerError(f"--engine redis: {why}")
        if engine == "redis_cluster" and (why := cluster_missing(args.cluster_url)):
            if not args.all_engines:
                raise PeerError(f"--engine redis_cluster: {why}")
            print(f"skipping redis_cluster: {why}")
            engines.remove(engine)
        if engine == "postgres":
            why = postgres_available(args.postgres_dsn) or has_checkpointer(
                args.postgres_dsn, token
            )
            if why and not args.all_engines:
                raise PeerError(f"--engine postgres: {why}")
            if why:
                print(f"skipping postgres: {why}")
                engines.remove(engine)
    args.engines = tuple(engines)
    version = installed_version("langgraph")
    sdist = fetch_sdist("langgraph", version, args.cache)
    work = Path(tempfile.mkdtemp(prefix="sessionmem-peer-langgraph-"))
    root = extract(sdist, ["tests", "pyproject.toml"], work)
    prepare(root)
    (work / "db").mkdir()
    ours = [f"sessionmem_{e}" for e in args.engines]
    savers = ([BASELINE] if args.baseline else []) + ours
    junit = work / "junit.xml"
    log = work / "pytest.log"
    env = {
        "NO_DOCKER": "true",  # upstream's switch: no Postgres / dev server fixtures of its own
        "SESSIONMEM_PEER_SAVERS": ",".join(savers),
        "SESSIONMEM_PEER_TOKEN": token,
        "SESSIONMEM_PEER_TMP": str(work / "db"),
        "SESSIONMEM_PEER_REDIS_URL": args.redis_url,
        "SESSIONMEM_PEER_POSTGRES_DSN": args.postgres_dsn,
    }
    if args.user_id:
        env["SESSIONMEM_PEER_USER_ID"] = args.user_id
    if args.strict_msgpack:
        env["LANGGRAPH_STRICT_MSGPACK"] = "true"
    files = [f"tests/{f.removeprefix('tests/')}" for f in args.files] if args.files else ["tests"]
    pytest_args = [
        *files,
        # LangGraph's tests run on anyio (no pytest-asyncio), with pytest-mock and syrupy
        *plugin_args("anyio.pytest_plugin", "pytest_mock", "syrupy"),
        *(plugin_args("xdist.plugin") if args.workers else []),
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=--strict-markers --strict-config --snapshot-warn-unused",
        "-q",
        "-rN",
        f"--junitxml={junit}",
        *timeout_args(300),
        *(["-k", args.select] if args.select else []),
        *(["-n", str(args.workers)] if args.workers else []),
        *args.pytest_args,
    ]
    print(
        f"langgraph {version}: running {' '.join(files)} on {', '.join(savers)} "
        f"(namespace prefix {token}, work folder {work})",
        flush=True,
    )
    cluster = None
    try:
        if "redis_cluster" in args.engines:
            url = args.cluster_url
            if url is None:
                cluster = throwaway_cluster()
                url = cluster.__enter__()
            env["SESSIONMEM_PEER_CLUSTER_URL"] = url
        code = run_pytest(root, pytest_args, env, log)
    finally:
        deleted = 0
        if "redis" in args.engines:
            deleted += redis_cleanup(args.redis_url, token)
        if "redis_cluster" in args.engines and cluster is None and args.cluster_url:
            deleted += redis_cleanup(args.cluster_url, token)
        if cluster is not None:
            cluster.__exit__(None, None, None)
        if "postgres" in args.engines and (dropped := postgres_cleanup(args.postgres_dsn, token)):
            print(f"dropped {dropped} PostgreSQL tables of this run ({token}*)")
        if deleted:
            print(f"deleted {deleted} Redis keys of this run ({token}*)")
    return finish(args, root, work, junit, log, code, savers, ours, version)


def finish(
    args: argparse.Namespace,
    root: Path,
    work: Path,
    junit: Path,
    log: Path,
    code: int,
    savers: list[str],
    ours: list[str],
    version: str,
) -> int:
    results = parse_junit(junit, root)
    if args.verbose or code not in (0, 1) or not results:
        print(log.read_text()[-20000:])
    if code not in (0, 1) or not results:
        print(f"pytest exited with {code} (log: {log})", file=sys.stderr)
        return 2
    if args.junit:
        shutil.copy(junit, args.junit)
    groups = {s: SaverResults(BASELINE_NAME if s == BASELINE else s) for s in savers}
    for res in results:
        found = saver_of(res.nodeid, ours)
        if found is not None and found[0] in groups:
            groups[found[0]].results[found[1]] = res
    baseline = groups.get(BASELINE)
    gaps = report(
        f"langgraph {version} tests with sessionmem savers", list(groups.values()), baseline
    )
    if args.keep:
        print(f"\nkept {work} (log: {log})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if gaps:
        print(f"\n{gaps} failure(s) of ours where {BASELINE_NAME} passes")
    return 1 if gaps and not args.report_only else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
