"""`vproc jobs`, `vproc show`, `vproc retry`, `vproc cancel`: the operator's view of the queue.

retry and cancel act as the job's owner through the same RPCs a frontend calls, so the same
rules apply (only FAILED/CANCELLED jobs are retried, and so on).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from processor.commands.output import (
    ago,
    jobs_table,
    metadata_facts,
    out,
    print_json,
    progress_bar,
    status_text,
    subtitle_keys,
)
from processor.db import queries
from processor.errors import NotFoundError
from processor.pipeline.entries import StageEntry
from processor.services import Services
from processor.status import JobStatus


def list_jobs(services: Services, *, status: str | None, limit: int, as_json: bool) -> None:
    db = services.database(application_name="vproc-cli")
    with db.connection() as conn:
        jobs = queries.list_jobs(conn, status=status, limit=limit)
    if as_json:
        print_json({"jobs": jobs})
        return
    if not jobs:
        out.print("no jobs" + (f" with status {status}" if status else ""))
        return
    out.print(jobs_table(jobs, datetime.now(UTC), bar_width=10, error_messages=False))


def load_job(
    services: Services, job_id: int
) -> tuple[queries.JobDetail, queries.MetadataRow | None]:
    db = services.database(application_name="vproc-cli")
    with db.connection() as conn:
        job = queries.get_job(conn, job_id=job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found")
        return job, queries.get_metadata(conn, job_id=job_id)


def show_job(services: Services, job_id: int, *, as_json: bool) -> None:
    job, metadata = load_job(services, job_id)
    if as_json:
        print_json({"job": job, "metadata": metadata})
        return
    now = datetime.now(UTC)
    head = Table.grid(padding=(0, 2))
    head.add_row("job", f"{job.id}  {status_text(job.status)}")
    head.add_row("video", f"{job.original_filename or '-'}  ({job.storage_path})")
    head.add_row("owner", str(job.owner_id))
    head.add_row("progress", f"{progress_bar(job.progress)}  {job.current_stage or ''}")
    head.add_row("attempts", f"{job.attempts}/{job.max_attempts}, retried {job.retries}×")
    head.add_row("created", f"{job.created_at:%Y-%m-%d %H:%M:%S}  ({ago(job.created_at, now)})")
    if job.locked_by:
        head.add_row("worker", f"{job.locked_by} (lease until {job.locked_until:%H:%M:%S})")
    if job.status == JobStatus.PENDING and job.run_after > now:
        head.add_row("next try", f"{job.run_after:%H:%M:%S}")
    if job.cancel_requested:
        head.add_row("cancel", "requested")
    if job.error_code:
        head.add_row("error", f"[red]{job.error_code}[/]: {job.error_message or ''}")
    out.print(head)
    if job.processing_stages:
        stages = Table("stage", "status", "duration", "detail")
        for name, value in in_pipeline_order(job.processing_stages):
            entry = StageEntry.from_json(value)
            if entry is None:  # not an entry the runner writes: show what is stored
                stages.add_row(name, str(value), "-", "")
                continue
            duration = entry.duration_ms
            detail = _short(entry.detail)
            if entry.reused:
                detail = f"(reused) {detail}"
            stages.add_row(
                name,
                entry.status,
                f"{duration / 1000:.2f}s" if duration is not None else "-",
                detail,
            )
        out.print(stages)
    if metadata is not None:
        meta = Table.grid(padding=(0, 2))
        for label, value in metadata_facts(metadata):
            meta.add_row(label, value)
        meta.add_row("language", metadata.language or "-")
        for label, key in (
            ("transcript", metadata.transcript_file_url),
            ("thumbnail", metadata.thumbnail_file_url),
        ):
            if key:
                meta.add_row(label, key)
        for kind, key in sorted(subtitle_keys(metadata.subtitle_files_urls).items()):
            meta.add_row(kind, key)
        out.print(meta)


def in_pipeline_order(stages: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """`processing_stages` entries in the order the pipeline runs them, unknown names last.

    jsonb keeps keys sorted by length, not in insertion order, so the stored order means nothing.
    """
    from processor.pipeline.registry import STAGES

    rank = {stage.name: index for index, stage in enumerate(STAGES)}
    return sorted(stages.items(), key=lambda item: rank.get(item[0], len(rank)))


def _short(detail: Any, limit: int = 60) -> str:
    if not detail:
        return ""
    text = (
        ", ".join(f"{k}={v}" for k, v in detail.items())
        if isinstance(detail, dict)
        else str(detail)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def act_on_job(services: Services, job_id: int, *, action: str, as_json: bool) -> None:
    """Run the client RPC `retry_video_job`/`cancel_video_job` as the job's owner."""
    db = services.database(application_name="vproc-cli")
    with db.transaction() as conn:
        owner = queries.job_owner(conn, job_id=job_id)
        if owner is None:
            raise NotFoundError(f"job {job_id} not found")
        queries.act_as_user(conn, user_id=owner)
        if action == "retry":
            result = queries.retry_video_job(conn, job_id=job_id)
        else:
            result = queries.cancel_video_job(conn, job_id=job_id)
    if as_json:
        print_json({"job": result})
        return
    if action == "cancel" and result.status == JobStatus.PROCESSING:
        out.print(f"job {job_id}: cancellation requested; the worker stops it at its next check")
    else:
        out.print(f"job {job_id}: {status_text(result.status)}")
