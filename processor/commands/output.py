"""Shared CLI output: the consoles, JSON documents and small formatting rules."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from processor.status import JobStatus

if TYPE_CHECKING:
    from processor.db.queries import JobSummary, MetadataRow

out = Console()
err = Console(stderr=True, soft_wrap=True)

STATUS_STYLE: dict[str, str] = {
    JobStatus.PENDING: "yellow",
    JobStatus.PROCESSING: "cyan",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
}


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and UUIDs as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def print_json(doc: Any) -> None:
    """Write one JSON document to stdout (nothing else goes to stdout with --json)."""
    sys.stdout.write(json.dumps(to_jsonable(doc), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def progress_bar(progress: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, progress)) * width)
    return "█" * filled + "░" * (width - filled) + f" {progress * 100:5.1f}%"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def subtitle_keys(urls: Mapping[str, Any] | None) -> dict[str, str]:
    """`subtitle_files_urls` flattened for display: `vtt`, `srt`, `en.vtt`, `en.srt`, …"""
    flat: dict[str, str] = {}
    for name, value in (urls or {}).items():
        if isinstance(value, Mapping):
            flat.update({f"{name}.{fmt}": str(key) for fmt, key in value.items()})
        elif value:
            flat[name] = str(value)
    return flat


def jobs_table(
    jobs: list[JobSummary],
    now: datetime,
    *,
    bar_width: int,
    error_messages: bool,
    title: str | None = None,
) -> Table:
    """The job list `vproc jobs` prints and `vproc watch` redraws: one row a job."""
    table = Table(
        "job", "status", "stage", "progress", "attempts", "file", "updated", "error", title=title
    )
    for j in jobs:
        error = j.error_code or ""
        if error and error_messages:
            error = f"{j.error_code}: {j.error_message}"
        table.add_row(
            str(j.id),
            status_text(j.status),
            j.current_stage or "-",
            progress_bar(j.progress, bar_width),
            f"{j.attempts}/{j.max_attempts}",
            j.original_filename or "-",
            ago(j.updated_at, now),
            error,
        )
    return table


def metadata_facts(meta: MetadataRow) -> list[tuple[str, str]]:
    """The first lines `vproc show` and the demo print about a result: title, tags, duration,
    resolution and format, as (label, value)."""
    facts = [("title", meta.title or "-"), ("tags", ", ".join(meta.tags) or "-")]
    if meta.extracted_video_duration_seconds is not None:
        facts.append(("duration", f"{meta.extracted_video_duration_seconds:.1f}s"))
    facts.append(("resolution", meta.extracted_video_resolution or "-"))
    facts.append(("format", meta.extracted_video_format or "-"))
    return facts
