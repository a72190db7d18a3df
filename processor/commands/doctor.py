"""`vproc doctor`: is this installation ready to process videos? One OK/WARN/FAIL row per check.

Each check runs in its own thread with a time limit, so a hung server or a crashing adapter
costs one row, never the report. Checks that need the database are reported as not checked
when it cannot be reached. Probes only read, except one small object in the artifacts bucket.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from processor.ai.contract import Health
from processor.ai.factory import (
    GEMINI_CHECK_TIMEOUT_SECONDS,
    gemini_health,
    multilingual_model_health,
    speech_model_health,
)
from processor.ai.whisper import MODEL_FIX
from processor.errors import ConfigurationError, DatabaseUnavailableError, VprocError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from processor.config import Settings
    from processor.services import Services

Status = Literal["OK", "WARN", "FAIL"]
T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 5
LISTEN_TIMEOUT_SECONDS = 2.0
PROBE_PREFIX = "_vproc_doctor"
STATUS_STYLE: dict[str, str] = {"OK": "green", "WARN": "yellow", "FAIL": "red"}


@dataclass(frozen=True)
class Check:
    """One row of the report: `detail` is one line; `fix` is a command or a setting to change."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


# --- running ------------------------------------------------------------------------------

# The report's rows, in order.
NAMES = (
    "settings",
    "database",
    "migrations",
    "target",
    "role",
    "listen",
    "storage",
    "speech_model",
    "multilingual_model",
    "gemini",
)

_EMBEDDED_FIX = "set DATABASE_URL to a running Postgres, or remove the embedded data directory"


def run_checks(
    services: Services | None,
    *,
    settings_error: ValidationError | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[Check]:
    """Run every check in order and return one Check each; never raises.

    `services` is None when Settings did not load; `settings_error` then says why and the
    other checks are reported as not checked. `on_start` hears each check's name as it starts.
    """
    announce = on_start or (lambda _name: None)
    if services is None:
        first = (
            settings_error_check(settings_error)
            if settings_error is not None
            else Check("settings", "FAIL", "the settings did not load")
        )
        return [first] + [_not_checked(name, "the settings do not load") for name in NAMES[1:]]

    settings = services.settings
    checks: list[Check] = []

    def guarded(name: str, seconds: float, fn: Callable[[], Check], fallback_fix: str) -> Check:
        announce(name)
        outcome = _guarded(name, seconds, fn, fallback_fix)
        checks.append(outcome)
        return outcome

    guarded("settings", 5, lambda: check_settings(settings), "check the environment and .env")

    # The database URL first: without DATABASE_URL this starts the embedded server.
    announce("database")
    found = _guarded("database", 90, lambda: services.database_url, _EMBEDDED_FIX)
    url: str | None = None
    if isinstance(found, Check):
        checks.append(_database_url_failure(found, services))
        reachable = False
    else:
        url = found
        database = guarded(
            "database",
            CONNECT_TIMEOUT_SECONDS + 10,
            partial(check_database, found, embedded_dir=_embedded_dir(services)),
            "check that the server is up and reachable from here (host, port, firewall)",
        )
        reachable = database.status == "OK"

    migrate_fix = "vproc db migrate" + (
        " --database-url URL" if services.database_url_override else ""
    )
    busy_fix = "check what holds locks or keeps the database busy, then run vproc doctor again"
    database_checks: Sequence[tuple[str, float, Callable[[str], Check], str]] = (
        (
            "migrations",
            30,
            lambda u: check_migrations(u, migrate_fix=migrate_fix),
            "wait for a running vproc db migrate to finish, then run vproc doctor again",
        ),
        ("target", 15, lambda u: check_target(u, migrate_fix=migrate_fix), busy_fix),
        ("role", 15, lambda u: check_role(u, migrate_fix=migrate_fix), busy_fix),
    )
    for name, seconds, fn, fallback_fix in database_checks:
        if url is None or not reachable:
            announce(name)
            checks.append(_not_checked(name, "the database is unreachable"))
        else:
            guarded(name, seconds, partial(fn, url), fallback_fix)
    if url is None:
        announce("listen")
        checks.append(_not_checked("listen", "the database is unreachable"))
    else:
        guarded(
            "listen",
            CONNECT_TIMEOUT_SECONDS * 2 + LISTEN_TIMEOUT_SECONDS + 5,
            partial(check_listen, url, reachable=reachable),
            "connect directly or through a session pooler; the worker polls meanwhile",
        )

    guarded(
        "storage", 60, lambda: check_storage(services), "check that the storage service answers"
    )
    guarded("speech_model", 180, lambda: check_speech_model(settings), MODEL_FIX)
    guarded(
        "multilingual_model",
        180,
        lambda: check_multilingual_model(settings),
        "reinstall vproc's dependencies, or free space in the user cache directory",
    )
    guarded(
        "gemini",
        GEMINI_CHECK_TIMEOUT_SECONDS + 10,
        lambda: check_gemini(settings),
        "check the network or GEMINI_BASE_URL",
    )
    return checks


def _guarded(name: str, seconds: float, fn: Callable[[], T], fallback_fix: str) -> T | Check:
    """Run `fn` in a daemon thread; a timeout or an exception becomes a FAIL row.

    `fallback_fix` goes with those rows; a Check that `fn` returns carries its own fix.

    A check that never returns is left behind (daemon threads end with the process).
    """
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(fn())
        # The doctor is a runner: whatever one check raises is that check's row, not a crash.
        except Exception as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=target, name=f"vproc-doctor-{name}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive() or not outcome:
        return Check(name, "FAIL", f"no answer within {seconds:g} s", fallback_fix)
    result = outcome[0]
    if isinstance(result, VprocError):
        return Check(name, "FAIL", result.message, fallback_fix)
    if isinstance(result, Exception):
        return Check(name, "FAIL", f"{type(result).__name__}: {_first_line(result)}", fallback_fix)
    if isinstance(result, Check):
        return replace(
            result,
            detail=_first_line(result.detail),
            fix=_first_line(result.fix) if result.fix else None,
        )
    return cast("T", result)


def _not_checked(name: str, why: str) -> Check:
    return Check(name, "WARN", f"not checked: {why}")


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0].strip() if text else type(value).__name__


