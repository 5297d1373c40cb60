"""The README's snippets run as pasted, offline, each on its own; its links point at real files.

Convention: a ``<!-- runnable -->`` line right before a python fence marks a snippet that must
run as pasted (in a fresh temporary directory, in a subprocess, with no network and no server).
Any other python fence must say why it does not run with ``<!-- fragment: reason -->``, so a new
snippet cannot silently escape the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!--\s*(runnable|fragment:[^>]*\S)\s*-->\s*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TIMEOUT = 120


@dataclass
class Snippet:
    line: int
    language: str
    code: str
    mark: str | None  # "runnable", "fragment: ...", or None


def snippets(text: str) -> list[Snippet]:
    """Every fenced block with its first line number and the marker on the line before it."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(
            Snippet(
                line=text.count("\n", 0, match.start()) + 1,
                language=match.group(1),
                code=match.group(2),
                mark=mark.group(1) if mark else None,
            )
        )
    return found


ALL = snippets(README.read_text(encoding="utf-8"))
RUNNABLE = [s for s in ALL if s.mark == "runnable"]


def offline_env(tmp: Path) -> dict[str, str]:
    """The test's environment without API keys, and proxies that refuse every connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGSMITH_"))}
    env.pop("LANGCHAIN_API_KEY", None)
    env.update(
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        LANGCHAIN_TRACING_V2="false",
        LANGSMITH_TRACING="false",
        TIKTOKEN_CACHE_DIR=str(tmp / "tiktoken"),  # empty: the documented offline fallback
        PYTHONWARNINGS="ignore",
        HOME=str(tmp),
    )
    return env


def test_the_readme_has_runnable_snippets_on_its_first_screen() -> None:
    assert len(RUNNABLE) >= 5
    first = RUNNABLE[0]
    assert first.line < 60, "the first runnable snippet belongs on the README's first screen"
    assert len(first.code.strip().splitlines()) <= 16
    assert "GenericFakeChatModel" in first.code  # it runs offline as pasted


def test_every_python_snippet_is_marked() -> None:
    unmarked = [s.line for s in ALL if s.language == "python" and s.mark is None]
    assert not unmarked, (
        f"README.md python fences at lines {unmarked} have no marker: put <!-- runnable --> "
        "(or <!-- fragment: why it cannot run -->) on the line before the fence"
    )


@pytest.mark.parametrize("snippet", RUNNABLE, ids=[f"line{s.line}" for s in RUNNABLE])
def test_snippet_runs_as_pasted(snippet: Snippet, tmp_path: Path) -> None:
    assert snippet.language == "python", f"<!-- runnable --> at line {snippet.line} marks no python"
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, (
        f"README.md snippet at line {snippet.line} failed (exit {done.returncode}):\n"
        f"{done.stderr[-3000:]}"
    )


def test_first_snippet_stores_the_conversation(tmp_path: Path) -> None:
    """What the first screen promises: both turns stored, the canned replies printed."""
    script = tmp_path / "snippet.py"
    script.write_text(RUNNABLE[0].code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("[") and last.count("'") >= 8, done.stdout  # four messages listed
    assert "My VPN is not working" in last
    assert (tmp_path / "sessions.db").exists()


def test_relative_links_and_images_exist() -> None:
    text = README.read_text(encoding="utf-8")
    targets = {m.group(1).split("#", 1)[0] for m in LINK.finditer(text)}
    local = sorted(t for t in targets if t and "://" not in t and not t.startswith("mailto:"))
    assert "docs/history-latency.png" in local and "docs/checkpoint-bytes.png" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_quick_start_commands_are_the_documented_ones() -> None:
    text = README.read_text(encoding="utf-8")
    assert (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
        "python examples/support_demo.py"
    ) in text
    assert 'pip install -e ".[test]" && python -m pytest' in text
    assert "SESSIONMEM_TEST_POSTGRES_DSN" in text and "SESSIONMEM_TEST_REDIS_URL" in text
