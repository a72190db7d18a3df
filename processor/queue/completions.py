"""Batched completions: many finished jobs share one round trip and commit.

A job slot hands its finished job to `submit()` and goes on to its next job; the flusher
thread sends everything that arrived within a few milliseconds (or up to `max_batch` items)
through processor.complete_jobs and then tells each job's `done` callback whether its claim
held. For long media jobs a batch is one job and the wait is negligible; for short jobs it is
what lets a worker complete thousands of jobs a second, and since the slot does not wait,
the next claim overlaps the previous batch's completion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from processor.errors import DatabaseUnavailableError, LeaseLostError
from processor.queue.jobs import Claim, JobQueue

logger = logging.getLogger(__name__)

# done(held, error): held is whether the claim held; error is set when the completion could
# not be written at all (the database stayed unreachable for as long as the lease lasts).
Done = Callable[[bool, BaseException | None], None]


class CompletionBuffer:
    """Collects completions from job slots and writes them in batches."""

    def __init__(self, queue: JobQueue, *, max_batch: int = 100, max_delay: float = 0.002):
        self.queue = queue
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._items: list[tuple[Claim, Mapping[str, Any] | None, Done]] = []
        self._cond = threading.Condition()
        self._closed = False

    def submit(self, claim: Claim, metadata: Mapping[str, Any] | None, done: Done) -> None:
        """Complete `claim` soon; `done` is called (from another thread) with the outcome."""
        with self._cond:
            if not self._closed:
                self._items.append((claim, metadata, done))
                if len(self._items) == 1:
                    self._cond.notify()
                return
        self._complete_one(claim, metadata, done)

    def complete(self, claim: Claim, metadata: Mapping[str, Any] | None) -> bool:
        """Complete `claim` and wait; True if its claim held."""
        result: list[tuple[bool, BaseException | None]] = []
        finished = threading.Event()

        def done(held: bool, error: BaseException | None) -> None:
            result.append((held, error))
            finished.set()

        self.submit(claim, metadata, done)
        finished.wait()
        held, error = result[0]
        if error is not None:
            raise error
        return held

    def _complete_one(self, claim: Claim, metadata: Mapping[str, Any] | None, done: Done) -> None:
        """One completion with the queue's retries while the database is unreachable."""
        try:
            self.queue.complete(claim, metadata)
        except LeaseLostError:
            done(False, None)
        except DatabaseUnavailableError as exc:
            done(False, exc)
        else:
            done(True, None)

    def wake(self) -> None:
        """Make the flusher look at its stop event now."""
        with self._cond:
            self._cond.notify_all()

    def run(self, stop: threading.Event) -> None:
        """The flusher loop (a worker side task); drains what is left when `stop` is set."""
        while True:
            with self._cond:
                while not self._items and not stop.is_set():
                    self._cond.wait(0.1)
                if not self._items and stop.is_set():
                    self._closed = True
                    return
                if len(self._items) < self.max_batch:
                    self._cond.wait(self.max_delay)  # let concurrent finishers join the batch
                batch, self._items = self._items[: self.max_batch], self._items[self.max_batch :]
            self._flush(batch)

    def _flush(self, batch: list[tuple[Claim, Mapping[str, Any] | None, Done]]) -> None:
        try:
            held = self.queue.complete_many([(claim, metadata) for claim, metadata, _ in batch])
        except DatabaseUnavailableError as exc:
            logger.warning(
                "batched completion failed (%s); completing one by one",
                exc.message,
                extra={"event": "completion.retrying", "jobs": len(batch)},
            )
            # Each job retries on its own, off this thread, for as long as its lease lasts.
            for claim, metadata, done in batch:
                threading.Thread(
                    target=self._complete_one,
                    args=(claim, metadata, done),
                    name=f"vproc-complete-{claim.job_id}",
                    daemon=True,
                ).start()
            return
        for claim, _, done in batch:
            done(claim.job_id in held, None)