# --- settings -----------------------------------------------------------------------------


def settings_error_check(error: ValidationError) -> Check:
    """The settings row for a Settings() that raised: every bad variable, each with its reason."""
    problems: dict[str, str] = {}
    for item in error.errors():
        variable = str(item["loc"][0]).upper() if item.get("loc") else "settings"
        problems.setdefault(variable, _first_line(item.get("msg", "invalid")))
    listed = "; ".join(f"{name}: {reason}" for name, reason in problems.items())
    names = ", ".join(problems)
    return Check(
        "settings",
        "FAIL",
        f"invalid {listed}",
        f"correct {names} in the environment or .env (see .env.example)",
    )


def check_settings(settings: Settings) -> Check:
    """What the loaded settings choose: storage backend, AI provider, transcriber, database."""
    storage: str = settings.storage_backend
    if storage == "local":
        storage += f" ({settings.effective_local_storage_path})"
    elif storage == "gcs":
        storage += f" ({settings.gcs_bucket_name or 'no GCS_BUCKET_NAME'})"
    elif storage == "supabase":
        storage += f" ({settings.supabase_url or 'no SUPABASE_URL'})"
    ai: str = settings.effective_ai_provider
    if ai == "gemini":
        ai += f" {settings.gemini_model}"
    transcriber: str = settings.transcriber
    if transcriber == "whisper":
        transcriber += f" {settings.whisper_model or 'bundled tiny.en'}"
    return Check("settings", "OK", f"storage {storage}, AI {ai}, transcriber {transcriber}")


# --- database -----------------------------------------------------------------------------


def _embedded_dir(services: Services) -> Path | None:
    if services.database_url_override or services.settings.database_url is not None:
        return None
    return services.settings.embedded_pgdata


def _database_url_failure(failure: Check, services: Services) -> Check:
    pgdata = _embedded_dir(services)
    if pgdata is None:
        return failure
    return replace(
        failure,
        fix=f"set DATABASE_URL to a running Postgres, or stop whatever holds {pgdata} "
        f"(or remove that directory to start afresh)",
    )


