"""The worker: claims jobs and runs them, with named side tasks around the claim loop.

One coordinator thread claims up to WORKER_CONCURRENCY jobs and hands them to as many
long-lived slot threads (media decoding and speech models are blocking native code that
releases the GIL; threads keep them off the coordinator without an event loop to guard).
Side tasks, each a thread:
  listener  - LISTEN vproc_jobs; a notification only wakes the claim loop (polling is the fallback)
  heartbeat - every lease/3 extends every running lease and reads back cancel_requested
  progress  - about once a second writes each job's latest progress if the throttle allows
              (processor.queue.control: one write per whole percent and per second at most)
  reaper    - settles expired leases that will not be claimed again, then runs its chores
              (processor.queue.chores: the storage cleanup outbox, the AI cache purge)
  completer - writes finished jobs in batches (processor.complete_jobs)
A side task that dies stops the worker with an ERROR. On stop (SIGTERM/SIGINT) the worker stops
claiming, lets running jobs finish within the shutdown timeout, then asks them to stop and
hands whatever is left back to the queue without spending an attempt.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from processor.backoff import Backoff
from processor.db import queries
from processor.db.listener import Listener, listen_unsupported_reason
from processor.db.pool import Database
from processor.errors import (
    DatabaseUnavailableError,
    JobCancelledError,
    LeaseLostError,
    ShutdownRequestedError,
    SideTaskDied,
    VprocError,
    public_message,
)
from processor.metrics import Metrics
from processor.pipeline.contract import JobInfo, Pipeline
from processor.queue.chores import Chore
from processor.queue.completions import CompletionBuffer
from processor.queue.control import WorkerJobControl
from processor.queue.jobs import Claim, JobQueue
from processor.status import JobStatus

logger = logging.getLogger(__name__)

# Between claims while the database is unreachable: 0.5 s doubling to 30 s, each ±50 % so a
# fleet that lost the database together does not come back in step.
CLAIM_BACKOFF = Backoff(initial_seconds=0.5, max_seconds=30.0, jitter=(0.5, 1.5))


def default_worker_id() -> str:
    """host-pid-random: unique per process, recorded in processor.job_leases.locked_by."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker behaves; the CLI fills it from Settings and flags."""

    worker_id: str
    concurrency: int = 1
    lease_seconds: int = 300
    max_attempts: int | None = 3
    poll_interval: float = 5.0
    reap_interval: float = 30.0
    progress_interval: float = 1.0
    shutdown_timeout: float = 30.0
    until_empty: bool = False
    listen: bool = True


