"""A job's status: the values of `public.video_jobs.status`, and which of them are final.

The queue migration's state machine is the source: PENDING → PROCESSING → COMPLETED | FAILED
| CANCELLED. A leaf module: everything that spells a status imports it from here.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's status; members compare equal to the strings the database stores."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


# A job in one of these states never changes again (short of `retry`, which makes it PENDING).
TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)

# The ends a watcher reports as failures (exit 1).
UNSUCCESSFUL_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
