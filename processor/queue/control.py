"""JobControl for a claimed job: stop flags, the progress throttle, fenced checkpoints.

The one place job-row writes are throttled. The pipeline thread calls report() as often as it
likes; the worker's progress task calls flush() about once a second. A write happens only
when something a user sees changed (the whole percent, the stage, a stage entry), the previous
write is at least `min_interval` old, and the attempt has written fewer times than the whole
percents it has reached. So a job's row takes at most one update per whole percent of progress
and at most one per `min_interval`, stage changes included, and never one that changes
nothing. A checkpoint (a completed stage) goes out with the first write the throttle allows;
finish() writes what is left before the job's final write. Metadata is written at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
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


class Flag:
    """A one-way boolean flag, set by one thread and read by others (no waiting on it)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def percent_step(progress: float) -> int:
    """The whole percent a progress value (0..1) is in."""
    return math.floor(progress * 100 + 1e-9)


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class WorkerJobControl:
    """The worker-side implementation of processor.pipeline.contract.JobControl."""

    def __init__(
        self,
        claim: Claim,
        queue: JobQueue,
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.claim = claim
        self.queue = queue
        self.min_interval = min_interval
        self.clock = clock
        self.cancel_requested = Flag()
        self.lease_lost = Flag()
        self.shutdown = Flag()
        stages = claim.job.processing_stages
        self._claimed_stages = MappingProxyType(dict(stages)) if stages else _EMPTY
        self._lock = threading.Lock()
        self._current_stage: str | None = None
        self._progress = 0.0
        self._pending: dict[str, Any] = {}
        # What the row shows (as last written) and when it was written.
        # (Unknown at first: record_progress itself skips a write that changes nothing.)
        self._written_stage: str | None = None
        self._written_step = -1
        self._written_at = -math.inf
        self._writes = 0
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

    def checkpoint(self, stages: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.update(stages)
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
        """Write the latest progress and pending stage entries if the throttle allows it."""
        self._write(final=False)

    def finish(self) -> None:
        """Before completion: write stage entries not yet written (completion sets progress and
        the stage itself, so progress alone is not worth a write)."""
        self._write(final=True)

    def _write(self, *, final: bool) -> None:
        with self._lock:
            if self.lease_lost.is_set():
                return
            if final:
                if not self._pending:
                    return
            elif not self._pending and (
                self._current_stage == self._written_stage
                and percent_step(self._progress) == self._written_step
            ):
                return  # nothing a user would see has changed
            now = self.clock()
            if not final and (
                now - self._written_at < self.min_interval
                or self._writes >= percent_step(self._progress)
            ):
                return  # a later flush carries it
            stage, progress, pending = self._current_stage, self._progress, self._pending
            self._pending = {}
            self._writes += 1
            self._written_at = now
            self._written_stage, self._written_step = stage, percent_step(progress)
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
                self._written_at = -math.inf
                self._writes -= 1
                self._written_stage, self._written_step = None, -1
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
