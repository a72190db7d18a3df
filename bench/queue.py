"""Queue benchmark: no-op jobs through the real Worker, claim_jobs and complete_job.

Prints, in one run on one machine (so ratios are comparable even when the machine is noisy):
  * throughput (jobs/s) with 1, 2 and 4 worker processes, batched claims, and the ratios;
  * insert -> claim pickup latency p50/p95 (database clock: started_at - created_at) for a
    worker woken by NOTIFY and for one that only polls, and their ratio;
  * fairness: user A floods the queue with 1,000 jobs; once the workers are busy with them,
    user B inserts one job. B's wait is counted in jobs of A claimed after B's insert and
    before B's job (round-robin claiming keeps it near zero; first come, first served makes
    it "the rest of A's flood").

Usage: uv run python bench/queue.py [--jobs 20000] [--database-url URL]
Without --database-url it uses BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres,
and works in a scratch database it creates and drops.
"""

from __future__ import annotations

import os
import sys

# This file is named queue.py: keep its folder off sys.path so the stdlib `queue` module wins.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import multiprocessing as mp
import statistics
import time
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from processor.db.migrations import migrate
from processor.db.pool import Database
from processor.pipeline.contract import JobControl, JobInfo
from processor.queue.worker import Worker, WorkerOptions


class NoopPipeline:
    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        return {}


def _worker_process(
    url: str,
    index: int,
    concurrency: int,
    start: Any,
    listen: bool,
    poll: float,
    until_empty: bool,
    stop: Any,
) -> None:
    import threading

    with Database(
        url, application_name=f"vproc-bench:{index}", max_size=min(concurrency, 8) + 2
    ) as db:
        options = WorkerOptions(
            worker_id=f"bench-{index}",
            concurrency=concurrency,
            lease_seconds=300,
            max_attempts=3,
            poll_interval=poll,
            progress_interval=1.0,
            reap_interval=60,
            until_empty=until_empty,
            listen=listen,
            shutdown_timeout=5,
        )
        worker = Worker(db, NoopPipeline(), options)

        def stop_when_told() -> None:
            stop.wait()
            worker.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
        start.wait()
        worker.run()


def _enqueue(conn: psycopg.Connection, user: uuid.UUID, count: int) -> None:
    conn.execute(
        "insert into public.videos (uploader_user_id, storage_path)"
        " select %s, %s || '/' || gen_random_uuid() || '.mp4' from generate_series(1, %s)",
        (user, str(user), count),
    )


def throughput(url: str, user: uuid.UUID, jobs: int, processes: int, concurrency: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from public.videos")
        _enqueue(conn, user, jobs)
        conn.execute("vacuum analyze public.video_jobs")
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(
            target=_worker_process, args=(url, i, concurrency, start, True, 0.05, True, stop)
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # imports and pool connections, outside the measured window
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - began
    with psycopg.connect(url) as conn:
        done = conn.execute(
            "select count(*) from public.video_jobs where status = 'COMPLETED'"
        ).fetchall()[0][0]
    if done != jobs:
        raise SystemExit(f"only {done} of {jobs} jobs completed")
    return jobs / elapsed


def pickup_latency(
    url: str, user: uuid.UUID, samples: int, *, listen: bool, poll: float
) -> tuple[float, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from public.videos")
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_worker_process, args=(url, 0, 4, start, listen, poll, False, stop))
    proc.start()
    start.set()
    time.sleep(2.5)
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(samples):
            _enqueue(conn, user, 1)
            time.sleep(0.03)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pending = conn.execute(
                "select count(*) from public.video_jobs where status <> 'COMPLETED'"
            ).fetchall()[0][0]
            if pending == 0:
                break
            time.sleep(0.05)
        rows = conn.execute(
            "select extract(epoch from started_at - created_at) * 1000 from public.video_jobs"
        ).fetchall()
    stop.set()
    proc.join(30)
    latencies = sorted(float(r[0]) for r in rows)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return p50, p95


def _new_user(conn: psycopg.Connection) -> uuid.UUID:
    user = uuid.uuid4()
    conn.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@bench.test"))
    return user


def fairness(url: str, flood: int, processes: int, concurrency: int) -> tuple[int, int]:
    """(jobs of A claimed after B's insert and before B's job, jobs of A left when B came)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from public.videos")
        user_a, user_b = _new_user(conn), _new_user(conn)
        _enqueue(conn, user_a, flood)
        conn.execute("vacuum analyze public.video_jobs")
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(
            target=_worker_process, args=(url, i, concurrency, start, True, 0.05, True, stop)
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)
    start.set()
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "select count(*) from public.video_jobs where status <> 'PENDING'"
        ).fetchall()[0][0] < min(flood // 10, 100):
            time.sleep(0.001)
        _enqueue(conn, user_b, 1)
        for p in procs:
            p.join()
        waited, left = conn.execute(
            "select count(*) filter (where a.started_at > b.created_at"
            "                        and a.started_at < b.started_at),"
            "  count(*) filter (where a.started_at > b.created_at)"
            " from public.video_jobs as a, public.video_jobs as b"
            " where a.owner_id = %s and b.owner_id = %s",
            (user_a, user_b),
        ).fetchall()[0]
    return int(waited), int(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()

    name = f"vproc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(args.database_url, dbname=name)
    try:
        migrate(url)
        user = uuid.uuid4()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "insert into auth.users (id, email) values (%s, 'bench@example.test')", (user,)
            )
        print(
            f"queue benchmark: {args.jobs} no-op jobs, {os.cpu_count()} CPUs, "
            f"concurrency {args.concurrency} per worker process"
        )
        rates = {}
        for processes in (1, 2, 4):
            rates[processes] = throughput(url, user, args.jobs, processes, args.concurrency)
            print(
                f"  {processes} worker(s): {rates[processes]:8.0f} jobs/s"
                f"   ({rates[processes] / rates[1]:.2f}x of 1 worker)"
            )
        notify = pickup_latency(url, user, args.samples, listen=True, poll=5.0)
        polled = pickup_latency(url, user, args.samples, listen=False, poll=1.0)
        print(f"  pickup with NOTIFY   : p50 {notify[0]:7.1f} ms   p95 {notify[1]:7.1f} ms")
        print(f"  pickup polling (1 s) : p50 {polled[0]:7.1f} ms   p95 {polled[1]:7.1f} ms")
        print(f"  NOTIFY / polling p50 ratio: {notify[0] / polled[0]:.3f}")
        for processes in (1, 4):
            waited, left = fairness(url, 1000, processes, args.concurrency)
            print(
                f"  fairness, {processes} worker(s): user B waited {waited} of user A's jobs"
                f" ({left} of A's 1000 were still to be claimed when B inserted)"
            )
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
