"""Apply `supabase/migrations/*.sql` in order and record them as the Supabase CLI does.

Each migration runs in its own transaction and is recorded in
`supabase_migrations.schema_migrations (version, statements, name)`, the table the CLI keeps,
so `vproc db migrate` and `supabase db push` / `supabase migration list` agree. On a database
without an `auth` schema (plain Postgres) the local Supabase stand-in is installed first.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg

from processor.db.connection import connect, error_line
from processor.db.sqlsplit import split_statements
from processor.errors import MigrationError

logger = logging.getLogger(__name__)

FILENAME_RE = re.compile(r"^(?P<version>\d{14})_(?P<name>[^/]+)\.sql$")
# Any 64-bit constant works; this one is "vproc migrate" hashed, so other tools won't collide.
ADVISORY_LOCK_KEY = 7_265_183_001_415_201_312

SCHEMA_MIGRATIONS_DDL = (
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations "
    "(version text not null primary key, statements text[], name text)",
)


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    path: Path

    @property
    def statements(self) -> list[str]:
        """The file's statements, split as the Supabase CLI splits them."""
        return split_statements(self.path.read_text(encoding="utf-8"))


@dataclass
class MigrationReport:
    """What `migrate` did (or, with dry_run, would do)."""

    applied: list[Migration] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    unknown_applied: list[str] = field(default_factory=list)
    shim_installed: bool = False
    shim_needed: bool = False
    dry_run: bool = False


def default_migrations_dir() -> Path:
    """`supabase/migrations` of the source tree, or the copy packaged inside the wheel."""
    source_tree = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
    if source_tree.is_dir():
        return source_tree
    packaged = Path(str(resources.files("processor") / "_migrations"))
    if packaged.is_dir():
        return packaged
    raise MigrationError("no migrations directory found (expected supabase/migrations)")


def discover(directory: Path | None = None) -> list[Migration]:
    """List migration files in version order; a misnamed .sql file is an error."""
    directory = directory or default_migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME_RE.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named YYYYMMDDHHMMSS_name.sql"
            )
        found.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def shim_sql() -> str:
    """The local Supabase stand-in (never part of supabase/migrations)."""
    return (resources.files("processor.db") / "supabase_shim.sql").read_text(encoding="utf-8")


def has_auth_schema(conn: psycopg.Connection) -> bool:
    """Whether the database already has Supabase's `auth` schema (Supabase, or the stand-in)."""
    row = conn.execute("select to_regnamespace('auth') is not null").fetchone()
    return bool(row and row[0])


def install_shim(conn: psycopg.Connection) -> None:
    """Install the local Supabase stand-in in one transaction."""
    with conn.transaction():
        for statement in split_statements(shim_sql()):
            conn.execute(statement.encode())


def migrate(
    url: str,
    *,
    directory: Path | None = None,
    dry_run: bool = False,
    install_standin: bool = True,
) -> MigrationReport:
    """Apply pending migrations to the database at `url`; idempotent.

    Raises MigrationError naming the file and statement that failed; that migration's
    transaction is rolled back and later ones are not attempted.
    """
    migrations = discover(directory)
    report = MigrationReport(dry_run=dry_run)
    with connect(url, autocommit=True, application_name="vproc-migrate") as conn:
        # One migrator at a time; a second `vproc db migrate` waits, then finds nothing to do.
        conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            report.shim_needed = install_standin and not has_auth_schema(conn)
            if report.shim_needed and not dry_run:
                install_shim(conn)
                report.shim_installed = True
            applied = _applied_versions(conn, create=not dry_run)
            known = {m.version for m in migrations}
            report.unknown_applied = sorted(applied - known)
            for migration in migrations:
                if migration.version in applied:
                    report.already_applied.append(migration.version)
                    continue
                report.pending.append(migration)
                if not dry_run:
                    _apply(conn, migration)
                    report.applied.append(migration)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return report


def _applied_versions(conn: psycopg.Connection, *, create: bool) -> set[str]:
    if create:
        with conn.transaction():
            for ddl in SCHEMA_MIGRATIONS_DDL:
                conn.execute(ddl)
    exists = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null"
    ).fetchone()
    if not (exists and exists[0]):
        return set()
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {row[0] for row in rows}


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    statements = migration.statements
    logger.info(
        "applying migration %s",
        migration.path.name,
        extra={"event": "migration.applying", "version": migration.version},
    )
    try:
        with conn.transaction():
            for index, statement in enumerate(statements, start=1):
                try:
                    conn.execute(statement.encode())
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"{migration.path.name}: statement {index} failed: {error_line(exc)}"
                    ) from exc
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements) "
                "values (%s, %s, %s)",
                (migration.version, migration.name, statements),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.path.name}: {error_line(exc)}") from exc
