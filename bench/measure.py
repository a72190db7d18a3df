"""How bench/queue.py and bench/peers.py measure, written once so both queues get the same rule.

Pickup latency is insert commit -> handler start on one clock: CLOCK_MONOTONIC, which Linux
shares between processes. The enqueuer reads it right after its autocommit INSERT returns
(the commit is acknowledged); the handler reads it first thing when it is called. So a
pickup is what a user waits between "my row is committed" and "my job runs".
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

# Worker processes start (imports, connections) for this long before the timed window opens.
WARMUP_SECONDS = 2.0

# Between two pickup samples: long enough that each job meets an idle worker.
SAMPLE_SPACING_SECONDS = 0.03


def scalar(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the statement's one row."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"no row from: {sql}")
    return row[0]


def clock() -> float:
    """The shared reference, in seconds (CLOCK_MONOTONIC, the same in every process)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Pickup:
    """Pickup latency, insert commit -> handler start, in milliseconds."""

    p50_ms: float
    p95_ms: float
    samples: int


def pickup(committed: Mapping[str, float], started: Mapping[str, float]) -> Pickup:
    """Latencies of the jobs in `committed` (key -> commit time) from `started` (key -> start)."""
    missing = set(committed) - set(started)
    if missing:
        raise SystemExit(f"{len(missing)} of {len(committed)} sampled jobs never started")
    latencies = [(started[k] - committed[k]) * 1000 for k in committed]
    return Pickup(statistics.median(latencies), percentile(latencies, 0.95), len(latencies))


def drain_rate(name: str, procs: list[Any], start: Any, results: Any, jobs: int) -> float:
    """jobs/s of worker processes draining `jobs` queued jobs: the window opens when `start`
    is set after the warm-up and closes when every process has exited; each process puts
    the {job key: start time} of the jobs it ran on `results`."""
    time.sleep(WARMUP_SECONDS)
    began = time.perf_counter()
    start.set()
    seen: dict[str, float] = {}
    for _ in procs:
        seen.update(results.get(timeout=600))
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - began
    if len(seen) != jobs:
        raise SystemExit(f"{name} ran {len(seen)} of {jobs} jobs")
    return jobs / elapsed