def check_database(url: str, *, embedded_dir: Path | None = None) -> Check:
    """Connect once: the server's version and the user we run as."""
    from psycopg.conninfo import conninfo_to_dict

    from processor.db.diagnostics import probe_connection, server_identity, with_connect_timeout

    if embedded_dir is not None:
        where = f"embedded Postgres in {embedded_dir}"
        fix = f"stop whatever holds {embedded_dir}, or set DATABASE_URL to a running Postgres"
    else:
        params = conninfo_to_dict(url)
        where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
        fix = (
            "check DATABASE_URL (or --database-url): host, port, user, password and sslmode, "
            "and that the server is running"
        )
    try:
        with probe_connection(with_connect_timeout(url, CONNECT_TIMEOUT_SECONDS)) as conn:
            identity = server_identity(conn)
    except DatabaseUnavailableError as exc:
        return Check("database", "FAIL", exc.message, fix)
    version = identity.server_version.split()[0]
    return Check(
        "database",
        "OK",
        f"{where}, database {identity.database_name} as {identity.user_name}: PostgreSQL {version}",
    )


def check_migrations(url: str, *, migrate_fix: str = "vproc db migrate") -> Check:
    """Compare supabase/migrations with what the database recorded (a dry run: changes nothing)."""
    from processor.db.diagnostics import with_connect_timeout
    from processor.db.migrations import migrate

    report = migrate(with_connect_timeout(url, CONNECT_TIMEOUT_SECONDS), dry_run=True)
    total = len(report.already_applied) + len(report.pending)
    notes: list[str] = []
    fixes: list[str] = []
    if report.pending:
        first = report.pending[0].path.stem
        notes.append(f"{len(report.pending)} of {total} pending (first: {first})")
        if report.shim_needed:
            notes.append("the local Supabase stand-in is not installed")
        fixes.append(migrate_fix)
    if report.unknown_applied:
        shown = ", ".join(report.unknown_applied[:3])
        more = "…" if len(report.unknown_applied) > 3 else ""
        notes.append(
            f"{len(report.unknown_applied)} applied migration(s) unknown to this vproc "
            f"({shown}{more})"
        )
        fixes.append("upgrade vproc to the release that ships them")
    if notes:
        return Check("migrations", "WARN", "; ".join(notes), "; ".join(fixes))
    return Check("migrations", "OK", f"all {total} applied")


def check_target(url: str, *, migrate_fix: str = "vproc db migrate") -> Check:
    """Supabase, plain Postgres with the local stand-in, or plain Postgres without `auth`.

    The Supabase signal is a table only Supabase's own servers create (see TargetSignals).
    """
    from processor.db.diagnostics import probe_connection, target_signals, with_connect_timeout

    with probe_connection(with_connect_timeout(url, CONNECT_TIMEOUT_SECONDS)) as conn:
        signals = target_signals(conn)
    if not signals.has_auth_schema:
        return Check(
            "target",
            "FAIL",
            "plain Postgres without Supabase's auth schema (no auth.users, no storage)",
            f"{migrate_fix} (installs the local Supabase stand-in, then the migrations)",
        )
    if signals.is_supabase:
        found = "auth.schema_migrations" if signals.has_auth_migrations else "storage.migrations"
        return Check("target", "OK", f"Supabase ({found} present)")
    if not (signals.has_auth_users and signals.has_storage_objects):
        return Check(
            "target",
            "FAIL",
            "an auth schema without auth.users and storage.objects: neither Supabase nor "
            "the local stand-in",
            "point DATABASE_URL at a Supabase database, or at a database without an auth "
            f"schema and run {migrate_fix}",
        )
    return Check("target", "OK", "plain Postgres with the local Supabase stand-in (auth, storage)")


