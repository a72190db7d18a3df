"""The connection pool and the mapping of psycopg errors onto processor.errors.

Nothing above processor/db catches psycopg errors: a lost or refused connection becomes
DatabaseUnavailableError (transient); PostgREST-style PT404/PT409/PT429 raised by the client
RPCs and quota checks become NotFoundError/InvalidStateError/QuotaExceededError; anything
else DatabaseError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from processor.db.connection import error_line
from processor.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    InvalidStateError,
    NotFoundError,
    QuotaExceededError,
)

logger = logging.getLogger(__name__)


def translate(exc: psycopg.Error) -> Exception:
    """The processor.errors equivalent of a psycopg error."""
    first = error_line(exc)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailableError(f"database connection lost: {first}")
    if exc.sqlstate == "PT404":
        return NotFoundError(first)
    if exc.sqlstate == "PT409":
        return InvalidStateError(first)
    if exc.sqlstate == "PT429":
        return QuotaExceededError(first)
    if exc.sqlstate and exc.sqlstate.startswith("57P"):  # admin shutdown, crash, cannot connect
        return DatabaseUnavailableError(f"database unavailable: {first}")
    return DatabaseError(first)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise psycopg errors as processor.errors, chained."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from exc


class Database:
    """A pool of autocommit connections; each queue call is its own short transaction."""

    def __init__(
        self,
        url: str,
        *,
        application_name: str = "vproc",
        max_size: int = 4,
        connect_timeout_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "application_name": application_name[:63],
                "connect_timeout": int(connect_timeout_seconds),
            },
            open=False,
            # No per-checkout health check (it costs a round trip per query): a connection
            # killed by a restart fails its next query, which callers retry, and the pool
            # discards it when it comes back broken.
            timeout=connect_timeout_seconds,
            reconnect_timeout=0,  # keep trying forever; callers decide how long to wait
            name="vproc",
        )

    def open(self) -> None:
        """Open the pool without waiting; connections are made in the background."""
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=5)

    def __enter__(self) -> Database:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection; psycopg errors come out as processor.errors."""
        try:
            with self.pool.connection() as conn, translated():
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailableError("no database connection available") from exc

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside one transaction."""
        with self.connection() as conn, translated(), conn.transaction():
            yield conn
