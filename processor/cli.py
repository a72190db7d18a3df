"""The `vproc` command line: the composition root that turns Settings into running parts.

Exit codes: 0 ok, 1 failure, 2 usage. With `--json`, stdout carries only JSON.
"""

from __future__ import annotations

import logging
import sys
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from processor.commands.output import err, out, print_json
from processor.config import Settings
from processor.errors import VprocError
from processor.logs import configure_logging
from processor.services import Services
from processor.status import UNSUCCESSFUL_STATUSES, JobStatus

app = typer.Typer(
    name="vproc",
    help="Supabase-centric video processor: transcripts, subtitles, metadata and thumbnails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
quota_app = typer.Typer(
    help="Per-user quotas checked at insert and retry (processor.quotas).", no_args_is_help=True
)
app.add_typer(quota_app, name="quota")

# `vproc watch JOB` gives up after this long unless --timeout says otherwise: a lost event,
# a stopped worker or a stuck job must not keep a script waiting forever.
WATCH_JOB_TIMEOUT_SECONDS = 3600.0


class LogFormat(StrEnum):
    text = "text"
    json = "json"


DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Target database (default: DATABASE_URL, else the embedded Postgres).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
JobArgument = Annotated[int, typer.Argument(help="Job id.", show_default=False)]
EmailOption = Annotated[
    str | None, typer.Option("--email", help="Supabase Auth user (client-side commands).")
]
PasswordOption = Annotated[
    str | None,
    typer.Option("--password", help="Prompted for when omitted.", hide_input=True),
]


def _services(ctx: typer.Context, database_url: str | None = None) -> Services:
    state: dict[str, Any] = ctx.ensure_object(dict)
    services = Services(settings=Settings(), database_url_override=database_url)
    ctx.call_on_close(services.close)
    state["services"] = services
    return services


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log only errors.")] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="Log lines as text or JSON.")
    ] = LogFormat.text,
) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING
    ctx.ensure_object(dict)["log_level"] = level
    configure_logging(level, log_format.value)


# --- db ---------------------------------------------------------------------------------------


