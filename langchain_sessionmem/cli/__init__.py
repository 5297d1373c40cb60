"""`sessionmem`: chat in a session, administer sessions and threads, serve the HTTP app.

Only the argument parser is imported up front, so ``--help`` and ``--version`` answer at once;
each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sessionmem`` with ``argv`` (default: the process arguments); returns the exit code."""
    from .parser import parse

    args = parse(argv)
    from .run import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
