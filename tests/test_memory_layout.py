"""The memory package's shape: no import cycles, lazy agents, small documented modules, public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import langchain_sessionmem.memory as memory

PACKAGE = Path(memory.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every memory module ``path`` imports, function-level and TYPE_CHECKING imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "langchain_sessionmem.memory."
        ):
            found.add(node.module.split(".")[2])
    return found


def test_no_import_cycles_between_memory_modules():
    graph = {p.stem: imports_of(p) - {p.stem} for p in MODULES if p.stem != "__init__"}
    assert all("__init__" not in deps for deps in graph.values())
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, f"import cycle: {' -> '.join([*path, name])}"
        if name in done:
            return
        for dep in graph.get(name, ()):
            visit(dep, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_memory_imports_neither_store_nor_backends():
    for path in MODULES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert not module.startswith(("..store", "..backends")), (path.name, module)
                assert not module.startswith(
                    ("langchain_sessionmem.store", "langchain_sessionmem.backends")
                ), (path.name, module)


def test_importing_memory_loads_no_agent_framework():
    code = (
        "import sys, langchain_sessionmem.memory as m; "
        "print(sorted(n for n in sys.modules if n.startswith(('langgraph.prebuilt', "
        "'langchain.agents')))); m.SessionMemoryMiddleware; "
        "print('langchain.agents' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = out.stdout.splitlines()
    assert before == "[]"
    assert after == "True"  # and the middleware loads on first use


def test_modules_are_small_and_say_what_they_are_for():
    for path in MODULES:
        source = path.read_text()
        assert len(source.splitlines()) <= 400, path.name
        docstring = ast.get_docstring(ast.parse(source))
        assert docstring and len(docstring.splitlines()[0]) > 20, path.name


def test_public_names_resolve():
    for name in memory.__all__:
        assert getattr(memory, name) is not None, name
    assert len(set(memory.__all__)) == len(memory.__all__)
