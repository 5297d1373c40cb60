"""A call on a lent PostgreSQL connection as requests, so :meth:`PostgresConnections.run` and
:meth:`~PostgresConnections.arun` share every step but the I/O.

A plan of :class:`~.queries.Query` values becomes requests on the connection's cursor (execute,
then fetch), with bad values' errors typed (:mod:`.value_errors`) and every error thrown back into
the plan; a write plan runs between BEGIN and COMMIT, as psycopg's ``transaction()`` sends them on
an autocommit connection. ``perform`` answers a request blocking, ``aperform`` on asyncio; a
cancellation (or Ctrl-C) of a request reaches the plan's cleanup as :class:`Interrupted`, never the
plan itself, so a cancelled call still rolls back and restores its connection.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import psycopg

from ..._steps import Steps, resume
from .queries import Plan, Query
from .value_errors import typed_error

T = TypeVar("T")
Request = Callable[[], Any]
"""A call on the lent connection or its cursor (its result awaited on an asyncio connection)."""


class Interrupted(Exception):
    """A request was cancelled or interrupted (``cause``): the cleanup steps run, then the
    caller raises ``cause`` again (see :meth:`PostgresConnections.run`)."""

    def __init__(self, cause: BaseException):
        super().__init__(repr(cause))
        self.cause = cause


def perform(request: Request) -> Any:
    try:
        return request()
    except Exception:
        raise
    except BaseException as exc:  # KeyboardInterrupt: carried through the cleanup
        raise Interrupted(exc) from None


async def aperform(request: Request) -> Any:
    try:
        return await request()
    except Exception:
        raise
    except BaseException as exc:  # CancelledError: carried through the cleanup
        raise Interrupted(exc) from None


def _value_error(exc: Exception) -> Exception:
    """A bad value's error as its typed error (raised from it); any other error as it is."""
    typed = typed_error(exc) if isinstance(exc, (UnicodeEncodeError, psycopg.DataError)) else None
    if typed is None:
        return exc
    typed.__cause__ = exc
    return typed


def statements(
    cur: Any, plan: Plan[T], prepare: Callable[[Query], bool | None]
) -> Steps[Request, T]:
    """``plan``'s queries as requests on ``cur``: each sends its rows (``fetch="all"``) or
    ``None`` back to the plan, or throws its error into it."""
    query, finished = resume(plan, None, None)
    while not finished:
        try:
            yield partial(
                cur.execute, query.sql, query.params, prepare=prepare(query), binary=query.binary
            )
            reply, error = ((yield cur.fetchall) if query.fetch == "all" else None), None
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the plan, which decides
            reply, error = None, _value_error(exc)
        query, finished = resume(plan, reply, error)
    return query  # type: ignore[no-any-return]


def transaction(
    cur: Any, plan: Plan[T], prepare: Callable[[Query], bool | None]
) -> Steps[Request, T]:
    """``plan`` as one transaction of an autocommit connection (what psycopg's ``transaction()``
    sends): BEGIN, its queries, COMMIT; ROLLBACK when it fails, and its error is the one raised."""
    yield partial(cur.execute, "BEGIN", prepare=False)
    try:
        result = yield from statements(cur, plan, prepare)
    except Exception:
        if not cur.connection.closed:
            try:
                yield partial(cur.execute, "ROLLBACK", prepare=False)
            except Interrupted:
                raise
            except Exception:  # noqa: BLE001 - a broken connection: the plan's error says why
                pass
        raise
    yield partial(cur.execute, "COMMIT", prepare=False)
    return result


def unprepared(query: Query) -> bool:
    return False