class Worker:
    """Claims and runs jobs until stopped (or, with until_empty, until the queue is drained)."""

    def __init__(
        self,
        db: Database,
        pipeline: Pipeline,
        options: WorkerOptions,
        *,
        listen_url: str | None = None,
        metrics: Metrics | None = None,
        chores: Chore | None = None,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.options = options
        self.listen_url = listen_url or db.url
        self.metrics = metrics or Metrics()
        self.chores = chores
        self._stop = threading.Event()  # stop claiming
        self._halt = threading.Event()  # stop side tasks
        self._wake = threading.Event()
        self.queue = JobQueue(
            db,
            worker_id=options.worker_id,
            lease_seconds=options.lease_seconds,
            max_attempts=options.max_attempts,
        )
        self._completions = CompletionBuffer(self.queue)
        self._running: dict[int, tuple[WorkerJobControl, threading.Thread | None]] = {}
        # Jobs whose pipeline returned and whose completion is on its way (still running for
        # heartbeats and shutdown, but no longer holding a slot).
        self._finishing: set[int] = set()
        self._slots_queue: queue.SimpleQueue[tuple[Claim, WorkerJobControl] | None] = (
            queue.SimpleQueue()
        )
        self._slots: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._side_tasks: dict[str, threading.Thread] = {}
        self._side_task_error: BaseException | None = None
        self._shutdown_timeout = options.shutdown_timeout
        self.last_claim_ok = time.monotonic()

    # --- public ---------------------------------------------------------------------------

    def stop(self, *, immediate: bool = False) -> None:
        """Stop claiming; with immediate, do not wait for running jobs to finish."""
        if immediate:
            self._shutdown_timeout = 0.0
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running_jobs(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def health(self) -> tuple[bool, str]:
        """(healthy, detail) for /healthz."""
        dead = [n for n, t in self._side_tasks.items() if not t.is_alive()]
        if dead and not self._halt.is_set():
            return False, f"side task(s) stopped: {', '.join(dead)}"
        if time.monotonic() - self.last_claim_ok > max(60.0, 3 * self.options.poll_interval):
            return False, "cannot reach the database"
        return True, f"ok; {len(self.running_jobs)} job(s) running"

    def run(self) -> None:
        """Run until stopped. Raises SideTaskDied if a side task fails."""
        o = self.options
        logger.info(
            "worker started",
            extra={
                "event": "worker.started",
                "worker_id": o.worker_id,
                "concurrency": o.concurrency,
            },
        )
        self._start_side_tasks()
        for index in range(o.concurrency):
            slot = threading.Thread(target=self._slot_loop, name=f"vproc-slot-{index}", daemon=True)
            self._slots.append(slot)
            slot.start()
        try:
            self._claim_loop()
        finally:
            self._shutdown()
        if self._side_task_error is not None:
            raise SideTaskDied(f"worker side task died: {self._side_task_error}")

    # --- claim loop -----------------------------------------------------------------------

    def _claim_loop(self) -> None:
        o = self.options
        failed_claims = 0
        while not self._stop.is_set():
            running = self._busy_slots()
            free = o.concurrency - running
            if len(self.running_jobs) >= 2 * o.concurrency:
                free = 0  # completions are falling behind: let them catch up first
            claims: list[Claim] = []
            # Claim in batches: while jobs are running, wait until half the slots are free,
            # so a busy worker makes one claim per several jobs rather than one per job.
            if free > 0 and (running == 0 or free >= max(1, o.concurrency // 2)):
                try:
                    claims = self.queue.claim(free)
                    self.last_claim_ok = time.monotonic()
                    failed_claims = 0
                except DatabaseUnavailableError as exc:
                    logger.warning(
                        "cannot claim: %s",
                        exc.message,
                        extra={"event": "claim.failed", "worker_id": o.worker_id},
                    )
                    failed_claims += 1
                    self._stop.wait(CLAIM_BACKOFF.delay(failed_claims))
                    continue
                for claim in claims:
                    self._start_job(claim)
            if o.until_empty and not claims and not self.running_jobs:
                logger.info(
                    "queue empty", extra={"event": "worker.drained", "worker_id": o.worker_id}
                )
                return
            if claims and self._busy_slots() < o.concurrency:
                continue  # a full batch may mean more is waiting
            self._wake.wait(o.poll_interval)
            self._wake.clear()

    def _busy_slots(self) -> int:
        with self._lock:
            return len(self._running) - len(self._finishing)

    def _start_job(self, claim: Claim) -> None:
        control = WorkerJobControl(claim, self.queue, min_interval=self.options.progress_interval)
        with self._lock:
            self._running[claim.job_id] = (control, None)
        self.metrics.jobs_claimed.inc()
        self.metrics.jobs_running.set(len(self._running))
        self._slots_queue.put((claim, control))

    def _slot_loop(self) -> None:
        """One job slot: a long-lived thread that runs the jobs handed to it, one at a time."""
        while True:
            item = self._slots_queue.get()
            if item is None:
                return
            claim, control = item
            with self._lock:
                if claim.job_id in self._running:
                    self._running[claim.job_id] = (control, threading.current_thread())
            self._run_job(claim, control)

    # --- one job --------------------------------------------------------------------------

    def _log_extra(self, claim: Claim, event: str, **more: object) -> dict[str, object]:
        return {
            "event": event,
            "job_id": claim.job_id,
            "video_id": str(claim.job.video_id),
            "worker_id": claim.worker_id,
            "attempt": claim.attempts,
            **more,
        }

    def _run_job(self, claim: Claim, control: WorkerJobControl) -> None:
        started = time.monotonic()
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "job %s claimed (attempt %s/%s)",
                claim.job_id,
                claim.attempts,
                claim.job.max_attempts,
                extra=self._log_extra(claim, "job.claimed"),
            )
        handed_off = False
        try:
            handed_off = self._execute(claim, control, started)
        except LeaseLostError:
            self.metrics.leases_lost.inc()
            logger.warning(
                "job %s: lease lost; stopping without writing",
                claim.job_id,
                extra=self._log_extra(claim, "lease.lost"),
            )
        except DatabaseUnavailableError as exc:
            # The final write could not be made within the lease: the job will be reclaimed.
            logger.error(
                "job %s: database unavailable, leaving it to be reclaimed: %s",
                claim.job_id,
                exc.message,
                extra=self._log_extra(claim, "job.abandoned"),
            )
        finally:
            if not handed_off:
                self._finish(claim, started)

    def _finish(self, claim: Claim, started: float) -> None:
        """The job no longer runs here: free its slot and wake the claim loop."""
        self.metrics.job_duration.observe(time.monotonic() - started)
        with self._lock:
            self._running.pop(claim.job_id, None)
            self._finishing.discard(claim.job_id)
            self.metrics.jobs_running.set(len(self._running))
        self._wake.set()

    def _completed(
        self, claim: Claim, started: float, held: bool, error: BaseException | None
    ) -> None:
        """The completion's outcome (called by the completion buffer's thread)."""
        try:
            if error is not None:
                # The final write could not be made within the lease: it will be reclaimed.
                logger.error(
                    "job %s: database unavailable, leaving it to be reclaimed: %s",
                    claim.job_id,
                    error,
                    extra=self._log_extra(claim, "job.abandoned"),
                )
            elif not held:
                self.metrics.leases_lost.inc()
                logger.warning(
                    "job %s: lease lost before completion",
                    claim.job_id,
                    extra=self._log_extra(claim, "lease.lost"),
                )
            else:
                self.metrics.jobs_completed.inc()
                if logger.isEnabledFor(logging.INFO):
                    logger.info(
                        "job %s completed",
                        claim.job_id,
                        extra=self._log_extra(claim, "job.completed"),
                    )
        finally:
            self._finish(claim, started)

    def _execute(self, claim: Claim, control: WorkerJobControl, started: float) -> bool:
        """Run the job; True when its completion was handed to the completion buffer."""
        try:
            c = claim.job
            job = JobInfo(
                job_id=c.id,
                video_id=c.video_id,
                owner_id=c.owner_id,
                attempt=c.attempts,
                storage_path=c.storage_path,
                original_filename=c.original_filename,
                content_type=c.content_type,
                size_bytes=c.size_bytes,
            )
            metadata = self.pipeline.run(job, control)
            control.raise_if_interrupted()
            control.finish()
            with self._lock:
                self._finishing.add(claim.job_id)
            self._wake.set()  # its slot is free: the next claim overlaps this completion
            # An empty result (a job with nothing to record) writes no metadata row.
            self._completions.submit(
                claim, metadata or None, functools.partial(self._completed, claim, started)
            )
            return True
        except JobCancelledError:
            self._flush_quietly(control)
            self.queue.cancel(claim)
            self.metrics.jobs_cancelled.inc()
            logger.info(
                "job %s cancelled", claim.job_id, extra=self._log_extra(claim, "job.cancelled")
            )
            return False
        except ShutdownRequestedError:
            self._flush_quietly(control)
            self.queue.release(claim)
            self.metrics.jobs_released.inc()
            logger.info(
                "job %s released for another worker",
                claim.job_id,
                extra=self._log_extra(claim, "job.released"),
            )
            return False
        except LeaseLostError:
            raise
        except DatabaseUnavailableError as exc:
            # Our database trouble, not the job's: hand it back without spending an attempt.
            logger.warning(
                "job %s: database unavailable mid-job (%s); releasing it",
                claim.job_id,
                exc.message,
                extra=self._log_extra(claim, "job.released"),
            )
            self.queue.release(claim)
            self.metrics.jobs_released.inc()
            return False
        except VprocError as exc:
            self._flush_quietly(control)
            self._record_failure(claim, exc, exc.message)
            return False
        except Exception as exc:  # noqa: BLE001 - the runner boundary: any failure fails the job
            self._flush_quietly(control)
            logger.error(
                "job %s: unexpected error\n%s",
                claim.job_id,
                "".join(traceback.format_exception(exc)),
                extra=self._log_extra(claim, "job.crashed"),
            )
            self._record_failure(claim, exc, f"{type(exc).__name__}: {exc}".splitlines()[0])
            return False

    def _record_failure(self, claim: Claim, exc: BaseException, message: str) -> None:
        """Fail the job with `exc`'s code and public message; `message` (the full text) goes
        to the log only."""
        error = exc if isinstance(exc, VprocError) else VprocError()
        code = error.error_code
        status = self.queue.fail(
            claim,
            error_code=code,
            error_message=public_message(error, conceal=(claim.worker_id,)),
            retryable=error.retryable,
            retry_after_seconds=error.retry_after_seconds,
        )
        if status == JobStatus.PENDING:
            self.metrics.jobs_retried.labels(error_code=code).inc()
            logger.warning(
                "job %s failed (%s: %s); will retry",
                claim.job_id,
                code,
                message,
                extra=self._log_extra(claim, "job.retried", error_code=code),
            )
        else:
            self.metrics.jobs_failed.labels(error_code=code).inc()
            logger.error(
                "job %s failed (%s: %s)",
                claim.job_id,
                code,
                message,
                extra=self._log_extra(claim, "job.failed", error_code=code),
            )

    @staticmethod
    def _flush_quietly(control: WorkerJobControl) -> None:
        # Progress is best effort here; the final write retries on its own.
        with contextlib.suppress(DatabaseUnavailableError):
            control.finish()

    # --- side tasks -----------------------------------------------------------------------

    def _start_side_tasks(self) -> None:
        o = self.options
        tasks: dict[str, Callable[[], None]] = {
            "completer": lambda: self._completions.run(self._halt),
            "heartbeat": self._heartbeat_loop,
            "progress": self._progress_loop,
            "reaper": self._reaper_loop,
        }
        if o.listen:
            reason = listen_unsupported_reason(self.listen_url)
            if reason:
                logger.warning(
                    "LISTEN/NOTIFY unavailable (%s); polling every %.1fs",
                    reason,
                    o.poll_interval,
                    extra={"event": "listener.disabled"},
                )
            else:
                listener = Listener(
                    self.listen_url,
                    self.wake,
                    self._halt,
                    application_name=f"vproc-listener:{o.worker_id}",
                )
                tasks["listener"] = listener.run
        for name, target in tasks.items():
            thread = threading.Thread(
                target=self._guard(name, target), name=f"vproc-{name}", daemon=True
            )
            self._side_tasks[name] = thread
            thread.start()

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                self._side_task_error = exc
                logger.error(
                    "side task %s died: %s",
                    name,
                    exc,
                    extra={"event": "worker.side_task_died", "task": name},
                    exc_info=True,
                )
                self.stop()

        return run

    def _controls(self) -> list[WorkerJobControl]:
        return [control for control, _ in self._running_items()]

    def _heartbeat_loop(self) -> None:
        interval = max(self.options.lease_seconds / 3, 0.05)
        while not self._halt.wait(interval):
            for control in self._controls():
                if control.lease_lost.is_set():
                    continue
                try:
                    if self.queue.heartbeat(control.claim):
                        control.cancel_requested.set()
                except LeaseLostError:
                    control.lease_lost.set()
                except DatabaseUnavailableError as exc:
                    logger.warning(
                        "heartbeat failed: %s",
                        exc.message,
                        extra={"event": "heartbeat.failed", "job_id": control.claim.job_id},
                    )

    def _progress_loop(self) -> None:
        while not self._halt.wait(self.options.progress_interval):
            for control in self._controls():
                try:
                    control.flush()
                except DatabaseUnavailableError:
                    logger.debug("progress write deferred", extra={"event": "progress.deferred"})

    def _reaper_loop(self) -> None:
        while not self._halt.wait(self.options.reap_interval):
            try:
                for reaped in self.queue.reap():
                    logger.warning(
                        "job %s settled as %s after its lease expired",
                        reaped.job_id,
                        reaped.status,
                        extra={"event": "job.reaped", "job_id": reaped.job_id},
                    )
                with self.db.connection() as conn:
                    for status, count in queries.queue_depth(conn).items():
                        self.metrics.queue_depth.labels(status=status).set(count)
                if self.chores is not None:
                    self.chores.run_once()
            except DatabaseUnavailableError as exc:
                logger.warning("reaper skipped: %s", exc.message, extra={"event": "reap.failed"})

    # --- shutdown -------------------------------------------------------------------------

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self._shutdown_timeout
        if self.running_jobs:
            logger.info(
                "waiting up to %.0fs for %d running job(s)",
                self._shutdown_timeout,
                len(self.running_jobs),
                extra={"event": "worker.draining"},
            )
        while self.running_jobs and time.monotonic() < deadline:
            self._wake.wait(0.05)
            self._wake.clear()
        leftovers = self._running_items()
        for control, _ in leftovers:
            control.shutdown.set()
        grace = time.monotonic() + min(10.0, max(1.0, self._shutdown_timeout))
        while self._running_items() and time.monotonic() < grace:
            self._wake.wait(0.05)
            self._wake.clear()
        for control, _ in self._running_items():
            # The job's thread is stuck in native code: hand the job back from here and fence
            # the thread out (its later writes no longer match the claim).
            control.lease_lost.set()
            try:
                self.queue.release(control.claim)
                self.metrics.jobs_released.inc()
                logger.info(
                    "job %s released (its work did not stop in time)",
                    control.claim.job_id,
                    extra={"event": "job.released", "job_id": control.claim.job_id},
                )
            except (LeaseLostError, DatabaseUnavailableError) as exc:
                logger.warning(
                    "could not release job %s: %s",
                    control.claim.job_id,
                    exc,
                    extra={"event": "job.release_failed"},
                )
        for _ in self._slots:
            self._slots_queue.put(None)
        self._halt.set()
        self._completions.wake()
        for thread in self._side_tasks.values():
            thread.join(5)
        logger.info(
            "worker stopped", extra={"event": "worker.stopped", "worker_id": self.options.worker_id}
        )

    def _running_items(self) -> list[tuple[WorkerJobControl, threading.Thread | None]]:
        with self._lock:
            return list(self._running.values())
