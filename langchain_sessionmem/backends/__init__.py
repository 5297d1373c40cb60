"""The backend registry: URL scheme -> backend package, imported only when a store asks for it.

Adding a backend is one folder (``backends/<name>/`` exporting ``KIND``, ``open_engine`` and
``open_saver``) plus one line in :data:`SCHEMES`.
"""

from __future__ import annotations

import importlib
from typing import Any, cast
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .base import Backend, Engine, redacted

SCHEMES: dict[str, tuple[str, ...]] = {
    "memory": ("memory",),
    "sqlite": ("sqlite",),
    "redis": ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"),
    "postgres": ("postgresql", "postgres", "postgresql+psycopg"),
}
"""Backend name -> the URL schemes it serves."""

_BY_SCHEME = {scheme: name for name, schemes in SCHEMES.items() for scheme in schemes}

SQLALCHEMY_DRIVERS: dict[str, str] = {
    "sqlite+pysqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "postgres+psycopg": "postgresql",
}
"""SQLAlchemy-style ``dialect+driver`` schemes and the scheme they mean here: this package brings
its own drivers (stdlib sqlite3, psycopg 3) and serves sync and async from one URL."""


def normalize_url(url: str) -> str:
    """``url`` with a SQLAlchemy ``dialect+driver`` scheme mapped to the one this package serves."""
    if not isinstance(url, str) or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    mapped = SQLALCHEMY_DRIVERS.get(scheme.lower())
    return f"{mapped}://{rest}" if mapped else url


def load(name: str) -> Backend:
    """The backend package ``name`` (imported on first use: drivers stay optional extras)."""
    if name not in SCHEMES:
        raise ConfigurationError(f"unknown backend {name!r}: known are {sorted(SCHEMES)}")
    return cast(Backend, importlib.import_module(f"{__name__}.{name}"))


def for_url(url: str) -> Backend:
    """The backend serving ``url``'s scheme, or a :class:`ConfigurationError` listing the schemes."""
    scheme = urlsplit(url).scheme.lower() if isinstance(url, str) and "://" in url else ""
    name = _BY_SCHEME.get(scheme)
    if name is None:
        hint = ""
        if "+" in scheme and scheme.split("+")[0] in ("sqlite", "postgresql", "postgres"):
            base = "sqlite" if scheme.startswith("sqlite") else "postgresql"
            hint = f" (the driver part {scheme!r} is not needed here: write {base}://...)"
        raise ConfigurationError(
            f"unsupported store URL {redacted(url) if isinstance(url, str) else url!r}{hint}: use "
            "memory://, sqlite:///path.db, sqlite://, redis://host:6379/0, rediss://..., "
            "redis+cluster://host:port or postgresql://user@host/db"
        )
    return load(name)


def open_engine(url: str, *, namespace: str, ttl: float | None, options: dict[str, Any]) -> Engine:
    """The engine for ``url``; backend options are taken out of ``options``."""
    url = normalize_url(url)
    return for_url(url).open_engine(url, namespace=namespace, ttl=ttl, options=options)


def open_saver(engine: Engine, **options: Any) -> Any:
    """A LangGraph checkpointer on ``engine``'s backend, sharing its connections."""
    return load(engine.kind).open_saver(engine, **options)


__all__ = ["SCHEMES", "Backend", "Engine", "for_url", "load", "open_engine", "open_saver"]
