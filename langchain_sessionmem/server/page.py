"""The chat page: plain HTML/JS/CSS shipped in the package, served at ``/`` with a strict CSP."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

from .problems import Problem

FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def read(name: str) -> bytes:
    """One file of the page, from the package's ``server/static`` folder."""
    return (resources.files(__package__) / "static" / name).read_bytes()


def add_page(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files at ``/static/<name>``."""

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return Response(read("index.html"), media_type=FILES["index.html"], headers=HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in FILES:
            raise Problem(404, f"no file {name!r} on the chat page", error="NotFound")
        return Response(read(name), media_type=FILES[name], headers=HEADERS)
