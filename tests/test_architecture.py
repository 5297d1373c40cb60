"""The package's shape holds: no import cycles, small modules with a docstring, the public API
exactly as documented, and a light top-level import (agents load when used)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp

import langchain_sessionmem

PACKAGE = Path(langchain_sessionmem.__file__).parent
MAX_LINES = 400

PUBLIC = {
    "ANONYMOUS",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "EngineUnavailableError",
    "InvalidArgumentError",
    "InvalidIdError",
    "KeyUnavailableError",
    "Keyring",
    "MessageTooLargeError",
    "RecallIndex",
    "SerializationError",
    "SessionHistory",
    "SessionInfo",
    "SessionMemoryError",
    "SessionMemoryRunnable",
    "SessionState",
    "SessionStore",
    "StoredMessage",
    "ThreadInfo",
    "with_session_memory",
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_public_api_is_exactly_the_documented_names():
    assert set(langchain_sessionmem.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(langchain_sessionmem, name) is not None


def test_no_import_cycles_between_package_modules():
    graph = grimp.build_graph("langchain_sessionmem")
    modules = sorted(graph.modules)
    edges = {m: graph.find_modules_directly_imported_by(m) & set(modules) for m in modules}
    cycles = []
    for module in modules:
        for imported in edges[module]:
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append([module, *back])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_modules_are_small_and_say_what_they_are_for():
    too_long, undocumented = [], []
    for path in _modules():
        source = path.read_text()
        if source.count("\n") > MAX_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {source.count(chr(10))} lines")
        if not ast.get_docstring(ast.parse(source)):
            undocumented.append(str(path.relative_to(PACKAGE)))
    assert not too_long, too_long
    assert not undocumented, undocumented


def test_the_import_contracts_hold():
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "lint-imports")],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _imported_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_package_loads_no_langchain_machinery():
    """``import langchain_sessionmem`` (and so ``sessionmem --help``) stays light."""
    loaded = _imported_after("import langchain_sessionmem")
    assert not {m for m in loaded if m.startswith(("langchain_core", "langgraph", "redis"))}


def test_the_public_api_never_loads_the_agent_stack():
    """Agent integrations load when used: the chain API imports no langgraph.prebuilt or
    langchain.agents."""
    loaded = _imported_after(
        "from langchain_sessionmem import SessionStore, with_session_memory\n"
        "import langchain_sessionmem.memory, langchain_sessionmem.checkpoint"
    )
    assert not {m for m in loaded if m.startswith(("langgraph.prebuilt", "langchain.agents"))}
