"""`sessionmem chat`: a REPL with line editing and history, replies streamed as they come.

On a terminal, input goes through readline (arrow keys, Ctrl-R, history of this run); piped
input is read line by line. Ctrl-C stops a reply (what was shown is stored, marked interrupted)
and, at the prompt, leaves like Ctrl-D or ``/quit`` — never with a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from .output import Output, printable

HELP = "/quit or Ctrl-D leaves, Ctrl-C stops a reply, /help shows this"


def _reader(interactive: bool, prompt: str) -> Callable[[], str]:
    if not interactive:

        def read_line() -> str:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line

        return read_line
    try:
        import readline  # noqa: F401 - input() edits lines through it once imported

        readline.set_auto_history(True)
    except ImportError:  # pragma: no cover - platforms without readline
        pass
    return lambda: input(prompt)


def _colour(code: str, text: str, interactive: bool) -> str:
    """ANSI colour for a readline prompt (\\001/\\002 keep its width right), or plain text."""
    return f"\001\033[{code}m\002{text}\001\033[0m\002" if interactive else text


def chat(store: Any, args: argparse.Namespace, out: Output) -> int:
    from .build import build_chain

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    colour = interactive and "NO_COLOR" not in os.environ
    chain = build_chain(store, args.max_messages)
    config = {"configurable": {"session_id": args.session, "user_id": args.user}}
    who = args.user or "anonymous"
    stored = store.history(args.session, user_id=args.user).count()
    print(f"session {args.session!r} of {who} ({stored} messages). {HELP}.", flush=True)
    prompt = _colour("1;32", f"{who}@{args.session}", colour) + "> "
    answer = ("\033[1;34mai>\033[0m " if colour else "ai> ") if interactive else "ai: "
    read = _reader(interactive, prompt)
    while True:
        try:
            text = read().strip()
        except (EOFError, KeyboardInterrupt):
            if interactive:
                print()
            break
        if text in ("/quit", "/exit"):
            break
        if text == "/help":
            print(HELP)
            continue
        if text:
            _reply(chain, text, config, answer)
    return 0


def _reply(chain: Any, text: str, config: Any, answer: str) -> None:
    """Print the reply chunk by chunk; Ctrl-C closes the stream (the partial reply is kept)."""
    sys.stdout.write(answer)
    sys.stdout.flush()
    stream = chain.stream({"input": text}, config)
    try:
        for chunk in stream:
            sys.stdout.write(printable(getattr(chunk, "text", None) or ""))
            sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()
        sys.stdout.write(" [interrupted]")
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()
