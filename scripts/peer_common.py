"""Shared steps of the peer-suite scripts: fetch an sdist, run its tests, compare, clean up."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CACHE = Path(
    os.environ.get("SESSIONMEM_PEER_CACHE", Path.home() / ".cache" / "sessionmem-peer")
)
DEFAULT_REDIS_URL = os.environ.get("SESSIONMEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEFAULT_POSTGRES_DSN = os.environ.get(
    "SESSIONMEM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
PLUGINS = Path(__file__).resolve().parent / "peer_plugins"


class PeerError(RuntimeError):
    """A step of a peer run that cannot go on; the message says what to do."""


def run_token() -> str:
    """A fresh namespace prefix for this run's keys and tables (random bytes, never uuid4)."""
    return "peer" + secrets.token_hex(6)


# -- the upstream sdist ---------------------------------------------------------------------
def installed_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise PeerError(f"{dist} is not installed in {sys.prefix}: pip install {dist}") from exc


def fetch_sdist(dist: str, version: str, cache: Path) -> Path:
    """The sdist of ``dist==version`` from the cache, downloaded with pip when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached_sdist(dist, version, cache)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    cmd += ["--no-binary", ":all:", f"{dist}=={version}", "-d", str(cache)]
    print(f"downloading the {dist} {version} sdist into {cache}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = _cached_sdist(dist, version, cache)
    if done.returncode != 0 or found is None:
        raise PeerError(
            f"pip download of the {dist}=={version} sdist failed:\n{done.stderr.strip()}\n"
            "check that PyPI is reachable, or put the .tar.gz into the cache folder (--cache)"
        )
    return found


def _cached_sdist(dist: str, version: str, cache: Path) -> Path | None:
    """``<name>-<version>.tar.gz`` in ``cache``, with the name compared as PEP 503 normalizes it."""
    want = (re.sub(r"[-_.]+", "-", dist).lower(), version)
    for candidate in cache.glob("*.tar.gz"):
        name, _, ver = candidate.name[: -len(".tar.gz")].rpartition("-")
        if (re.sub(r"[-_.]+", "-", name).lower(), ver) == want:
            return candidate
    return None


def extract(sdist: Path, wanted: Sequence[str], dest: Path) -> Path:
    """Extract the members of ``sdist`` under the ``wanted`` paths into ``dest``; returns the
    extracted top folder."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0]
        chosen = [
            m
            for m in members
            if any(
                m.name == f"{top}/{w}" or m.name.startswith(f"{top}/{w.rstrip('/')}/")
                for w in wanted
            )
        ]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=chosen, filter="data")
        else:  # pragma: no cover - Python before the extraction filters
            tar.extractall(dest, members=chosen)  # noqa: S202 - a PyPI sdist chosen by version
    return dest / top


# -- test dependencies ----------------------------------------------------------------------
def ensure_deps(requirements: Mapping[str, str], install: bool) -> None:
    """Check that each module imports; install the missing requirements with ``install``."""
    missing = [req for mod, req in requirements.items() if importlib.util.find_spec(mod) is None]
    if not missing:
        return
    if not install:
        raise PeerError(
            "the upstream tests need packages that are not installed: "
            f"{' '.join(missing)}\ninstall them with: python -m pip install "
            + " ".join(f"'{r}'" for r in missing)
            + "  (or pass --install-deps)"
        )
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
    importlib.invalidate_caches()


def timeout_args(seconds: int) -> list[str]:
    """pytest-timeout's option when the plugin is installed: a hang fails one test, not the run."""
    if importlib.util.find_spec("pytest_timeout") is None:
        return []
    return ["-p", "pytest_timeout", f"--timeout={seconds}"]


def plugin_args(*modules: str) -> list[str]:
    """``-p`` for each plugin module the upstream suite uses: the run loads only these (not every
    plugin installed in the environment), which halves pytest's start-up and keeps foreign
    plugins out of the upstream tests."""
    return [arg for module in modules for arg in ("-p", module)]


def run_pytest(root: Path, args: Sequence[str], env: Mapping[str, str], log: Path) -> int:
    """Run pytest in ``root`` with only the plugins named in ``args``; output goes to ``log``."""
    cmd = [sys.executable, "-m", "pytest", *args]
    full_env = {
        **os.environ,
        **env,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=root, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    return proc.returncode


# -- results --------------------------------------------------------------------------------
@dataclass
class Result:
    nodeid: str
    outcome: str  # passed, failed, skipped
    message: str = ""


def parse_junit(path: Path, root: Path) -> list[Result]:
    """Each test case of a pytest JUnit XML file, with its pytest node id."""
    if not path.exists():
        return []
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = (child.get("message") or "").strip().splitlines()[0:1]
                message = message[0] if message else child.tag
                break
            if child.tag == "skipped":
                outcome = "skipped"
                message = child.get("message") or ""
        results.append(
            Result(_nodeid(case.get("classname", ""), case.get("name", ""), root), outcome, message)
        )
    return results


def _nodeid(classname: str, name: str, root: Path) -> str:
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = Path(root, *parts[:cut]).with_suffix(".py")
        if module.exists():
            return "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], name])
    return f"{classname}::{name}"


@dataclass
class SaverResults:
    """The results of one saver (or history) under a display name."""

    name: str
    results: dict[str, Result] = field(default_factory=dict)  # comparison key -> result
    notes: dict[str, str] = field(default_factory=dict)  # node id -> why it fails, if known

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results.values())

    def failed(self) -> list[tuple[str, Result]]:
        return sorted((k, r) for k, r in self.results.items() if r.outcome == "failed")


