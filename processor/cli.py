"""The `vproc` command line: the composition root that turns Settings into running parts.

Exit codes: 0 ok, 1 failure, 2 usage. With `--json`, stdout carries only the JSON document.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from processor.config import Settings
from processor.errors import VprocError

app = typer.Typer(
    name="vproc",
    help="Supabase-centric video processor: transcripts, subtitles, metadata and thumbnails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True, soft_wrap=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Target database (default: DATABASE_URL, else the embedded Postgres).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def configure_logging(level: int = logging.WARNING) -> None:
    """Configure logging once, for every command."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)


@db_app.command("migrate")
def db_migrate(
    database_url: DatabaseUrlOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List pending migrations; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply pending migrations (installing the local Supabase stand-in on plain Postgres)."""
    from processor.db.connection import resolve_database_url
    from processor.db.migrations import migrate

    settings = Settings()
    url = resolve_database_url(settings, database_url)
    report = migrate(url, dry_run=dry_run)
    if as_json:
        doc = {
            "dry_run": report.dry_run,
            "standin_installed": report.shim_installed,
            "standin_needed": report.shim_needed,
            "applied": [m.path.name for m in report.applied],
            "pending": [m.path.name for m in report.pending],
            "already_applied": report.already_applied,
            "unknown_applied": report.unknown_applied,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if report.shim_needed:
        verb = "would install" if dry_run else "installed"
        out.print(f"[yellow]plain Postgres:[/] {verb} the local Supabase stand-in (auth, storage)")
    if report.unknown_applied:
        err.print(
            "[yellow]warning:[/] the database has migrations this checkout lacks: "
            + ", ".join(report.unknown_applied)
        )
    if not report.pending:
        out.print(f"[green]up to date[/] ({len(report.already_applied)} migrations applied)")
        return
    table = Table("version", "name", "status")
    for migration in report.pending:
        table.add_row(migration.version, migration.name, "pending" if dry_run else "applied")
    out.print(table)
    if dry_run:
        out.print(f"{len(report.pending)} pending migration(s); nothing changed (--dry-run)")
    else:
        out.print(f"[green]applied {len(report.applied)} migration(s)[/]")


def main() -> None:
    """Console entry point: one line on stderr and exit 1 for any failure (usage errors: 2)."""
    try:
        app()  # standalone mode: click exits 2 on usage errors, 0 on success
    except VprocError as exc:
        err.print(f"[red]error:[/] {exc.message}", highlight=False)
        sys.exit(1)
    except Exception as exc:
        logging.getLogger(__name__).debug("unhandled error", exc_info=True)
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)