def check_role(url: str, *, migrate_fix: str = "vproc db migrate") -> Check:
    """Whether the connected user acts with vproc_processor's rights."""
    from processor.db.diagnostics import (
        probe_connection,
        processor_role_status,
        quoted_identifier,
        with_connect_timeout,
    )

    with probe_connection(with_connect_timeout(url, CONNECT_TIMEOUT_SECONDS)) as conn:
        role = processor_role_status(conn)
        quoted = quoted_identifier(conn, role.user_name)
    user = role.user_name
    grant = f"grant vproc_processor to {quoted};"
    if not role.role_exists:
        return Check(
            "role",
            "WARN",
            "role vproc_processor does not exist (the migrations create it)",
            migrate_fix,
        )
    if user == "vproc_processor":
        return Check("role", "OK", "connected as vproc_processor")
    if role.has_role_privileges and not role.is_superuser:
        return Check("role", "OK", f"{user} is a member of vproc_processor")
    if role.is_superuser:
        return Check("role", "OK", f"{user} is a superuser (a member of vproc_processor suffices)")
    if role.has_bypassrls:
        return Check("role", "OK", f"{user} bypasses RLS (a member of vproc_processor suffices)")
    if role.is_member:
        return Check(
            "role",
            "WARN",
            f"{user} is a member of vproc_processor but does not inherit its rights",
            f"as an admin: {grant[:-1]} with inherit true; (PostgreSQL 15 and older: "
            f"alter role {quoted} inherit;)",
        )
    return Check(
        "role",
        "WARN",
        f"{user} has no vproc_processor rights: queue calls will be refused",
        f"as an admin: {grant}",
    )


def check_listen(url: str, *, reachable: bool = True) -> Check:
    """LISTEN/NOTIFY: refused up front behind a transaction pooler, else a real round trip."""
    from processor.db.listener import listen_unsupported_reason

    reason = listen_unsupported_reason(url)
    if reason is not None:
        return Check(
            "listen",
            "WARN",
            f"{reason}: LISTEN cannot work there, so the worker polls (slower pickup)",
            "use the session pooler (port 5432) or the direct connection in DATABASE_URL",
        )
    if not reachable:
        return _not_checked("listen", "the database is unreachable")
    from processor.db.diagnostics import notify_round_trip_ms, with_connect_timeout

    elapsed_ms = notify_round_trip_ms(
        with_connect_timeout(url, CONNECT_TIMEOUT_SECONDS), timeout_seconds=LISTEN_TIMEOUT_SECONDS
    )
    if elapsed_ms is None:
        return Check(
            "listen",
            "WARN",
            f"no NOTIFY arrived within {LISTEN_TIMEOUT_SECONDS:g} s: the worker falls back "
            "to polling",
            "connect directly or through a session pooler (not a proxy that drops NOTIFY)",
        )
    return Check("listen", "OK", f"NOTIFY round trip in {elapsed_ms:.0f} ms")


# --- storage ------------------------------------------------------------------------------


def _storage_fix(settings: Settings) -> str:
    if settings.storage_backend == "supabase":
        return (
            "set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the service role key), and create "
            f"bucket {settings.artifacts_bucket} (vproc db migrate or supabase db push)"
        )
    if settings.storage_backend == "gcs":
        return (
            "set GCS_BUCKET_NAME and Google credentials (GOOGLE_APPLICATION_CREDENTIALS or "
            "gcloud auth application-default login) with write access to the bucket"
        )
    return (
        f"make {settings.effective_local_storage_path} writable by this user, or set "
        "LOCAL_STORAGE_PATH to a writable directory"
    )


def _storage_place(settings: Settings) -> str:
    if settings.storage_backend == "local":
        return f"local {settings.effective_local_storage_path}"
    if settings.storage_backend == "gcs":
        return f"gcs {settings.gcs_bucket_name}"
    return f"supabase {settings.supabase_url}"


def check_storage(services: Services) -> Check:
    """Put a probe object in the artifacts bucket, find it, read it back byte for byte."""
    settings = services.settings
    fix = _storage_fix(settings)
    place = _storage_place(settings)
    try:
        storage = services.storage
    except ConfigurationError as exc:
        return Check("storage", "FAIL", exc.message, fix)
    bucket = settings.artifacts_bucket
    key = f"{PROBE_PREFIX}/probe-{uuid.uuid4().hex[:12]}.txt"
    content = f"vproc doctor probe {uuid.uuid4()}\n".encode()
    with tempfile.TemporaryDirectory(prefix="vproc-doctor-") as scratch:
        sent, received = Path(scratch) / "sent.txt", Path(scratch) / "received.txt"
        sent.write_bytes(content)
        started = time.perf_counter()
        try:
            storage.put_file(bucket, key, sent, "text/plain")
            if not storage.exists(bucket, key):
                return Check(
                    "storage", "FAIL", f"{place}: wrote {bucket}/{key} but cannot find it", fix
                )
            storage.download_to(bucket, key, received)
        except VprocError as exc:
            return Check("storage", "FAIL", f"{place}: {exc.message}", fix)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if received.read_bytes() != content:
            return Check(
                "storage", "FAIL", f"{place}: {bucket}/{key} read back different bytes", fix
            )
    left = _remove_probe(storage, bucket, key)
    return Check(
        "storage",
        "OK",
        f"{place}: wrote and read back {bucket}/{key} ({elapsed_ms:.0f} ms); {left}",
    )


