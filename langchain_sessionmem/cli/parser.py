"""The command line of `sessionmem` (argparse only: nothing heavy is imported to parse it)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

DEFAULT_URL = "sqlite:///sessions.db"

EPILOG = """\
The store comes from --store or $SESSIONMEM_URL (default sqlite:///sessions.db). Global options
may come before or after the command. Listings print a table on a terminal, tab-separated text
otherwise, and JSON with --json.

examples:
  sessionmem chat --session ticket-42 --user alice
  sessionmem sessions --user alice --json
  sessionmem show ticket-42 --user alice --last 20
  sessionmem stats --user alice
  sessionmem threads list --user alice
  sessionmem erase-user alice bob
  SESSIONMEM_TOKENS="token-a:alice,token-b:bob" sessionmem serve --port 8000
"""

GLOBAL_DEFAULTS = {
    "store": None,
    "namespace": "sessionmem",
    "ttl": None,
    "json": False,
    "color": "auto",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("langchain-sessionmem")
    except PackageNotFoundError:  # a checkout that is not installed
        return "unknown"


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        parser.exit(message=f"sessionmem {_version()}\n")


def _globals() -> argparse.ArgumentParser:
    """Options accepted before and after the command (SUPPRESS: a later one does not reset)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    s = argparse.SUPPRESS
    group.add_argument(
        "--store", default=s, help="store URL (default: $SESSIONMEM_URL or sqlite:///sessions.db)"
    )
    group.add_argument("--namespace", default=s, help="key / table prefix (default: sessionmem)")
    group.add_argument(
        "--ttl", default=s, help="session lifetime for writes, e.g. 7d, 12h, 30m, 3600"
    )
    group.add_argument("--json", action="store_true", default=s, help="print JSON")
    group.add_argument(
        "--color", choices=("auto", "always", "never"), default=s, help="colour (default: auto)"
    )
    return common


def build() -> argparse.ArgumentParser:
    common = _globals()
    root = argparse.ArgumentParser(
        prog="sessionmem",
        description="Session memory for LangChain: chat, inspect and erase sessions, serve the app.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    root.add_argument("--version", action=_Version)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(command=name)
        return sub

    def user(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--user", help="the user id (default: the anonymous namespace)")

    chat = command("chat", "chat in a session (line editing on a terminal; /quit to leave)")
    chat.add_argument("--session", required=True)
    user(chat)
    chat.add_argument("--max-messages", type=int, default=50, help="window size (default: 50)")

    user(command("sessions", "list a user's sessions"))
    show = command("show", "print the last messages of a session (control characters escaped)")
    show.add_argument("session")
    user(show)
    show.add_argument("--last", type=int, default=20)
    delete = command("delete", "delete one session")
    delete.add_argument("session")
    user(delete)
    erase = command("erase-user", "erase everything of users: sessions, state and threads")
    erase.add_argument("user_ids", nargs="+", metavar="user_id")
    command("purge", "delete expired sessions (engines without native expiry)")
    stats = command("stats", "messages, tokens and bytes per session, as a table")
    user(stats)
    stats.add_argument("sessions", nargs="*", metavar="session", help="default: all of the user")

    threads = command("threads", "list, show and delete a user's checkpointer threads")
    actions = threads.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help in (
        ("list", "list the threads"),
        ("show", "the latest checkpoint of a thread"),
        ("delete", "delete a thread"),
    ):
        action = actions.add_parser(name, help=help, description=help, parents=[common])
        user(action)
        if name != "list":
            action.add_argument("thread_id")

    serve = command("serve", "serve the HTTP app and chat page (tokens from $SESSIONMEM_TOKENS)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-messages", type=int, default=50)
    return root


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed arguments with the global defaults filled in."""
    args = build().parse_args(argv)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.store is None:
        args.store = os.environ.get("SESSIONMEM_URL", DEFAULT_URL)
    return args
