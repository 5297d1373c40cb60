"""The `sessionmem` command on a real SQLite file, and `serve` over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from services import free_port

from langchain_sessionmem import SessionStore


def sessionmem(
    db, *args: str, stdin: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "langchain_sessionmem.cli", "--store", f"sqlite:///{db}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def test_chat_then_admin_commands(tmp_path):
    db = tmp_path / "cli.db"
    chat = sessionmem(
        db,
        "chat",
        "--session",
        "t1",
        "--user",
        "alice",
        stdin="My VPN is not working\nWhat issue did I report?\n/quit\n",
    )
    assert chat.returncode == 0, chat.stderr
    assert "offline model" in chat.stdout
    assert "You reported: 'My VPN is not working'" in chat.stdout

    listed = sessionmem(db, "sessions", "--user", "alice")
    assert "t1\t4 messages" in listed.stdout
    assert "no sessions for bob" in sessionmem(db, "sessions", "--user", "bob").stdout

    shown = sessionmem(db, "show", "t1", "--user", "alice", "--last", "2")
    assert shown.stdout.splitlines()[0].split() == [
        "3",
        "human:",
        "What",
        "issue",
        "did",
        "I",
        "report?",
    ]

    assert sessionmem(db, "delete", "t1", "--user", "bob").returncode == 1  # not bob's to delete
    assert sessionmem(db, "delete", "t1", "--user", "alice").stdout.strip() == "deleted"
    sessionmem(db, "chat", "--session", "t2", "--user", "alice", stdin="hi\n")
    assert "deleted 1 sessions of alice" in sessionmem(db, "erase-user", "alice").stdout
    assert "purged 0" in sessionmem(db, "purge").stdout


def test_bad_input_is_a_clear_error(tmp_path):
    result = sessionmem(tmp_path / "x.db", "show", "x" * 300)
    assert result.returncode == 2 and "256" in result.stderr


def test_serve_answers_authenticated_requests(tmp_path):
    db, port = tmp_path / "serve.db", free_port()
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_sessionmem.cli",
            "--store",
            f"sqlite:///{db}",
            "serve",
            "--port",
            str(port),
        ],
        env={**clean, "SESSIONMEM_TOKENS": "tok-a:alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/sessions", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        reply = httpx.post(
            f"{url}/sessions/t1/invoke",
            json={"input": {"input": "My VPN is not working"}},
            headers={"Authorization": "Bearer tok-a"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        assert httpx.get(f"{url}/sessions", timeout=5).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
    with SessionStore.from_url(f"sqlite:///{db}", allow_anonymous=True) as store:
        assert store.history("t1", user_id="alice").count() == 2


def test_serve_refuses_to_start_without_tokens(tmp_path):
    result = sessionmem(tmp_path / "x.db", "serve", env={"SESSIONMEM_TOKENS": ""})
    assert result.returncode == 2 and "SESSIONMEM_TOKENS" in result.stderr
