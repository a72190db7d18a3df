"""Typed access to the named queries in queries.sql: one function per query.

Each function takes an open connection and returns frozen dataclasses or scalars. Query text
is parsed once, at import, from queries.sql; no SQL lives in Python modules.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from importlib import resources
from typing import Any, TypedDict, TypeVar

import psycopg
from psycopg.rows import class_row, scalar_row
from psycopg.types.json import Jsonb

_BLOCK = re.compile(
    r"^-- name: (?P<name>\w+)\n-- purpose: (?P<purpose>[^\n]+)\n(?P<sql>.*?)(?=^-- name:|\Z)",
    re.S | re.M,
)


def load_queries(text: str) -> dict[str, str]:
    """Parse `-- name:` blocks into {name: statement}; every block needs a purpose line."""
    queries = {m["name"]: m["sql"].strip().rstrip(";") for m in _BLOCK.finditer(text)}
    declared = re.findall(r"^-- name: (\w+)", text, re.M)
    if sorted(declared) != sorted(queries):
        raise ValueError("every `-- name:` block needs a `-- purpose:` line right after it")
    return queries


QUERIES = load_queries((resources.files("processor.db") / "queries.sql").read_text("utf-8"))


@dataclass(frozen=True)
class JobRow:
    """The columns every row about a job carries."""

    id: int
    video_id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    priority: int
    attempts: int
    max_attempts: int


@dataclass(frozen=True)
class ClaimedJob(JobRow):
    cancel_requested: bool
    processing_stages: dict[str, Any] | None  # None: no stage recorded yet
    claim_token: uuid.UUID
    storage_path: str
    original_filename: str | None
    content_type: str | None
    size_bytes: int | None


@dataclass(frozen=True)
class JobSummary(JobRow):
    current_stage: str | None
    progress: float
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    original_filename: str | None


@dataclass(frozen=True)
class JobDetail(JobSummary):
    """A JobSummary plus the lease, the retry schedule, the stages and the upload."""

    retries: int
    run_after: datetime
    locked_by: str | None
    locked_until: datetime | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    processing_stages: dict[str, Any]
    storage_path: str
    content_type: str | None
    size_bytes: int | None

    def summary(self) -> JobSummary:
        """The JobSummary columns of this row (what `vproc jobs` and `watch` show)."""
        return JobSummary(**{f.name: getattr(self, f.name) for f in fields(JobSummary)})


@dataclass(frozen=True)
class MetadataRow:
    title: str | None
    description: str | None
    tags: list[str]
    transcript_text: str | None
    transcript_file_url: str | None
    subtitle_files_urls: dict[str, Any]  # {"vtt", "srt"} plus {"en": {"vtt", "srt"}}
    thumbnail_file_url: str | None
    extracted_video_duration_seconds: float | None
    extracted_video_resolution: str | None
    extracted_video_format: str | None
    show_notes_text: str | None
    language: str | None
    language_probability: float | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Reaped:
    job_id: int
    status: str


@dataclass(frozen=True)
class CleanupItem:
    id: int
    bucket_role: str
    object_path: str
    attempts: int


@dataclass(frozen=True)
class StatusCount:
    status: str
    jobs: int


@dataclass(frozen=True)
class RpcJob:
    id: int
    status: str
    cancel_requested: bool = False


_T = TypeVar("_T")


def _scalar(conn: psycopg.Connection, name: str, params: Mapping[str, Any]) -> Any:
    cur: psycopg.Cursor[Any] = conn.cursor(row_factory=scalar_row)
    return cur.execute(QUERIES[name], params).fetchone()


def _scalar_of(
    conn: psycopg.Connection, name: str, params: Mapping[str, Any], kind: type[_T]
) -> _T | None:
    """The query's single value, checked to be a `kind` (or NULL)."""
    value = _scalar(conn, name, params)
    if value is None or isinstance(value, kind):
        return value
    raise TypeError(f"query {name} returned {type(value).__name__}, expected {kind.__name__}")


def _rows(
    conn: psycopg.Connection, name: str, cls: type[_T], params: Mapping[str, Any]
) -> list[_T]:
    cur: psycopg.Cursor[_T] = conn.cursor(row_factory=class_row(cls))
    return cur.execute(QUERIES[name], params).fetchall()


class Fence(TypedDict):
    """What every write after a claim names: the job and the claim token that must still hold."""

    job_id: int
    claim_token: uuid.UUID


def fence(job_id: int, claim_token: uuid.UUID) -> Fence:
    return {"job_id": job_id, "claim_token": claim_token}


# --- queue ------------------------------------------------------------------------------------


def claim_jobs(
    conn: psycopg.Connection,
    *,
    worker_id: str,
    batch_size: int,
    lease_seconds: int,
    max_attempts: int | None,
) -> list[ClaimedJob]:
    return _rows(
        conn,
        "claim_jobs",
        ClaimedJob,
        {
            "worker_id": worker_id,
            "batch_size": batch_size,
            "lease_seconds": lease_seconds,
            "max_attempts": max_attempts,
        },
    )


