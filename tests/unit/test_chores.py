"""processor.queue.chores: the reaper's chores and the AI cache purge's throttle."""

from __future__ import annotations

import pytest

from processor.errors import DatabaseUnavailableError
from processor.queue.chores import CachePurge, Chores


class CountingCache:
    """A Purgeable that reports `rows` each time it is purged."""

    def __init__(self, rows: int = 2) -> None:
        self.rows = rows
        self.purges = 0

    def purge_expired(self) -> int:
        self.purges += 1
        return self.rows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_purge_runs_at_once_then_at_most_once_per_interval() -> None:
    cache, clock = CountingCache(), Clock()
    purge = CachePurge(cache, interval_seconds=300.0, clock=clock)
    assert purge.run_once() == 2
    for _ in range(10):  # every reap within the interval
        clock.now += 29.0
        assert purge.run_once() == 0
    assert cache.purges == 1
    clock.now += 10.0  # 300 s after the first purge
    assert purge.run_once() == 2
    assert cache.purges == 2


def test_a_failed_purge_waits_for_the_next_interval() -> None:
    class BrokenCache:
        calls = 0

        def purge_expired(self) -> int:
            self.calls += 1
            raise DatabaseUnavailableError("database gone")

    cache, clock = BrokenCache(), Clock()
    purge = CachePurge(cache, interval_seconds=60.0, clock=clock)
    with pytest.raises(DatabaseUnavailableError):
        purge.run_once()
    for _ in range(3):
        clock.now += 1.0
        assert purge.run_once() == 0
    assert cache.calls == 1


def test_chores_run_in_order_and_add_up() -> None:
    first, second = CountingCache(rows=1), CountingCache(rows=3)
    chores = Chores(
        CachePurge(first, interval_seconds=0.0), CachePurge(second, interval_seconds=0.0)
    )
    assert chores.run_once() == 4
    assert (first.purges, second.purges) == (1, 1)
