"""`sessionmem serve`: the HTTP app and chat page on uvicorn, tokens from $SESSIONMEM_TOKENS."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .output import Output


def check_extra() -> None:
    """Raise a typed error naming the fix when FastAPI or uvicorn is missing."""
    from ..errors import ConfigurationError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"serve needs the server extra ({exc.name or 'fastapi'} is missing): "
            "pip install 'langchain-sessionmem[server]'"
        ) from exc


def tokens_from_env() -> dict[str, str]:
    pairs = [p.strip() for p in os.environ.get("SESSIONMEM_TOKENS", "").split(",") if p.strip()]
    return dict(p.split(":", 1) for p in pairs if ":" in p)


def serve(store: Any, args: argparse.Namespace, out: Output) -> int:
    import uvicorn

    from ..server import bearer_tokens, create_app
    from .build import build_chain

    tokens = tokens_from_env()
    if not tokens:
        print(
            "sessionmem: set SESSIONMEM_TOKENS='token:user,...': every request must "
            "authenticate as a user",
            file=sys.stderr,
        )
        return 2
    app = create_app(
        build_chain(store, args.max_messages), store, authenticate=bearer_tokens(tokens)
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/"
    print(f"serving on {url} (chat page at {url}, API docs at {url}docs); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
