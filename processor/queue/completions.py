"""Batched completions: many job threads finishing at once share one round trip and commit.

A job thread hands its result to `complete()` and waits; the flusher thread sends everything
that arrived within a few milliseconds (or up to `max_batch` items) through
processor.complete_jobs. For long media jobs a batch is one job and the wait is negligible;
for short jobs it is what lets a worker complete thousands of jobs a second.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from processor.errors import DatabaseUnavailableError, LeaseLostError
from processor.queue.jobs import Claim, JobQueue


class CompletionBuffer:
    """Collects completions from job threads and writes them in batches."""

    def __init__(self, queue: JobQueue, *, max_batch: int = 100, max_delay: float = 0.002):
        self.queue = queue
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._items: list[tuple[Claim, Mapping[str, Any] | None, Future[bool]]] = []
        self._cond = threading.Condition()
        self._closed = False

    def complete(self, claim: Claim, metadata: Mapping[str, Any] | None) -> bool:
        """Complete `claim`; True if its claim held. Falls back to a single retried write."""
        future: Future[bool] = Future()
        with self._cond:
            closed = self._closed
            if not closed:
                self._items.append((claim, metadata, future))
                self._cond.notify()
        if closed:
            return self._complete_one(claim, metadata)
        try:
            return future.result()
        except DatabaseUnavailableError:
            return self._complete_one(claim, metadata)

    def _complete_one(self, claim: Claim, metadata: Mapping[str, Any] | None) -> bool:
        try:
            self.queue.complete(claim, metadata)
        except LeaseLostError:
            return False
        return True

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

    def _flush(self, batch: list[tuple[Claim, Mapping[str, Any] | None, Future[bool]]]) -> None:
        try:
            done = self.queue.complete_many([(claim, metadata) for claim, metadata, _ in batch])
        except DatabaseUnavailableError as exc:
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for claim, _, future in batch:
            future.set_result(claim.job_id in done)