def heartbeat(
    conn: psycopg.Connection, *, job_id: int, claim_token: uuid.UUID, lease_seconds: int
) -> bool | None:
    """cancel_requested, or None when the claim is lost."""
    return _scalar_of(
        conn,
        "heartbeat",
        {**fence(job_id, claim_token), "lease_seconds": lease_seconds},
        bool,
    )


def record_progress(
    conn: psycopg.Connection,
    *,
    job_id: int,
    claim_token: uuid.UUID,
    current_stage: str | None,
    progress: float,
    stages: Mapping[str, Any],
) -> bool:
    return bool(
        _scalar(
            conn,
            "record_progress",
            {
                **fence(job_id, claim_token),
                "current_stage": current_stage,
                "progress": progress,
                "stages": Jsonb(dict(stages)),
            },
        )
    )


def save_metadata(
    conn: psycopg.Connection,
    *,
    job_id: int,
    claim_token: uuid.UUID,
    metadata: Mapping[str, Any],
) -> bool:
    return bool(
        _scalar(
            conn,
            "save_metadata",
            {**fence(job_id, claim_token), "metadata": Jsonb(dict(metadata))},
        )
    )


def complete_job(
    conn: psycopg.Connection,
    *,
    job_id: int,
    claim_token: uuid.UUID,
    metadata: Mapping[str, Any] | None,
) -> bool:
    return bool(
        _scalar(
            conn,
            "complete_job",
            {
                **fence(job_id, claim_token),
                "metadata": None if metadata is None else Jsonb(dict(metadata)),
            },
        )
    )


def complete_jobs(
    conn: psycopg.Connection,
    *,
    jobs: list[tuple[int, uuid.UUID, Mapping[str, Any] | None]],
) -> set[int]:
    """Complete (job_id, claim_token, metadata) triples; return the ids whose claim held."""
    payload = [{"job_id": j, "claim_token": str(t), "metadata": m} for j, t, m in jobs]
    cur = conn.cursor(row_factory=scalar_row)
    rows = cur.execute(QUERIES["complete_jobs"], {"jobs": Jsonb(payload)})
    return set(rows.fetchall())


def fail_job(
    conn: psycopg.Connection,
    *,
    job_id: int,
    claim_token: uuid.UUID,
    error_code: str,
    error_message: str,
    retryable: bool,
    retry_after_seconds: int | None = None,
) -> str | None:
    """The new status (PENDING or FAILED), or None when the claim is lost."""
    return _scalar_of(
        conn,
        "fail_job",
        {
            **fence(job_id, claim_token),
            "error_code": error_code,
            "error_message": error_message,
            "retryable": retryable,
            "retry_after_seconds": retry_after_seconds,
        },
        str,
    )


def release_job(conn: psycopg.Connection, *, job_id: int, claim_token: uuid.UUID) -> bool:
    return bool(_scalar(conn, "release_job", fence(job_id, claim_token)))


def cancel_job(conn: psycopg.Connection, *, job_id: int, claim_token: uuid.UUID) -> bool:
    return bool(_scalar(conn, "cancel_job", fence(job_id, claim_token)))


def reap_expired_leases(conn: psycopg.Connection) -> list[Reaped]:
    return _rows(conn, "reap_expired_leases", Reaped, {})


def claim_storage_cleanup(conn: psycopg.Connection, *, limit: int) -> list[CleanupItem]:
    return _rows(conn, "claim_storage_cleanup", CleanupItem, {"limit": limit})


def finish_storage_cleanup(conn: psycopg.Connection, *, cleanup_id: int) -> bool:
    return bool(_scalar(conn, "finish_storage_cleanup", {"cleanup_id": cleanup_id}))


def queue_depth(conn: psycopg.Connection) -> dict[str, int]:
    return {r.status: r.jobs for r in _rows(conn, "queue_depth", StatusCount, {})}


# --- CLI --------------------------------------------------------------------------------------


def list_jobs(conn: psycopg.Connection, *, status: str | None, limit: int) -> list[JobSummary]:
    return _rows(conn, "list_jobs", JobSummary, {"status": status, "limit": limit})


def get_job(conn: psycopg.Connection, *, job_id: int) -> JobDetail | None:
    rows = _rows(conn, "get_job", JobDetail, {"job_id": job_id})
    return rows[0] if rows else None


def get_metadata(conn: psycopg.Connection, *, job_id: int) -> MetadataRow | None:
    rows = _rows(conn, "get_metadata", MetadataRow, {"job_id": job_id})
    return rows[0] if rows else None


def job_owner(conn: psycopg.Connection, *, job_id: int) -> uuid.UUID | None:
    return _scalar_of(conn, "job_owner", {"job_id": job_id}, uuid.UUID)


