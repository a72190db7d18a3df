"""`vproc demo`: the whole product on this machine, with no keys and no servers to set up.

Starts (or reuses) the embedded Postgres, migrates it, creates a demo user, uploads a sample
video to the local store, inserts its row as that user through RLS (as supabase-js would),
runs a worker in-process until the job ends and prints what came out.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from processor.commands.output import (
    err,
    metadata_facts,
    out,
    print_json,
    progress_bar,
    status_text,
    subtitle_keys,
)
from processor.commands.submit import submit_file
from processor.db import queries
from processor.db.embedded import stop_embedded
from processor.db.migrations import migrate
from processor.errors import ConfigurationError
from processor.pipeline.entries import stage_entries
from processor.queue.assembly import build_worker
from processor.queue.worker import WorkerOptions
from processor.services import Services
from processor.status import TERMINAL_STATUSES, JobStatus

DEMO_USER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://vproc.dev/demo-user")
DEMO_EMAIL = "demo@vproc.local"


def sample_video() -> Path:
    """The bundled sample: 49 s of synthetic speech about what vproc does."""
    return Path(str(resources.files("processor.demo") / "sample.mp4"))


@dataclass
class DemoResult:
    job_id: int
    status: str
    seconds: float
    job: queries.JobDetail
    metadata: queries.MetadataRow | None
    artifacts: dict[str, str] = field(default_factory=dict)
    first_cues: list[str] = field(default_factory=list)


def reset_demo(services: Services) -> None:
    """Stop the embedded Postgres and delete its data and the local store."""
    settings = services.settings
    if settings.database_url is not None or services.database_url_override:
        raise ConfigurationError("--reset only resets the embedded database; unset DATABASE_URL")
    stop_embedded(settings.embedded_pgdata)
    for path in (settings.embedded_pgdata, settings.effective_local_storage_path):
        shutil.rmtree(path, ignore_errors=True)


def run_demo(
    services: Services, *, file: Path | None, reset: bool, as_json: bool, quiet: bool
) -> int:
    """Run the demo; return the exit code (0 when the job COMPLETED)."""
    settings = services.settings
    if settings.storage_backend != "local":
        raise ConfigurationError("the demo uses the local store: unset STORAGE_BACKEND")
    chatty = not (as_json or quiet)

    def step(message: str) -> None:
        if chatty:
            err.print(f"[cyan]▸[/] {message}")

    started = time.monotonic()
    if reset:
        step(f"resetting {settings.vproc_data_dir}")
        reset_demo(services)
    source = file or sample_video()
    if not source.is_file():
        raise ConfigurationError(f"{source}: no such file")

    embedded = settings.database_url is None and not services.database_url_override
    step(
        "starting the embedded Postgres in " + str(settings.embedded_pgdata)
        if embedded
        else "connecting to the database"
    )
    report = migrate(services.database_url)
    if report.applied:
        step(
            f"applied {len(report.applied)} migration(s)"
            + (" and the local Supabase stand-in" if report.shim_installed else "")
        )
    else:
        step("database up to date")

    db = services.database(application_name="vproc-demo", max_size=4)
    with db.connection() as conn:
        queries.ensure_user(conn, user_id=DEMO_USER_ID, email=DEMO_EMAIL)
    step(
        f"uploading {source.name} ({source.stat().st_size:,} bytes) as {DEMO_EMAIL}, "
        "inserting its row through RLS"
    )
    submitted = submit_file(services, source, user_id=DEMO_USER_ID)
    with db.connection() as conn:
        queries.prioritize_job(conn, job_id=submitted.job_id, priority=1_000)

    step(
        "loading the pipeline (faster-whisper "
        f"{settings.whisper_model or 'tiny.en, bundled'}; metadata: "
        f"{settings.effective_ai_provider})"
    )
    worker = build_worker(
        services,
        WorkerOptions(
            worker_id=f"vproc-demo-{uuid.uuid4().hex[:6]}",
            concurrency=1,
            lease_seconds=settings.job_lease_seconds,
            max_attempts=settings.job_max_attempts,
            poll_interval=0.5,
            shutdown_timeout=5.0,
        ),
        db=db,
    )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker.run()
        except BaseException as exc:  # surfaced after the loop  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=work, name="vproc-demo-worker", daemon=True)
    thread.start()
    try:
        job = _follow(db, submitted.job_id, chatty=chatty, worker_thread=thread)
    finally:
        worker.stop()
        thread.join(30)
    if errors:
        raise errors[0]

    with db.connection() as conn:
        detail = queries.get_job(conn, job_id=submitted.job_id)
        metadata = queries.get_metadata(conn, job_id=submitted.job_id)
    assert detail is not None
    result = DemoResult(
        job_id=job,
        status=detail.status,
        seconds=time.monotonic() - started,
        job=detail,
        metadata=metadata,
    )
    _collect_artifacts(services, result)
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "status": result.status,
                "seconds": round(result.seconds, 2),
                "job": result.job,
                "metadata": result.metadata,
                "artifacts": result.artifacts,
                "first_cues": result.first_cues,
            }
        )
    else:
        _print_result(result)
    return 0 if result.status == JobStatus.COMPLETED else 1


def _follow(db: Any, job_id: int, *, chatty: bool, worker_thread: threading.Thread) -> int:
    """Poll the job until it ends, drawing its stages live; return the job id."""
    from processor.pipeline.registry import STAGES

    names = [s.name for s in STAGES]
    live = Live(console=out, refresh_per_second=8, transient=True) if chatty else None
    if live is not None:
        live.start()
    try:
        while True:
            with db.connection() as conn:
                job = queries.get_job(conn, job_id=job_id)
            assert job is not None
            if live is not None:
                live.update(_progress_view(job, names))
            if job.status in TERMINAL_STATUSES or not worker_thread.is_alive():
                return job_id
            time.sleep(0.2)
    finally:
        if live is not None:
            live.stop()


def _progress_view(job: queries.JobDetail, names: list[str]) -> Group:
    table = Table("stage", "status", "time", "detail", box=None, padding=(0, 2))
    stages = stage_entries(job.processing_stages)
    for name in names:
        entry = stages.get(name)
        status: str = entry.status if entry is not None else ""
        if not status and job.current_stage == name:
            status = "running"
        mark = {
            "completed": "[green]✓ done[/]",
            "running": "[cyan]… running[/]",
            "skipped": "[yellow]– skipped[/]",
            "failed": "[red]✗ failed[/]",
        }.get(status, "[dim]waiting[/]")
        duration = entry.duration_ms if entry is not None else None
        detail = entry.detail if entry is not None else None
        table.add_row(name, mark, f"{duration / 1000:.1f}s" if duration else "", _brief(detail))
    head = f"job {job.id}  {status_text(job.status)}  {progress_bar(job.progress)}"
    return Group(head, table)


def _brief(detail: Any) -> str:
    if not isinstance(detail, dict):
        return ""
    keep = (
        "duration_seconds",
        "resolution",
        "format_name",
        "language",
        "segments",
        "cues",
        "width",
        "height",
        "skipped",
    )
    parts = [f"{k}={detail[k]}" for k in keep if k in detail]
    return ", ".join(parts)[:60]


def _collect_artifacts(services: Services, result: DemoResult) -> None:
    meta = result.metadata
    if meta is None:
        return
    root = services.settings.effective_local_storage_path / services.settings.artifacts_bucket
    keys = {"transcript": meta.transcript_file_url, "thumbnail": meta.thumbnail_file_url}
    keys.update({f"subtitles ({k})": v for k, v in subtitle_keys(meta.subtitle_files_urls).items()})
    result.artifacts = {name: str(root / key) for name, key in keys.items() if key}
    vtt = (meta.subtitle_files_urls or {}).get("vtt")
    if vtt and (root / vtt).is_file():
        import pysubs2

        subs = pysubs2.load(str(root / vtt), encoding="utf-8")
        result.first_cues = [
            f"{e.start / 1000:6.2f}s  {e.plaintext.replace(chr(10), ' / ')}" for e in subs[:4]
        ]


def _print_result(result: DemoResult) -> None:
    job, meta = result.job, result.metadata
    if result.status != JobStatus.COMPLETED or meta is None:
        out.print(
            Panel(
                f"{status_text(result.status)}  {job.error_code or ''}: {job.error_message or ''}",
                title=f"job {job.id}",
            )
        )
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in metadata_facts(meta):
        grid.add_row(f"[bold]{label}[/]", value)
    grid.add_row("[bold]description[/]", _excerpt(meta.description, 300))
    grid.add_row("[bold]show notes[/]", _excerpt(meta.show_notes_text, 300))
    grid.add_row("[bold]transcript[/]", _excerpt(meta.transcript_text, 300))
    if result.first_cues:
        grid.add_row("[bold]subtitles[/]", "\n".join(result.first_cues))
    for name, path in result.artifacts.items():
        grid.add_row(f"[bold]{name}[/]", path)
    from processor.pipeline.registry import STAGES

    stages = stage_entries(job.processing_stages)
    timings = ", ".join(
        f"{s.name} {(stages[s.name].duration_ms or 0) / 1000:.1f}s"
        for s in STAGES
        if s.name in stages
    )
    grid.add_row("[bold]stages[/]", timings)
    out.print(
        Panel(
            grid,
            title=f"job {job.id} {status_text(job.status)}",
            subtitle=f"done in {result.seconds:.1f} s",
        )
    )
    out.print(
        "Next: [bold]vproc show "
        f"{job.id}[/], [bold]vproc jobs[/], or process your own video with "
        "[bold]vproc demo --file PATH[/]."
    )


def _excerpt(text: str | None, limit: int) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + " …"
