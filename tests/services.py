"""Real services for the test suite: the local Redis and PostgreSQL, and throwaway Redis servers.

On a developer machine a missing service skips its tests with the reason; under ``CI=true`` it
fails them, so a green CI run proves every engine was really exercised.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REDIS_URL = os.environ.get("SESSIONMEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "SESSIONMEM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip on a developer machine, fail under CI=true."""
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def redis_available(url: str = REDIS_URL) -> str | None:
    """None when Redis answers PING, else the reason it does not."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'langchain-sessionmem[redis]')"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"no Redis at {url}: {exc}"
    return None


def postgres_available(dsn: str = POSTGRES_DSN) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'langchain-sessionmem[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        return f"no PostgreSQL at {dsn}: {exc}"
    return None


def free_port() -> int:
    """A free port at most 55535: a cluster node also listens on its port + 10000."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))
                return port
    raise RuntimeError("no free port pair found for a throwaway Redis server")


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not start in {timeout}s")


def _start_redis(port: int, workdir: str, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port, proc)
    return proc


@contextmanager
def throwaway_redis() -> Iterator[tuple[str, subprocess.Popen]]:
    """A private redis-server (tests may kill it), yielding (url, process)."""
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed, so no throwaway server can be started")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = _start_redis(port, workdir)
        try:
            yield f"redis://127.0.0.1:{port}/0", proc
        finally:
            proc.kill()
            proc.wait()


@contextmanager
def throwaway_cluster(masters: int = 3) -> Iterator[str]:
    """A Redis Cluster of ``masters`` nodes on spare ports, yielding a node URL."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        missing("redis-server / redis-cli are not installed, so no Redis Cluster can be started")
    ports = [free_port() for _ in range(masters)]
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            for port in ports:
                node_dir = os.path.join(workdir, str(port))
                os.makedirs(node_dir)
                procs.append(
                    _start_redis(
                        port,
                        node_dir,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    )
                )
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            _wait_cluster_ok(ports)
            yield f"redis://127.0.0.1:{ports[0]}/0"
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


def _wait_cluster_ok(ports: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [
            subprocess.run(
                ["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True, text=True
            ).stdout
            for p in ports
        ]
        if all("cluster_state:ok" in s for s in states):
            return
        time.sleep(0.1)
    raise RuntimeError("the throwaway Redis Cluster did not reach cluster_state:ok")
