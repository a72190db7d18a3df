"""Read-only probes of a database for `vproc doctor`: who we are, what the target is, LISTEN.

Query text lives in diagnostics.sql; psycopg errors become processor.errors here, so the doctor
only ever sees VprocError. Judging the answers (OK, WARN, FAIL) is the doctor's business.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import class_row

from processor.db.connection import connect
from processor.db.pool import translated
from processor.db.queries import load_queries

_T = TypeVar("_T")

QUERIES = load_queries(
    (resources.files("processor.db") / "diagnostics.sql").read_text(encoding="utf-8")
)
CHANNEL_PREFIX = "vproc_doctor_"


@dataclass(frozen=True)
class ServerIdentity:
    server_version: str
    user_name: str
    database_name: str


@dataclass(frozen=True)
class TargetSignals:
    """Which Supabase objects exist.

    `auth.schema_migrations` (kept by the Auth server, GoTrue) and `storage.migrations` (kept
    by the Storage server) exist on every Supabase database, hosted or local, and are created
    only by those servers, so either one marks a real Supabase target; the local stand-in has
    `auth.users` and `storage.objects` but neither bookkeeping table.
    """

    has_auth_schema: bool
    has_auth_users: bool
    has_storage_objects: bool
    has_auth_migrations: bool
    has_storage_migrations: bool

    @property
    def is_supabase(self) -> bool:
        return self.has_auth_migrations or self.has_storage_migrations


@dataclass(frozen=True)
class RoleStatus:
    user_name: str
    is_superuser: bool
    has_bypassrls: bool
    role_exists: bool
    is_member: bool
    has_role_privileges: bool  # member with INHERIT: acts with the role's rights without SET ROLE


def with_connect_timeout(url: str, seconds: int) -> str:
    """`url` with libpq's connect_timeout set (a URL or a key=value conninfo)."""
    return make_conninfo(url, connect_timeout=str(max(1, seconds)))


@contextmanager
def probe_connection(
    url: str, *, application_name: str = "vproc-doctor"
) -> Iterator[psycopg.Connection]:
    """One autocommit connection whose psycopg errors surface as processor.errors.

    Raises DatabaseUnavailableError when the server cannot be reached.
    """
    with connect(url, autocommit=True, application_name=application_name) as conn, translated():
        yield conn


def server_identity(conn: psycopg.Connection) -> ServerIdentity:
    return _one(conn, "server_identity", ServerIdentity)


def target_signals(conn: psycopg.Connection) -> TargetSignals:
    return _one(conn, "target_signals", TargetSignals)


def processor_role_status(conn: psycopg.Connection) -> RoleStatus:
    return _one(conn, "processor_role_status", RoleStatus)


def quoted_identifier(conn: psycopg.Connection, name: str) -> str:
    """`name` quoted as SQL needs it (for GRANT statements the doctor suggests)."""
    return sql.Identifier(name).as_string(conn)


def notify_round_trip_ms(url: str, *, timeout_seconds: float = 2.0) -> float | None:
    """LISTEN on a fresh channel and NOTIFY it from a second session; return the delay in ms.

    None when the notification did not arrive within `timeout_seconds`. The channel name is
    random, so concurrent runs and running workers never see each other's probes.
    """
    channel = f"{CHANNEL_PREFIX}{uuid.uuid4().hex[:12]}"
    payload = uuid.uuid4().hex
    with probe_connection(url, application_name="vproc-doctor-listen") as listener:
        listener.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
        with probe_connection(url, application_name="vproc-doctor-notify") as sender:
            started = time.perf_counter()
            sender.execute(QUERIES["notify_probe"], {"channel": channel, "payload": payload})
        deadline = started + timeout_seconds
        while (left := deadline - time.perf_counter()) > 0:
            for note in listener.notifies(timeout=left, stop_after=1):
                if note.channel == channel and note.payload == payload:
                    return (time.perf_counter() - started) * 1000.0
    return None


def _one(conn: psycopg.Connection, name: str, cls: type[_T]) -> _T:
    cur: psycopg.Cursor[_T] = conn.cursor(row_factory=class_row(cls))
    row = cur.execute(QUERIES[name]).fetchone()
    if row is None:
        raise RuntimeError(f"{name} returned no row")
    return row
