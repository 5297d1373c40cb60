"""The `sessionmem` command on a real SQLite file, in a pipe, in a pseudo-terminal, and `serve`
over real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from unittest import mock

import httpx
import pytest
from services import free_port

from langchain_sessionmem import SessionStore

CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CI")
}


def sessionmem(
    db, *args: str, stdin: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the command in this process (a subprocess costs seconds of imports per call)."""
    from langchain_sessionmem.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", *(env or {}))}
    try:
        for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            os.environ.pop(key, None)
        os.environ.update(env or {})
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            mock.patch.object(sys, "stdin", io.StringIO(stdin)),
        ):
            try:
                code = main(["--store", f"sqlite:///{db}", *args])
            except SystemExit as exit:
                code = exit.code
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def rows(result: subprocess.CompletedProcess) -> list[list[str]]:
    """The tab-separated rows of a listing printed to a pipe (header first)."""
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


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

    listed = rows(sessionmem(db, "sessions", "--user", "alice"))
    assert listed[0] == ["session", "messages", "updated", "expires"]
    assert listed[1][:2] == ["t1", "4"] and listed[1][3] == "never"
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


def test_help_and_version_import_nothing_heavy():
    probe = (
        "import sys\n"
        "from langchain_sessionmem.cli import main\n"
        "for argv in (['--help'], ['--version'], ['threads', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('langchain_core', 'langgraph', 'rich', 'fastapi', 'tiktoken', 'pydantic')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=CLEAN_ENV
    )
    assert result.returncode == 0, result.stderr
    assert "sessionmem" in result.stdout and "threads" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"


