"""What the worker's reaper does after settling expired leases: its periodic chores.

A chore is anything with `run_once() -> int`. The storage cleanup outbox runs on every reap;
the AI cache purge runs at most once per interval, since expired rows only cost disk space.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

# Expired AI cache rows are deleted at most this often (seconds) by each worker.
CACHE_PURGE_INTERVAL_SECONDS = 300.0


class Chore(Protocol):
    """Periodic work the reaper runs; errors propagate to the reaper, which logs and goes on."""

    def run_once(self) -> int:
        """Do one round; return how many items it handled."""
        ...


class Purgeable(Protocol):
    """A store with expiring rows, such as processor.ai.cache.AICache."""

    def purge_expired(self) -> int: ...


class CachePurge:
    """Delete expired AI cache rows, at most once every `interval_seconds`."""

    def __init__(
        self,
        cache: Purgeable,
        *,
        interval_seconds: float = CACHE_PURGE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._last: float | None = None

    def run_once(self) -> int:
        """Purge when the interval has passed since the last purge (or on the first call)."""
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_seconds:
            return 0
        # Counted before the call: a failing purge waits for the next interval, not the next reap.
        self._last = now
        purged = self.cache.purge_expired()
        if purged:
            logger.info(
                "purged %d expired AI cache rows",
                purged,
                extra={"event": "ai_cache.purged", "rows": purged},
            )
        return purged


class Chores:
    """Several chores run in order as one; returns the total handled."""

    def __init__(self, *chores: Chore) -> None:
        self.chores = chores

    def run_once(self) -> int:
        return sum(chore.run_once() for chore in self.chores)