def _remove_probe(storage: Any, bucket: str, key: str) -> str:
    """Delete the probe; say what became of it."""
    try:
        storage.delete_objects(bucket, [key])
    except VprocError as exc:
        return f"left in place: delete failed ({exc.message})"
    return "removed"


# --- AI adapters (each checks itself; the doctor only names the row) ---------------------


def _row(name: str, health: Health) -> Check:
    return Check(name, health.status, health.detail, health.fix)


def check_speech_model(settings: Settings) -> Check:
    """Build the transcriber TRANSCRIBER names and load its model, timing the load."""
    return _row("speech_model", speech_model_health(settings))


def check_multilingual_model(settings: Settings) -> Check:
    """The multilingual model whisper detects languages with (joined from its packages)."""
    return _row("multilingual_model", multilingual_model_health(settings))


def check_gemini(settings: Settings) -> Check:
    """Validate GEMINI_API_KEY and GEMINI_MODEL with one cheap call, if a key is set."""
    return _row("gemini", gemini_health(settings))


# --- output -------------------------------------------------------------------------------


def render(checks: Sequence[Check]) -> None:
    """A table of the checks (fixes under their detail) and a one-line summary."""
    from rich.table import Table
    from rich.text import Text

    from processor.commands.output import out

    table = Table("check", "status", "detail", title="vproc doctor", title_justify="left")
    for check in checks:
        detail = Text(check.detail)
        if check.fix:
            detail.append("\nfix: ", style="bold")
            detail.append(check.fix, style="cyan")
        table.add_row(check.name, Text(check.status, style=STATUS_STYLE[check.status]), detail)
    out.print(table)
    counts = _counts(checks)
    if counts["FAIL"] or counts["WARN"]:
        out.print(
            f"[red]{counts['FAIL']} failed[/], [yellow]{counts['WARN']} warning(s)[/], "
            f"[green]{counts['OK']} ok[/]"
        )
    else:
        out.print(f"[green]all {counts['OK']} checks passed[/]")


def _counts(checks: Sequence[Check]) -> dict[str, int]:
    counts = {"OK": 0, "WARN": 0, "FAIL": 0}
    for check in checks:
        counts[check.status] += 1
    return counts


def doctor_command(
    services: Services | None,
    *,
    as_json: bool,
    settings_error: ValidationError | None = None,
) -> int:
    """Run the checks and print them; return the exit code (1 when any check FAILed, else 0)."""
    from processor.commands.output import err, print_json

    if as_json:
        checks = run_checks(services, settings_error=settings_error)
        counts = _counts(checks)
        print_json({"ok": counts["FAIL"] == 0, "counts": counts, "checks": checks})
    else:
        with err.status("checking…") as status:
            checks = run_checks(
                services,
                settings_error=settings_error,
                on_start=lambda name: status.update(f"checking {name}…"),
            )
        render(checks)
    return 1 if any(check.status == "FAIL" for check in checks) else 0


def doctor_from_environment(database_url: str | None, *, as_json: bool) -> int:
    """Load Settings from the environment and `.env`, then run doctor_command.

    A Settings validation error becomes the settings row (FAIL) instead of an exception.
    """
    from pydantic import ValidationError

    from processor.config import Settings
    from processor.services import Services

    try:
        settings = Settings()
    except ValidationError as exc:
        return doctor_command(None, as_json=as_json, settings_error=exc)
    services = Services(settings=settings, database_url_override=database_url)
    try:
        return doctor_command(services, as_json=as_json)
    finally:
        services.close()
