"""The README's demo runs offline and a second run continues the same sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "support_demo.py"


def run_demo(db: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    result = subprocess.run(
        [sys.executable, str(DEMO), "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_demo_remembers_each_users_issue_across_runs(tmp_path):
    db = tmp_path / "demo.db"
    first = run_demo(db)
    assert "offline model" in first  # says plainly that no LLM is used
    assert "You reported: 'My VPN is not working'" in first
    assert "You reported: 'I cannot access email'" in first
    assert "alice: ticket-vpn with 4 messages" in first

    second = run_demo(db)
    assert "alice / ticket-vpn (4 messages stored" in second
    assert "alice: ticket-vpn with 6 messages" in second
    assert "bob: ticket-email with 6 messages" in second
    # bob's session never shows alice's report
    bob_part = second.split("== bob")[1]
    assert "VPN" not in bob_part.split("Sessions per user")[0]


AGENT_DEMO = DEMO.parent / "agent_demo.py"


def test_agent_demo_keeps_a_bounded_private_thread_across_runs(tmp_path):
    db = tmp_path / "agent.db"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}

    def run() -> str:
        return subprocess.run(
            [sys.executable, str(AGENT_DEMO), "--db", str(db)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        ).stdout

    first = run()
    assert "offline model" in first
    assert "Ticket status: VPN client fails to connect" in first
    assert "bob sees alice's thread: False" in first
    sizes = []
    for _ in range(3):
        (summary,) = [
            line for line in run().splitlines() if line.startswith("thread alice-support")
        ]
        sizes.append(int(summary.split(": ")[1].split(" messages")[0]))
    # the thread goes on for 12 turns; its state stays within the window plus one trim batch (4)
    assert max(sizes) <= 24


def test_summary_demo_summarizes_rarely_and_keeps_the_facts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    out = subprocess.run(
        [sys.executable, str(DEMO.parent / "summary_demo.py"), "--db", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    last_prompt = out.split("ana: What should I check next?")[1]
    assert "<summary> My name is Ana. I live in Porto." in last_prompt  # marked as data
    assert "human: I sail mostly in summer." in last_prompt  # the recent window stays verbatim
    assert "20 messages stored" in out
    assert "summarizer calls: 1 for 10 turns" in out