def test_global_options_work_after_the_command_and_json_everywhere(tmp_path):
    db = tmp_path / "g.db"
    sessionmem(db, "chat", "--session", "s1", "--user", "alice", stdin="hello\n")
    after = subprocess.run(
        [sys.executable, "-m", "langchain_sessionmem.cli", "sessions", "--user", "alice", "--json",
         "--store", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=60, env=CLEAN_ENV,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
    assert [s["session_id"] for s in json.loads(after.stdout)] == ["s1"]
    shown = json.loads(sessionmem(db, "show", "s1", "--user", "alice", "--json").stdout)
    assert [(m["seq"], m["type"]) for m in shown] == [(1, "human"), (2, "ai")]
    stats = json.loads(sessionmem(db, "stats", "--user", "alice", "--json").stdout)
    assert stats[0]["session_id"] == "s1" and stats[0]["messages"] == 2
    assert stats[0]["tokens"] > 0 and stats[0]["bytes"] > 0
    assert json.loads(sessionmem(db, "threads", "list", "--user", "alice", "--json").stdout) == []
    assert json.loads(sessionmem(db, "--json", "purge").stdout) == {"purged": 0}


def test_show_escapes_control_characters(tmp_path):
    from langchain_core.messages import HumanMessage

    db = tmp_path / "esc.db"
    with SessionStore.from_url(f"sqlite:///{db}") as store:
        store.history("s", user_id="mallory").add_messages(
            [HumanMessage("\x1b[2J\x1b]0;owned\x07 hi \u202eevil\x9b")]
        )
    for args in (("show", "s"), ("stats",), ("sessions",)):
        result = sessionmem(db, *args, "--user", "mallory")
        assert result.returncode == 0, result.stderr
        assert not any(c in result.stdout for c in "\x1b\x07\u202e\x9b"), result.stdout
    shown = sessionmem(db, "show", "s", "--user", "mallory").stdout
    assert "\\x1b[2J\\x1b]0;owned\\x07 hi \\u202eevil\\x9b" in shown


def test_stats_is_a_table_with_totals(tmp_path):
    db = tmp_path / "stats.db"
    for session in ("a", "b"):
        sessionmem(db, "chat", "--session", session, "--user", "alice", stdin="one\ntwo\n")
    table = rows(sessionmem(db, "stats", "--user", "alice"))
    assert table[0] == ["session", "messages", "tokens", "bytes"]
    by_name = {r[0]: [int(v) for v in r[1:]] for r in table[1:]}
    assert sorted(by_name) == ["(total)", "a", "b"]
    assert by_name["a"][0] == 4
    assert by_name["(total)"] == [a + b for a, b in zip(by_name["a"], by_name["b"], strict=True)]
    colour = sessionmem(db, "stats", "--user", "alice", "--color", "always")
    assert "\x1b[" in colour.stdout and "tokens" in colour.stdout and "\t" not in colour.stdout


def test_threads_lists_shows_and_deletes_a_users_threads(tmp_path):
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph

    db = tmp_path / "threads.db"
    with SessionStore.from_url(f"sqlite:///{db}") as store:
        builder = StateGraph(MessagesState)
        builder.add_node(
            "echo", lambda s: {"messages": [AIMessage("echo " + s["messages"][-1].text)]}
        )
        builder.add_edge(START, "echo")
        for user, thread in (("alice", "t-1"), ("alice", "t-2"), ("bob", "t-1")):
            graph = builder.compile(checkpointer=store.checkpointer(user_id=user))
            graph.invoke({"messages": [("human", f"{user} on {thread}")]},
                         {"configurable": {"thread_id": thread}})  # fmt: skip
    listed = rows(sessionmem(db, "threads", "list", "--user", "alice"))
    assert listed[0][:2] == ["thread", "checkpoints"]
    assert sorted(r[0] for r in listed[1:]) == ["t-1", "t-2"]
    shown = json.loads(sessionmem(db, "threads", "show", "t-1", "--user", "alice", "--json").stdout)
    assert [m["text"] for m in shown["messages"]] == ["alice on t-1", "echo alice on t-1"]
    assert sessionmem(db, "threads", "show", "t-9", "--user", "alice").returncode == 1
    assert sessionmem(db, "threads", "delete", "t-1", "--user", "alice").returncode == 0
    assert [r[0] for r in rows(sessionmem(db, "threads", "list", "--user", "alice"))[1:]] == ["t-2"]
    assert [r[0] for r in rows(sessionmem(db, "threads", "list", "--user", "bob"))[1:]] == ["t-1"]


def test_bad_input_is_a_clear_error(tmp_path):
    result = sessionmem(tmp_path / "x.db", "show", "x" * 300)
    assert result.returncode == 2 and "256" in result.stderr
    typo = sessionmem(tmp_path / "x.db", "--ttl", "7days", "sessions")
    assert typo.returncode == 2 and "7d, 12h, 30m" in typo.stderr and "Traceback" not in typo.stderr


def test_ttl_takes_durations(tmp_path):
    db = tmp_path / "ttl.db"
    assert sessionmem(db, "chat", "--session", "s", "--ttl", "7d", stdin="hi\n").returncode == 0
    (listed,) = json.loads(sessionmem(db, "sessions", "--json").stdout)
    lifetime = _seconds(listed["expires_at"]) - _seconds(listed["updated_at"])
    assert abs(lifetime - 7 * 86400) < 60


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_serve_without_the_server_extra_says_the_fix(tmp_path):
    probe = (
        "import sys\n"
        "sys.modules['fastapi'] = None  # as if the server extra were not installed\n"
        "from langchain_sessionmem.cli import main\n"
        f"sys.exit(main(['--store', 'sqlite:///{tmp_path / 'x.db'}', 'serve']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
        env={**CLEAN_ENV, "SESSIONMEM_TOKENS": "t:alice"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "pip install 'langchain-sessionmem[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_its_url_and_answers_authenticated_requests(tmp_path):
    db, port = tmp_path / "serve.db", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "langchain_sessionmem.cli", "--store", f"sqlite:///{db}", "serve",
         "--port", str(port)],
        env={**CLEAN_ENV, "SESSIONMEM_TOKENS": "tok-a:alice"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        banner = server.stdout.readline() + server.stdout.readline()
        assert f"serving on {url}/" in banner
        for _ in range(100):
            try:
                httpx.get(f"{url}/me", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        reply = httpx.post(
            f"{url}/sessions/t1/invoke",
            json={"input": "My VPN is not working"},
            headers={"Authorization": "Bearer tok-a"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        assert httpx.get(f"{url}/sessions", timeout=5).status_code == 401
        assert "<title>sessionmem chat</title>" in httpx.get(f"{url}/", timeout=5).text
    finally:
        server.terminate()
        server.wait(timeout=10)
    with SessionStore.from_url(f"sqlite:///{db}", allow_anonymous=True) as store:
        assert store.history("t1", user_id="alice").count() == 2


def test_serve_refuses_to_start_without_tokens(tmp_path):
    result = sessionmem(tmp_path / "x.db", "serve", env={"SESSIONMEM_TOKENS": ""})
    assert result.returncode == 2 and "SESSIONMEM_TOKENS" in result.stderr


# -- in a pseudo-terminal: line editing, history, streaming, Ctrl-C ------------------------------
pexpect = pytest.importorskip("pexpect", reason="pexpect is not installed: pip install pexpect")

LEFT, UP = "\x1b[D", "\x1b[A"


def spawn(db, *args: str):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "langchain_sessionmem.cli", "--store", f"sqlite:///{db}", *args],
        env={**CLEAN_ENV, "TERM": "xterm", "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 160),
    )
    return child


def test_chat_in_a_terminal_edits_lines_recalls_history_and_ends_cleanly_on_ctrl_c(tmp_path):
    db = tmp_path / "pty.db"
    child = spawn(db, "chat", "--session", "s", "--user", "alice")
    child.expect_exact("alice@s")
    child.send("My VPN is nt working")
    child.send(LEFT * 9 + "o")  # fix the typo in the middle of the line
    child.send("\r")
    child.expect_exact("Thanks, I have noted: 'My VPN is not working'")
    child.expect_exact("alice@s")
    child.send(UP)  # recall the last line, edit its end
    child.send("\x7f" * 7 + "fine now\r")
    child.expect_exact("'My VPN is not fine now'")
    child.expect_exact("alice@s")
    child.sendintr()  # Ctrl-C at the prompt leaves
    child.expect(pexpect.EOF)
    child.close()
    assert "Traceback" not in child.before
    assert child.exitstatus == 0
    with SessionStore.from_url(f"sqlite:///{db}") as store:
        texts = [m.text for m in store.history("s", user_id="alice").messages]
    assert texts[0::2] == ["My VPN is not working", "My VPN is not fine now"]
    assert not any("\x1b" in t for t in texts)


def test_erase_shows_progress_on_a_terminal(tmp_path):
    db = tmp_path / "progress.db"
    for user in ("u1", "u2", "u3"):
        sessionmem(db, "chat", "--session", "s", "--user", user, stdin="hi\n")
    child = spawn(db, "erase-user", "u1", "u2", "u3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "erasing users" in child.before and "100%" in child.before
    assert "deleted 1 sessions of u3" in child.before