@db_app.command("migrate")
def db_migrate(
    ctx: typer.Context,
    database_url: DatabaseUrlOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List pending migrations; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply pending migrations (installing the local Supabase stand-in on plain Postgres)."""
    from processor.db.migrations import migrate

    services = _services(ctx, database_url)
    report = migrate(services.database_url, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "dry_run": report.dry_run,
                "standin_installed": report.shim_installed,
                "standin_needed": report.shim_needed,
                "applied": [m.path.name for m in report.applied],
                "pending": [m.path.name for m in report.pending],
                "already_applied": report.already_applied,
                "unknown_applied": report.unknown_applied,
            }
        )
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


# --- worker -----------------------------------------------------------------------------------


@app.command("run")
def run(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Jobs in flight (default: WORKER_CONCURRENCY).",
        ),
    ] = None,
    until_empty: Annotated[
        bool, typer.Option("--until-empty", help="Exit once no job is due and none is running.")
    ] = False,
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--worker-id",
            help="Name in processor.job_leases.locked_by; unique per process"
            " (default: host-pid-random).",
        ),
    ] = None,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            "--shutdown-timeout", min=0, help="Seconds running jobs get to finish on SIGTERM."
        ),
    ] = 30.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", min=0.05, help="Seconds between polls when no NOTIFY arrives."
        ),
    ] = 5.0,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve /metrics and /healthz on HOST:PORT."),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            help="Bind address of --metrics-port (0.0.0.0 in a container, for Prometheus).",
        ),
    ] = "127.0.0.1",
    listen: Annotated[
        bool, typer.Option("--listen/--no-listen", help="Wake on NOTIFY (off: poll only).")
    ] = True,
    pipeline: Annotated[
        str,
        typer.Option(
            "--pipeline", help="module:attr of the Pipeline (or a factory taking Settings)."
        ),
    ] = "processor.pipeline.build:make_pipeline",
    database_url: DatabaseUrlOption = None,
) -> None:
    """Run the worker: claim jobs and process them until stopped."""
    from processor.commands.run import run_worker

    state = ctx.ensure_object(dict)
    if state.get("log_level", logging.WARNING) > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # a daemon logs its lifecycle by default
    run_worker(
        _services(ctx, database_url),
        concurrency=concurrency,
        until_empty=until_empty,
        worker_id=worker_id,
        shutdown_timeout=shutdown_timeout,
        poll_interval=poll_interval,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        pipeline_spec=pipeline,
        listen=listen,
    )


@app.command("demo")
def demo(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", help="Your own video instead of the bundled sample.")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the embedded database and local store first.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the result.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline on a sample video, on this machine, with no keys or servers."""
    from processor.commands.demo import run_demo

    code = run_demo(_services(ctx), file=file, reset=reset, as_json=as_json, quiet=quiet)
    raise typer.Exit(code)


@app.command("doctor")
def doctor(
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check settings, database, migrations, storage, speech model, Gemini key and LISTEN."""
    from processor.commands.doctor import doctor_from_environment

    raise typer.Exit(doctor_from_environment(database_url, as_json=as_json))


@app.command("process")
def process(
    file: Annotated[Path, typer.Argument(help="Video file.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the results.")],
    as_json: JsonOption = False,
) -> None:
    """Process one file without a database: transcript, subtitles, thumbnail, metadata.json."""
    from processor.commands.process import process_command

    process_command(file, out_dir, as_json=as_json)


@app.command("submit")
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Video file to upload.", show_default=False)],
    user: Annotated[
        uuid.UUID | None, typer.Option("--user", help="Uploader's auth.users id.")
    ] = None,
    via_supabase: Annotated[
        bool,
        typer.Option(
            "--via-supabase",
            help="Take the client's road: sign in, upload through Storage, insert through "
            "PostgREST (needs SUPABASE_URL and SUPABASE_ANON_KEY).",
        ),
    ] = False,
    email: EmailOption = None,
    password: PasswordOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload FILE and insert its video row as a user (RLS applies)."""
    if via_supabase:
        from processor.supabase_client.uploads import submit_via_supabase

        if not email:
            raise typer.BadParameter("--via-supabase needs --email", param_hint="--email")
        secret = password or typer.prompt(f"password for {email}", hide_input=True)
        done = submit_via_supabase(Settings(), file, email=email, password=secret)
        job_id, key, size = done.job_id, done.storage_path, done.size_bytes
        result: object = done
    else:
        from processor.commands.submit import submit_file

        if user is None:
            raise typer.BadParameter("give --user ID (or --via-supabase)", param_hint="--user")
        submitted = submit_file(_services(ctx, database_url), file, user_id=user)
        job_id, key, size = submitted.job_id, submitted.storage_path, submitted.size_bytes
        result = submitted
    if as_json:
        print_json(result)
    else:
        out.print(f"job {job_id} queued for {file.name} ({size:,} bytes → {key})")


@app.command("jobs")
def jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None, typer.Option("--status", help="Only jobs in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    from processor.commands.jobs import list_jobs

    list_jobs(
        _services(ctx, database_url),
        status=status.value if status else None,
        limit=limit,
        as_json=as_json,
    )


@app.command("show")
def show(
    ctx: typer.Context,
    job: JobArgument,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job: status, stages with timings, error, metadata."""
    from processor.commands.jobs import show_job

    show_job(_services(ctx, database_url), job, as_json=as_json)


def _job_action(action: str, help_text: str) -> None:
    """Register `vproc <action> JOB`: the owner's RPC of that name, run as the job's owner."""

    def command(
        ctx: typer.Context,
        job: JobArgument,
        database_url: DatabaseUrlOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from processor.commands.jobs import act_on_job

        act_on_job(_services(ctx, database_url), job, action=action, as_json=as_json)

    command.__name__ = command.__qualname__ = action
    command.__doc__ = help_text
    app.command(action)(command)


_job_action("retry", "Put a FAILED or CANCELLED job back in the queue (as its owner would).")
_job_action("cancel", "Cancel a PENDING job, or ask the worker to stop a PROCESSING one.")


QuotaUserOption = Annotated[
    uuid.UUID | None,
    typer.Option(
        "--user", help="A user's auth.users id (default: the defaults row).", show_default=False
    ),
]


def _limit_option(flag: str, what: str) -> object:
    return typer.Option(
        flag,
        help=f"{what}; `none` for unlimited.",
        show_default=False,
        metavar="N|none",
    )


@quota_app.command("show")
def quota_show(
    ctx: typer.Context,
    user: QuotaUserOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the defaults and every user's own row, or what applies to one user and their usage."""
    from processor.commands.quota import show_quota

    show_quota(_services(ctx, database_url), user_id=user, as_json=as_json)


@quota_app.command("set")
def quota_set(
    ctx: typer.Context,
    user: QuotaUserOption = None,
    max_active_jobs: Annotated[
        str | None, _limit_option("--max-active-jobs", "Jobs PENDING or PROCESSING at once")
    ] = None,
    max_videos_per_day: Annotated[
        str | None, _limit_option("--max-videos-per-day", "Videos inserted per UTC day")
    ] = None,
    max_bytes_per_day: Annotated[
        str | None, _limit_option("--max-bytes-per-day", "Bytes inserted per UTC day")
    ] = None,
    max_retries_per_job: Annotated[
        str | None, _limit_option("--max-retries-per-job", "Retries of one job")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the user's own row: the defaults apply again.")
    ] = False,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change limits of the defaults or of one user (a new user row starts as the defaults)."""
    from processor.commands.quota import parse_limit, set_quota

    given = {
        "max_active_jobs": (max_active_jobs, "--max-active-jobs"),
        "max_videos_per_day": (max_videos_per_day, "--max-videos-per-day"),
        "max_bytes_per_day": (max_bytes_per_day, "--max-bytes-per-day"),
        "max_retries_per_job": (max_retries_per_job, "--max-retries-per-job"),
    }
    limits: dict[str, int | None] = {}
    for name, (text, flag) in given.items():
        if text is None:
            continue
        try:
            limits[name] = parse_limit(text)
        except ValueError as exc:
            raise typer.BadParameter(f"{text!r}: a number >= 0 or `none`", param_hint=flag) from exc
    if clear and limits:
        raise typer.BadParameter("--clear takes no limits", param_hint="--clear")
    if clear and user is None:
        raise typer.BadParameter("--clear needs --user", param_hint="--clear")
    if not clear and not limits:
        raise typer.BadParameter(
            "give at least one limit, or --clear", param_hint="--max-active-jobs"
        )
    set_quota(
        _services(ctx, database_url), user_id=user, limits=limits, clear=clear, as_json=as_json
    )


@app.command("watch")
def watch(
    ctx: typer.Context,
    job: Annotated[int | None, typer.Argument(help="Job id (default: all recent jobs).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Jobs shown.")] = 20,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            help="Give up after this many seconds; watching one job then exits 1. "
            f"Default: {WATCH_JOB_TIMEOUT_SECONDS:g} s for one job, none for all; 0: never.",
        ),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Watch as a frontend does: the user's private Supabase Realtime channel "
            "jobs:<uid> (Broadcast from the database; needs SUPABASE_URL, SUPABASE_ANON_KEY, "
            "--email).",
        ),
    ] = False,
    email: EmailOption = None,
    password: PasswordOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per change.")] = False,
) -> None:
    """Live status and progress, updated on every change."""
    if timeout is None and job is not None:
        timeout = WATCH_JOB_TIMEOUT_SECONDS
    if timeout == 0:
        timeout = None
    if realtime:
        code = _watch_realtime(job, email, password, timeout, as_json)
    else:
        from processor.commands.watch import watch_jobs

        code = watch_jobs(
            _services(ctx, database_url), job, limit=limit, as_json=as_json, timeout=timeout
        )
    raise typer.Exit(code)


def _watch_realtime(
    job: int | None, email: str | None, password: str | None, timeout: float | None, as_json: bool
) -> int:
    import json
    import threading

    from processor.commands.output import status_text
    from processor.supabase_client.realtime import watch_via_realtime

    if not email:
        raise typer.BadParameter("--realtime needs --email", param_hint="--email")
    secret = password or typer.prompt(f"password for {email}", hide_input=True)

    def show(record: dict[str, Any]) -> None:
        if as_json:
            sys.stdout.write(json.dumps(record, default=str) + "\n")
            sys.stdout.flush()
        elif record.get("deleted"):
            out.print(f"job {record.get('id')} deleted")
        else:
            progress = float(record.get("progress") or 0) * 100
            out.print(
                f"job {record.get('id')} {status_text(str(record.get('status')))} "
                f"{record.get('current_stage') or '-'} {progress:.0f}%"
            )

    stop = threading.Event()
    try:
        last = watch_via_realtime(
            Settings(),
            email=email,
            password=secret,
            job_id=job,
            on_change=show,
            stop_event=stop,
            timeout=timeout,
        )
    except KeyboardInterrupt:
        return 0
    if last is None:
        if job is None:
            return 0
        err.print(f"[red]error:[/] job {job} did not end within {timeout:g} s", highlight=False)
        return 1
    return 1 if last.get("status") in UNSUCCESSFUL_STATUSES else 0


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
