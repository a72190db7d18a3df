"""The queue's peer in bench/queue.py: pgqueuer (asyncpg driver), run as its documentation says.

pgqueuer gets its own fresh database on the same server, its schema from its own installer
(`Queries.install`), one asyncpg connection per worker process, `QueueManager.run` with
batch size 10, and a no-op async entrypoint. It is measured exactly as vproc is in
bench/queue.py (bench/measure.py): throughput = jobs / (start signal -> every worker process
exited after draining the queue); pickup = insert commit -> handler start on CLOCK_MONOTONIC.

Usage alone: uv run python bench/peers.py [--jobs 10000] [--database-url URL]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import asyncio
import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.measure import (
    SAMPLE_SPACING_SECONDS,
    WARMUP_SECONDS,
    Pickup,
    clock,
    drain_rate,
    pickup,
    scalar,
)

BATCH_SIZE = 10
ENTRYPOINT = "noop"
# Imports and connections happen before the start signal, outside the measured window.


@dataclass(frozen=True)
class PeerResult:
    name: str
    rates: dict[int, float]  # worker processes -> jobs/s
    pickup: Pickup


def database_url(base: str, dbname: str) -> str:
    """`base` (a postgresql:// URL) pointing at database `dbname` (asyncpg takes URLs only)."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh database on the server of `admin_url`, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


# --- worker process --------------------------------------------------------------------------


def _worker_process(url: str, start: Any, stop: Any, drain: bool, results: Any) -> None:
    started = asyncio.run(_worker(url, start, stop, drain))
    results.put(started)


async def _worker(url: str, start: Any, stop: Any, drain: bool) -> dict[str, float]:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.models import Job
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(url)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    started: dict[str, float] = {}

    @qm.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        started[(job.payload or b"").decode()] = clock()

    await asyncio.to_thread(start.wait)
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=lambda: (stop.wait(), loop.call_soon_threadsafe(qm.shutdown.set)), daemon=True
    ).start()
    await qm.run(
        dequeue_timeout=timedelta(seconds=5),
        batch_size=BATCH_SIZE,
        mode=QueueExecutionMode.drain if drain else QueueExecutionMode.continuous,
    )
    await conn.close()
    return started


# --- parent side -----------------------------------------------------------------------------


async def install(url: str) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(url)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def _enqueue_batch(url: str, count: int) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(url)
    try:
        queries = Queries(AsyncpgDriver(conn))
        await queries.clear_queue()
        await queries.enqueue(
            [ENTRYPOINT] * count, [str(i).encode() for i in range(count)], [0] * count
        )
    finally:
        await conn.close()


def _spawn(url: str, processes: int, drain: bool) -> tuple[list[Any], Any, Any, Any]:
    ctx = mp.get_context("spawn")
    start, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker_process, args=(url, start, stop, drain, results))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    return procs, start, stop, results


def throughput(url: str, jobs: int, processes: int) -> float:
    """jobs/s draining `jobs` queued no-op jobs with `processes` worker processes."""
    asyncio.run(_enqueue_batch(url, jobs))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze pgqueuer")
    procs, start, _stop, results = _spawn(url, processes, drain=True)
    return drain_rate("pgqueuer", procs, start, results, jobs)


class PickupWorker:
    """One idle pgqueuer worker process, woken by its NOTIFY, for pickup samples."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Keep every handle until the child has used it (a collected one breaks the spawn).
        self.procs, self._start, self._stop, self._results = _spawn(url, 1, drain=False)
        self._start.set()

    def finish(self, committed: dict[str, float]) -> Pickup:
        """Wait for the sampled jobs to run, stop the worker, return their pickup latency."""
        deadline = time.monotonic() + 30
        with psycopg.connect(self.url) as conn:
            while time.monotonic() < deadline:  # the last job needs its moment to run
                if scalar(conn, "select count(*) from pgqueuer") == 0:
                    break
                time.sleep(0.05)
        self._stop.set()
        started = self._results.get(timeout=60)
        for p in self.procs:
            p.join(30)
        return pickup(committed, started)


async def connect_enqueuer(url: str) -> Any:
    """pgqueuer's Queries on a new asyncpg connection of its own."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    return Queries(AsyncpgDriver(await asyncpg.connect(url)))


async def enqueue_one(queries: Any, key: str) -> float:
    """Enqueue one job, committed alone; return when the commit was acknowledged."""
    await queries.enqueue(ENTRYPOINT, key.encode())
    return clock()


def pickup_latency(url: str, samples: int) -> Pickup:
    """Insert commit -> handler start for `samples` jobs enqueued one by one to an idle worker."""
    worker = PickupWorker(url)
    time.sleep(WARMUP_SECONDS + 0.5)

    async def enqueue_all() -> dict[str, float]:
        queries = await connect_enqueuer(url)
        committed = {}
        for i in range(samples):
            committed[f"p{i}"] = await enqueue_one(queries, f"p{i}")
            await asyncio.sleep(SAMPLE_SPACING_SECONDS)
        return committed

    return worker.finish(asyncio.run(enqueue_all()))


def run_pgqueuer(
    admin_url: str, jobs: int, process_counts: tuple[int, ...], samples: int
) -> PeerResult:
    """pgqueuer's rates and pickup, in its own fresh database on the server of `admin_url`."""
    with scratch_database(admin_url, "pgqueuer_bench") as url:
        asyncio.run(install(url))
        rates = {n: throughput(url, jobs, n) for n in process_counts}
        return PeerResult("pgqueuer", rates, pickup_latency(url, samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    result = run_pgqueuer(args.database_url, args.jobs, (1, 4), args.samples)
    for n, rate in result.rates.items():
        print(f"pgqueuer {n} worker process(es): {rate:8.0f} jobs/s")
    p = result.pickup
    print(f"pgqueuer pickup: p50 {p.p50_ms:.2f} ms  p95 {p.p95_ms:.2f} ms  ({p.samples} jobs)")


if __name__ == "__main__":
    main()
