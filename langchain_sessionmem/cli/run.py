"""Run one parsed `sessionmem` command: open the store, dispatch, turn errors into exit codes."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from .output import Output, error

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``7d`` / ``12h`` / ``30m`` / ``90s`` / ``3600``; ``None`` stays ``None``."""
    if text is None:
        return None
    from ..errors import ConfigurationError

    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigurationError(
            f"ttl {text!r} is not a duration: write e.g. 7d, 12h, 30m, 90s or a number of seconds"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _handlers() -> dict[str, Callable[[Any, argparse.Namespace, Output], int]]:
    from . import commands, threads

    return {
        "sessions": commands.sessions,
        "show": commands.show,
        "delete": commands.delete,
        "erase-user": commands.erase_user,
        "purge": commands.purge,
        "stats": commands.stats,
        "threads": threads.threads,
    }


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 done, 1 nothing found, 2 a usage or store error, 130 interrupted."""
    from ..errors import SessionMemoryError

    out = Output(as_json=args.json, color=args.color)
    try:
        ttl = parse_duration(args.ttl)
        if args.command == "serve":
            from .serve import check_extra

            check_extra()
        from ..store import SessionStore

        # The command line is an operator tool: no --user means the anonymous namespace.
        with SessionStore.from_url(
            args.store, namespace=args.namespace, ttl=ttl, allow_anonymous=True
        ) as store:
            if args.command == "chat":
                from .chat import chat

                return chat(store, args, out)
            if args.command == "serve":
                from .serve import serve

                return serve(store, args, out)
            return _handlers()[args.command](store, args, out)
    except SessionMemoryError as exc:
        error(str(exc))
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sessionmem sessions | head`
        sys.stderr.close()
        return 0