def user_exists(conn: psycopg.Connection, *, user_id: uuid.UUID) -> bool:
    return bool(_scalar(conn, "user_exists", {"user_id": user_id}))


def ensure_user(conn: psycopg.Connection, *, user_id: uuid.UUID, email: str) -> None:
    conn.execute(QUERIES["ensure_user"], {"user_id": user_id, "email": email})


def prioritize_job(conn: psycopg.Connection, *, job_id: int, priority: int) -> None:
    conn.execute(QUERIES["prioritize_job"], {"job_id": job_id, "priority": priority})


def act_as_user(conn: psycopg.Connection, *, user_id: uuid.UUID) -> None:
    """Inside the current transaction, become `user_id` as PostgREST would (role + JWT claims)."""
    claims = {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}
    conn.execute(QUERIES["act_as_user"], {"claims": json.dumps(claims)})


def insert_video(
    conn: psycopg.Connection,
    *,
    video_id: uuid.UUID,
    original_filename: str | None,
    storage_path: str,
    content_type: str | None,
    size_bytes: int | None,
) -> uuid.UUID:
    inserted = _scalar_of(
        conn,
        "insert_video",
        {
            "video_id": video_id,
            "original_filename": original_filename,
            "storage_path": storage_path,
            "content_type": content_type,
            "size_bytes": size_bytes,
        },
        uuid.UUID,
    )
    if inserted is None:
        raise RuntimeError("insert_video returned no id")
    return inserted


def job_for_video(conn: psycopg.Connection, *, video_id: uuid.UUID) -> int | None:
    return _scalar_of(conn, "job_for_video", {"video_id": video_id}, int)


def retry_video_job(conn: psycopg.Connection, *, job_id: int) -> RpcJob:
    return _rows(conn, "retry_video_job", RpcJob, {"job_id": job_id})[0]


def cancel_video_job(conn: psycopg.Connection, *, job_id: int) -> RpcJob:
    return _rows(conn, "cancel_video_job", RpcJob, {"job_id": job_id})[0]


# --- quotas ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaRow:
    user_id: uuid.UUID | None
    max_active_jobs: int | None
    max_videos_per_day: int | None
    max_bytes_per_day: int | None
    max_retries_per_job: int | None
    updated_at: datetime


@dataclass(frozen=True)
class EffectiveQuota(QuotaRow):
    active_jobs: int
    videos_today: int
    bytes_today: int


QUOTA_LIMITS = ("max_active_jobs", "max_videos_per_day", "max_bytes_per_day", "max_retries_per_job")


def list_quotas(conn: psycopg.Connection) -> list[QuotaRow]:
    return _rows(conn, "list_quotas", QuotaRow, {})


def effective_quota(conn: psycopg.Connection, *, user_id: uuid.UUID) -> EffectiveQuota | None:
    rows = _rows(conn, "effective_quota", EffectiveQuota, {"user_id": user_id})
    return rows[0] if rows and rows[0].updated_at is not None else None


def set_quota(
    conn: psycopg.Connection, *, user_id: uuid.UUID | None, limits: Mapping[str, int | None]
) -> QuotaRow:
    """Change the limits named in `limits` (None: unlimited); others keep their value.

    A new per-user row starts as a copy of the defaults row.
    """
    unknown = set(limits) - set(QUOTA_LIMITS)
    if unknown:
        raise ValueError(f"unknown quota limits: {sorted(unknown)}")
    params: dict[str, Any] = {"user_id": user_id}
    for name, flag in zip(
        QUOTA_LIMITS, ("set_active", "set_videos", "set_bytes", "set_retries"), strict=True
    ):
        params[flag] = name in limits
        params[name] = limits.get(name)
    return _rows(conn, "set_quota", QuotaRow, params)[0]


def clear_quota(conn: psycopg.Connection, *, user_id: uuid.UUID) -> bool:
    return bool(_scalar(conn, "clear_quota", {"user_id": user_id}))


# --- AI response cache ----------------------------------------------------------------------


def get_ai_cache_entry(conn: psycopg.Connection, *, cache_key: str) -> Any:
    """The unexpired cached response (a JSON value), or None."""
    return _scalar(conn, "get_ai_cache_entry", {"cache_key": cache_key})


def put_ai_cache_entry(
    conn: psycopg.Connection,
    *,
    cache_key: str,
    kind: str,
    provider: str,
    model: str,
    prompt_version: str,
    response: Mapping[str, Any],
    ttl_seconds: int,
) -> None:
    conn.execute(
        QUERIES["put_ai_cache_entry"],
        {
            "cache_key": cache_key,
            "kind": kind,
            "provider": provider,
            "model": model,
            "prompt_version": prompt_version,
            "response": Jsonb(dict(response)),
            "ttl_seconds": ttl_seconds,
        },
    )


def purge_expired_ai_cache(conn: psycopg.Connection) -> int:
    return int(_scalar(conn, "purge_expired_ai_cache", {}) or 0)
