"""Connection URLs and single connections; psycopg errors become processor.errors here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from processor.config import Settings
from processor.errors import DatabaseUnavailableError


def resolve_database_url(settings: Settings, override: str | None = None) -> str:
    """Return the database URL: `override`, else DATABASE_URL, else the embedded server's."""
    if override:
        return override
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from processor.db.embedded import start_embedded

    return start_embedded(settings.embedded_pgdata)


@contextmanager
def connect(
    url: str, *, autocommit: bool = False, application_name: str = "vproc"
) -> Iterator[psycopg.Connection]:
    """Open one connection; a failure to connect raises DatabaseUnavailableError."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name)
    except psycopg.OperationalError as exc:
        message = f"cannot connect to the database: {error_line(exc)}"
        raise DatabaseUnavailableError(message) from exc
    with conn:
        yield conn


def error_line(exc: BaseException) -> str:
    """The first line of a (psycopg) error: the server's primary message when it sent one."""
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
