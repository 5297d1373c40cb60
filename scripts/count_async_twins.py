"""Count async code that only repeats its sync twin (the redesign's measure of duplication).

For every ``async def a<name>`` next to a ``def <name>`` in the same class or module, both bodies
are normalised (docstrings dropped; ``await``/``async`` removed; ``a``-prefixed twin calls such as
``.atail(`` / ``adrive(`` / ``_asave(`` renamed to their sync names) and compared with difflib. An
async body of two or more statements that is at least 60% the same as its twin counts, with all
its lines. One-statement entry points (``return drive(...)`` / ``return await adrive(...)``) are
the intended shape and do not count.

    python scripts/count_async_twins.py [package_dir]
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from pathlib import Path

THRESHOLD = 0.6
_TWIN_CALL = re.compile(r"\b(_?)a([a-z][a-z0-9_]*)\(")


def _normalise(source: str) -> list[str]:
    text = (
        source.replace("await ", "").replace("async for ", "for ").replace("async with ", "with ")
    )
    text = text.replace("AsyncIterator", "Iterator").replace(
        "asynccontextmanager", "contextmanager"
    )
    text = _TWIN_CALL.sub(lambda m: f"{m.group(1)}{m.group(2)}(", text)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _body(node: ast.AST, source: str) -> tuple[list[str], int]:
    body = list(node.body)  # type: ignore[attr-defined]
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ):
        body = body[1:]  # the docstring
    if not body:
        return [], 0
    segment = "\n".join(ast.get_source_segment(source, stmt) or "" for stmt in body)
    return _normalise(segment), len(body)


def repeated_lines(path: Path) -> list[tuple[str, int]]:
    source = path.read_text()
    tree = ast.parse(source)
    found = []
    scopes = [tree, *[n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]]
    for scope in scopes:
        sync = {n.name: n for n in scope.body if isinstance(n, ast.FunctionDef)}  # type: ignore[attr-defined]
        for node in scope.body:  # type: ignore[attr-defined]
            if not isinstance(node, ast.AsyncFunctionDef):
                continue
            twin = sync.get(node.name[1:]) or sync.get(node.name.replace("_a", "_", 1))
            if twin is None:
                continue
            a_lines, a_statements = _body(node, source)
            s_lines, _ = _body(twin, source)
            if a_statements < 2:
                continue
            ratio = difflib.SequenceMatcher(None, a_lines, s_lines).ratio()
            if ratio >= THRESHOLD:
                found.append(
                    (f"{path}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
                )
    return found


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "langchain_sessionmem")
    rows = [row for path in sorted(root.rglob("*.py")) for row in repeated_lines(path)]
    for where, lines in rows:
        print(f"{lines:4d}  {where}")
    print(f"total: {sum(lines for _, lines in rows)} lines in {len(rows)} async bodies")


if __name__ == "__main__":
    main()
