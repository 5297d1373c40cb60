"""How `sessionmem` prints: rich tables and colour on a terminal, plain tab-separated text
otherwise, JSON with ``--json``; stored text always has its control characters escaped."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

# C0/C1 controls and the bidi overrides that can disguise text on a terminal (keep \n and \t).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), never sent raw."""
    escaped = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if one_line:
        escaped = escaped.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return escaped


class Output:
    """One command's output channel (stdout), chosen from ``--json`` / ``--color`` and the TTY."""

    def __init__(self, *, as_json: bool = False, color: str = "auto", stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.as_json = as_json
        tty = self.stream.isatty()
        wanted = color == "always" or (color == "auto" and tty and "NO_COLOR" not in os.environ)
        self.console = _console(self.stream, force=color == "always") if wanted else None

    # -- data ------------------------------------------------------------------------------
    def json(self, data: Any) -> None:
        """``data`` as one JSON document (ASCII-escaped: safe on any terminal)."""
        print(json.dumps(data, ensure_ascii=True, default=str), file=self.stream)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        records: Any = None,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """Rows as a rich table, tab-separated lines, or (``--json``) ``records``."""
        if self.as_json:
            self.json(
                records
                if records is not None
                else [dict(zip(columns, r, strict=True)) for r in rows]
            )
            return
        if not rows:
            self.note(empty)
            return
        cells = [[printable(_cell(v), one_line=True) for v in row] for row in rows]
        if self.console is None:
            print("\t".join(columns), file=self.stream)
            for row in cells:
                print("\t".join(row), file=self.stream)
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, header_style="bold cyan", title_justify="left")
        for i, name in enumerate(columns):
            numeric = bool(rows) and isinstance(rows[0][i], (int, float))
            table.add_column(name, justify="right" if numeric else "left")
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        self.console.print(table)

    # -- text ------------------------------------------------------------------------------
    def line(self, text: str, style: str | None = None) -> None:
        """One line of stored or computed text (escaped); ``style`` only on a colour terminal."""
        if self.console is None:
            print(printable(text), file=self.stream)
        else:
            from rich.text import Text

            self.console.print(Text(printable(text), style=style or ""))

    def note(self, text: str) -> None:
        """A message about the result (not data): dim on a terminal."""
        if not self.as_json:
            self.line(text, "dim")

    def progress(self, items: Iterable[T], total: int, label: str) -> Iterator[T]:
        """Iterate ``items`` with a progress bar on a terminal (on stderr, so stdout stays data)."""
        if not sys.stderr.isatty() or total < 2:
            yield from items
            return
        from rich.console import Console
        from rich.progress import track

        yield from track(items, total=total, description=label, console=Console(stderr=True))


def error(text: str) -> None:
    """A failure, on stderr, prefixed with the program name."""
    print(f"sessionmem: {printable(text)}", file=sys.stderr)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _console(stream: TextIO, force: bool) -> Any:
    try:
        from rich.console import Console
    except ImportError:  # rich is optional: plain text then
        return None
    return Console(file=stream, force_terminal=force or None, highlight=False, soft_wrap=False)
