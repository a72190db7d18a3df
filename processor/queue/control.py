"""JobControl for a claimed job: stop flags, throttled progress, fenced checkpoints.

The pipeline thread calls report() as often as it likes; the worker's progress task calls
flush() about once a second, so a job writes progress at most ~1/s whatever the pipeline does.
Checkpoints and metadata are written at once (a completed stage must survive a crash).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from processor.errors import (
    DatabaseUnavailableError,
    JobCancelledError,
    LeaseLostError,
    ShutdownRequestedError,
    redact,
)
from processor.queue.jobs import Claim, JobQueue

logger = logging.getLogger(__name__)


class WorkerJobControl:
    """The worker-side implementation of processor.pipeline.contract.JobControl."""

    def __init__(self, claim: Claim, queue: JobQueue) -> None:
        self.claim = claim
        self.queue = queue
        self.cancel_requested = threading.Event()
        self.lease_lost = threading.Event()
        self.shutdown = threading.Event()
        self._claimed_stages = MappingProxyType(dict(claim.job.processing_stages or {}))
        self._lock = threading.Lock()
        self._current_stage: str | None = None
        self._progress = 0.0
        self._pending: dict[str, Any] = {}
        self._dirty = False
        if claim.job.cancel_requested:
            self.cancel_requested.set()

    # --- JobControl -----------------------------------------------------------------------

    @property
    def stages(self) -> Mapping[str, Any]:
        return self._claimed_stages

    def raise_if_interrupted(self) -> None:
        if self.lease_lost.is_set():
            raise LeaseLostError(f"job {self.claim.job_id}: lease lost")
        if self.cancel_requested.is_set():
            raise JobCancelledError()
        if self.shutdown.is_set():
            raise ShutdownRequestedError()

    def report(self, stage: str, progress: float, stages: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._current_stage = stage
            self._progress = min(max(float(progress), 0.0), 1.0)
            if stages:
                self._pending.update(stages)
            self._dirty = True

    def checkpoint(self, stages: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.update(stages)
            self._dirty = True
        self.flush()
        self.raise_if_lost()

    def save_metadata(self, fields: Mapping[str, Any]) -> None:
        self.raise_if_lost()
        try:
            self.queue.save_metadata(self.claim, fields)
        except LeaseLostError:
            self.lease_lost.set()
            raise

    # --- worker side ----------------------------------------------------------------------

    def raise_if_lost(self) -> None:
        if self.lease_lost.is_set():
            raise LeaseLostError(f"job {self.claim.job_id}: lease lost")

    def flush(self) -> None:
        """Write the latest progress and pending stage entries, if anything changed."""
        with self._lock:
            if not self._dirty or self.lease_lost.is_set():
                return
            stage, progress, pending = self._current_stage, self._progress, self._pending
            self._pending, self._dirty = {}, False
        try:
            self.queue.record_progress(
                self.claim,
                current_stage=stage,
                progress=progress,
                stages=_without_worker(pending, self.claim.worker_id),
            )
        except LeaseLostError:
            self.lease_lost.set()
        except DatabaseUnavailableError:
            with self._lock:  # keep what was not written; the next flush sends it
                self._pending = {**pending, **self._pending}
                self._dirty = True
            raise


def _without_worker(stages: Mapping[str, Any], worker_id: str) -> dict[str, Any]:
    """Stage entries as their owner may read them: no worker id in a failure's message."""
    public = {}
    for name, entry in stages.items():
        detail = entry.get("detail") if isinstance(entry, Mapping) else None
        if isinstance(detail, Mapping) and isinstance(detail.get("message"), str):
            detail = {**detail, "message": redact(detail["message"], conceal=(worker_id,))}
            entry = {**entry, "detail": detail}
        public[name] = entry
    return public
