"""The worker's view of the queue: one method per queue function, fenced by the claim.

Every call after a claim passes (job_id, claim_token): the token is a fresh uuid per claim,
never reused over the job's life, so it names this one claim even after a retry or release
reset the job's attempts. A refused fence raises LeaseLostError, after which the caller
writes nothing more. Final writes (complete, fail,
release, cancel) are retried while the database is unreachable, for as long as the lease
could still be valid, so a database restart does not lose a finished job's result.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from processor.backoff import Backoff
from processor.db import queries
from processor.db.pool import Database
from processor.errors import DatabaseUnavailableError, LeaseLostError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A final write (complete, fail, cancel, release) retried while the database is unreachable:
# 0.2 s doubling to 5 s, each ±25 %; the lease bounds the whole loop.
FINAL_WRITE_BACKOFF = Backoff(initial_seconds=0.2, max_seconds=5.0, jitter=(0.75, 1.25))


@dataclass(frozen=True)
class Claim:
    """A job this worker holds: its claim token (the fence) plus what the pipeline needs."""

    job: queries.ClaimedJob
    worker_id: str

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def attempts(self) -> int:
        return self.job.attempts

    @property
    def claim_token(self) -> uuid.UUID:
        return self.job.claim_token

    def fence(self) -> queries.Fence:
        return queries.fence(self.job.id, self.job.claim_token)


class JobQueue:
    """Queue operations for one worker id."""

    def __init__(
        self,
        db: Database,
        *,
        worker_id: str,
        lease_seconds: int,
        max_attempts: int | None,
    ) -> None:
        self.db = db
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    def claim(self, batch_size: int) -> list[Claim]:
        with self.db.connection() as conn:
            jobs = queries.claim_jobs(
                conn,
                worker_id=self.worker_id,
                batch_size=batch_size,
                lease_seconds=self.lease_seconds,
                max_attempts=self.max_attempts,
            )
        return [Claim(job, self.worker_id) for job in jobs]

    def heartbeat(self, claim: Claim) -> bool:
        """Extend the lease; return cancel_requested. Raises LeaseLostError."""
        with self.db.connection() as conn:
            cancel = queries.heartbeat(conn, **claim.fence(), lease_seconds=self.lease_seconds)
        if cancel is None:
            raise LeaseLostError(f"job {claim.job_id}: lease lost")
        return cancel

    def record_progress(
        self, claim: Claim, *, current_stage: str | None, progress: float, stages: Mapping[str, Any]
    ) -> None:
        with self.db.connection() as conn:
            ok = queries.record_progress(
                conn, **claim.fence(), current_stage=current_stage, progress=progress, stages=stages
            )
        if not ok:
            raise LeaseLostError(f"job {claim.job_id}: lease lost")

    def save_metadata(self, claim: Claim, metadata: Mapping[str, Any]) -> None:
        with self.db.connection() as conn:
            ok = queries.save_metadata(conn, **claim.fence(), metadata=metadata)
        if not ok:
            raise LeaseLostError(f"job {claim.job_id}: lease lost")

    def complete(self, claim: Claim, metadata: Mapping[str, Any] | None) -> None:
        def call() -> bool:
            with self.db.connection() as conn:
                return queries.complete_job(conn, **claim.fence(), metadata=metadata)

        if not self._final(claim, "complete", call):
            raise LeaseLostError(f"job {claim.job_id}: lease lost before completion")

    def complete_many(self, items: list[tuple[Claim, Mapping[str, Any] | None]]) -> set[int]:
        """Complete several claims in one round trip; return the ids whose claim held."""
        with self.db.connection() as conn:
            return queries.complete_jobs(
                conn, jobs=[(c.job_id, c.claim_token, metadata) for c, metadata in items]
            )

    def fail(
        self,
        claim: Claim,
        *,
        error_code: str,
        error_message: str,
        retryable: bool,
        retry_after_seconds: int | None = None,
    ) -> str:
        """Record the failure; return the new status (PENDING: will retry, or FAILED)."""

        def call() -> str | None:
            with self.db.connection() as conn:
                return queries.fail_job(
                    conn,
                    **claim.fence(),
                    error_code=error_code,
                    error_message=error_message,
                    retryable=retryable,
                    retry_after_seconds=retry_after_seconds,
                )

        status = self._final(claim, "fail", call)
        if status is None:
            raise LeaseLostError(f"job {claim.job_id}: lease lost before recording the failure")
        return status

    def release(self, claim: Claim) -> None:
        def call() -> bool:
            with self.db.connection() as conn:
                return queries.release_job(conn, **claim.fence())

        if not self._final(claim, "release", call):
            raise LeaseLostError(f"job {claim.job_id}: lease lost before release")

    def cancel(self, claim: Claim) -> None:
        def call() -> bool:
            with self.db.connection() as conn:
                return queries.cancel_job(conn, **claim.fence())

        if not self._final(claim, "cancel", call):
            raise LeaseLostError(f"job {claim.job_id}: lease lost before cancelling")

    def reap(self) -> list[queries.Reaped]:
        with self.db.connection() as conn:
            return queries.reap_expired_leases(conn)

    def _final(self, claim: Claim, action: str, call: Callable[[], T]) -> T:
        """Run a final write, retrying while the database is unreachable and the lease may live.

        Past the lease, another worker may own the job; the fence then refuses the write anyway,
        so giving up is safe: the job is re-run, not lost.
        """
        deadline = time.monotonic() + self.lease_seconds
        failures = 0
        while True:
            try:
                return call()
            except DatabaseUnavailableError:
                failures += 1
                delay = FINAL_WRITE_BACKOFF.delay(failures)
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "database unavailable during %s; retrying in %.1fs",
                    action,
                    delay,
                    extra={"event": "db.retrying", "job_id": claim.job_id, "action": action},
                )
                time.sleep(delay)