def report(
    title: str,
    groups: Sequence[SaverResults],
    baseline: SaverResults | None,
) -> int:
    """Print counts and failing tests per saver; returns how many of ours fail where the
    baseline passes (or all of ours that fail, without a baseline), leaving out the failures
    a saver's ``notes`` explain."""
    print(f"\n== {title} ==")
    width = max(len(g.name) for g in groups) + 2
    print(f"{'saver':<{width}}{'tests':>7}{'passed':>8}{'failed':>8}{'skipped':>9}")
    for g in groups:
        print(
            f"{g.name:<{width}}{len(g.results):>7}{g.count('passed'):>8}"
            f"{g.count('failed'):>8}{g.count('skipped'):>9}"
        )
    gaps = 0
    for g in groups:
        failed, notes = g.failed(), g.notes
        print(f"\n-- {g.name}: {len(failed)} failed")
        for key, res in failed:
            tags = []
            if g is not baseline and baseline is not None:
                base = baseline.results.get(key)
                if base is not None and base.outcome == "failed":
                    tags.append(f"also fails on {baseline.name}")
                elif base is None:
                    tags.append(f"not run on {baseline.name}")
                else:
                    gaps += res.nodeid not in notes
            elif g is not baseline:
                gaps += res.nodeid not in notes
            if res.nodeid in notes:
                tags.append(notes[res.nodeid])
            tag = f"   ({'; '.join(tags)})" if tags else ""
            print(f"  {res.nodeid}{tag}")
            if res.message:
                print(f"      {res.message[:200]}")
    return gaps


# -- services and cleanup -------------------------------------------------------------------
def redis_cleanup(url: str, token: str) -> int:
    """Delete every key holding ``token`` (this run's namespaces), on every node of a cluster."""
    import redis

    cluster = url.startswith(("redis+cluster://", "rediss+cluster://"))
    deleted = 0
    if cluster:
        client = redis.RedisCluster.from_url(url.replace("+cluster", "", 1))
        try:
            for node in client.get_primaries():
                conn = client.get_redis_connection(node)
                deleted += _scan_delete(conn, token)
        finally:
            client.close()
    else:
        client = redis.Redis.from_url(url)
        try:
            deleted = _scan_delete(client, token)
        finally:
            client.close()
    return deleted


def _scan_delete(client: object, token: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"*{token}*", count=1000):  # type: ignore[attr-defined]
        batch.append(key)
        if len(batch) >= 500:
            deleted += sum(client.unlink(k) for k in batch)  # type: ignore[attr-defined]
            batch.clear()
    deleted += sum(client.unlink(k) for k in batch)  # type: ignore[attr-defined]
    return deleted


def redis_available(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'langchain-sessionmem[redis]')"
    try:
        client = redis.Redis.from_url(url.replace("+cluster", "", 1), socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:  # any failure means "not there"
        return f"no Redis at {url}: {exc}"
    return None


def postgres_available(dsn: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'langchain-sessionmem[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"no PostgreSQL at {dsn}: {exc}"
    return None


def postgres_cleanup(dsn: str, token: str) -> int:
    """Drop the tables of this run's namespaces (their names start with ``token``)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND starts_with(tablename, %s)",
                (token,),
            )
        ]
        for name in names:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    return len(names)


def _free_port() -> int:
    for _ in range(200):
        port = random.randint(20000, 55000)
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))  # the cluster bus port
                return port
    raise PeerError("no free port pair for a throwaway Redis Cluster node")


def cluster_missing(url: str | None) -> str | None:
    """Why no Redis Cluster can be used (``url`` given but not answering, or no redis-server to
    start one), else None."""
    if url is not None:
        return redis_available(url)
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return (
            "redis-server / redis-cli are not installed (apt-get install redis-server), "
            "or pass --cluster-url"
        )
    return None


@contextlib.contextmanager
def throwaway_cluster(masters: int = 3) -> Iterator[str]:
    """A Redis Cluster of ``masters`` nodes from redis-server on spare ports; yields its URL."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        raise PeerError(
            "redis-server / redis-cli are needed to start a throwaway Redis Cluster "
            "(apt-get install redis-server), or pass --cluster-url"
        )
    ports = [_free_port() for _ in range(masters)]
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            for port in ports:
                node_dir = Path(workdir, str(port))
                node_dir.mkdir()
                procs.append(
                    subprocess.Popen(
                        ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
                        + ["--save", "", "--appendonly", "no", "--dir", str(node_dir)]
                        + ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port in ports:
                _wait_port(port)
            subprocess.run(
                ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports]]
                + ["--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=30,
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                infos = [
                    subprocess.run(
                        ["redis-cli", "-p", str(p), "cluster", "info"],
                        capture_output=True,
                        text=True,
                    ).stdout
                    for p in ports
                ]
                if all("cluster_state:ok" in i for i in infos):
                    break
                time.sleep(0.1)
            else:
                raise PeerError("the throwaway Redis Cluster did not reach cluster_state:ok")
            yield f"redis+cluster://127.0.0.1:{ports[0]}"
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise PeerError(f"redis-server on port {port} did not start in {timeout}s")
