"""What the worker hands a pipeline, and what a pipeline gives back.

The worker (processor.queue) implements JobControl on top of the fenced queue functions; the
local `vproc process` command implements it in memory. Pipelines run in a worker thread and
never touch the database or the queue directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class JobInfo:
    """The claimed job and its video, as a pipeline needs them."""

    job_id: int
    video_id: uuid.UUID
    owner_id: uuid.UUID
    attempt: int
    storage_path: str
    original_filename: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None


class JobControl(Protocol):
    """The pipeline's handle on its job: progress, checkpoints, and when to stop."""

    @property
    def stages(self) -> Mapping[str, Any]:
        """`processing_stages` as they were when the job was claimed (for resuming)."""
        ...

    def raise_if_interrupted(self) -> None:
        """Raise JobCancelledError, LeaseLostError or ShutdownRequestedError if the job must stop.

        Call it between units of work (chunks, segments, frames): it only reads in-memory flags.
        """
        ...

    def report(self, stage: str, progress: float, stages: Mapping[str, Any] | None = None) -> None:
        """Record the current stage, overall progress (0..1) and changed stage entries.

        Cheap and thread-safe: the worker writes the latest state at most once per whole
        percent of progress and once a second.
        """
        ...

    def checkpoint(self, stages: Mapping[str, Any]) -> None:
        """Persist stage entries now (a completed stage), so a retry can resume after it.

        Raises LeaseLostError when the claim is gone.
        """
        ...

    def save_metadata(self, fields: Mapping[str, Any]) -> None:
        """Persist some video_metadata fields now (column name -> JSON value).

        Raises LeaseLostError when the claim is gone.
        """
        ...


class Pipeline(Protocol):
    """Turns one claimed job into its video_metadata fields."""

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        """Do the work; return the video_metadata fields to save with completion.

        Raise a processor.errors.VprocError subclass to fail: retryable ones are retried
        with backoff, the others fail the job at once.
        """
        ...
