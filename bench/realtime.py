"""Realtime benchmark: events per job, postgres_changes (every row change) against Broadcast.

Runs N jobs through the real queue functions (claim_jobs, record_progress once a simulated
second, heartbeat every lease/3, complete_job) with WORKER_CONCURRENCY-like slots, on a
simulated clock: each tick is one second of processing, and the Broadcast throttle's last-sent
times move back one second per tick (the trigger reads only those). Prints, per job:
  * before: the row changes of public.video_jobs (insert + every update), each of which
    postgres_changes would stream to every subscribed tab;
  * after: the Broadcast messages the trigger sent (realtime.messages rows), and that every
    job's terminal event is among them;
and what a project's Realtime message limit then sustains, in jobs/s and videos/day.

Usage: uv run python bench/realtime.py [--jobs 500] [--database-url URL]
Without --database-url it uses BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres,
and works in a scratch database it creates and drops.
"""

from __future__ import annotations

import os
import sys

# bench/ holds a queue.py: keep the folder off sys.path so the stdlib `queue` module wins.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from processor.db.migrations import migrate

# Share of a job's time per stage (transcription dominates), in pipeline order.
STAGES = (
    ("probe", 0.02),
    ("audio", 0.08),
    ("transcribe", 0.60),
    ("subtitles", 0.05),
    ("metadata", 0.20),
    ("thumbnail", 0.05),
)
LEASE_SECONDS = 300
WORKER = "bench-realtime"
# Realtime messages per second by plan (supabase.com/docs/guides/realtime/limits).
PLAN_MESSAGES_PER_SECOND = {"Free": 100, "Pro": 500, "Pro, no spend cap": 2500}


@dataclass
class Running:
    job_id: int
    token: str
    seconds: int
    tick: int = 0
    writes: list[int] = field(default_factory=list)


def stage_at(fraction: float) -> str:
    edge = 0.0
    for name, share in STAGES:
        edge += share
        if fraction < edge:
            return name
    return STAGES[-1][0]


def job_row_changes(conn: psycopg.Connection) -> int:
    conn.execute("select pg_stat_force_next_flush()")
    row = conn.execute(
        "select n_tup_ins + n_tup_upd from pg_stat_user_tables"
        " where schemaname = 'public' and relname = 'video_jobs'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def run(url: str, *, jobs: int, concurrency: int, min_s: int, max_s: int, seed: int) -> None:
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        users = [uuid.uuid4() for _ in range(max(1, jobs // 10))]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into auth.users (id, aud, role, email)"
                " values (%s, 'authenticated', 'authenticated', %s)",
                [(u, f"{u}@bench.test") for u in users],
            )
        changes_before = job_row_changes(conn)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into public.videos (uploader_user_id, storage_path) values (%s, %s)",
                [
                    (u, f"{u}/{uuid.uuid4()}/v.mp4")
                    for u in (users[i % len(users)] for i in range(jobs))
                ],
            )
        conn.execute("set role vproc_processor")
        admin = psycopg.connect(url, autocommit=True)

        running: dict[int, Running] = {}
        done = 0
        ticks = 0
        started = time.perf_counter()
        while done < jobs:
            free = concurrency - len(running)
            if free > 0:
                for job_id, token in conn.execute(
                    "select id, claim_token"
                    " from processor.claim_jobs(%s, %s::integer, %s::integer)",
                    (WORKER, free, LEASE_SECONDS),
                ).fetchall():
                    running[job_id] = Running(job_id, str(token), rng.randint(min_s, max_s))
            ticks += 1
            finished: list[Running] = []
            with conn.pipeline(), conn.cursor() as cur:
                for job in running.values():
                    job.tick += 1
                    if job.tick >= job.seconds:
                        cur.execute(
                            "select processor.complete_job(%s::bigint, %s::uuid)",
                            (job.job_id, job.token),
                        )
                        finished.append(job)
                        continue
                    fraction = job.tick / job.seconds
                    cur.execute(
                        "select processor.record_progress(%s::bigint, %s::uuid, %s, %s::real)",
                        (job.job_id, job.token, stage_at(fraction), fraction),
                    )
                    if job.tick % (LEASE_SECONDS // 3) == 0:
                        cur.execute(
                            "select * from processor.heartbeat(%s::bigint, %s::uuid, %s)",
                            (job.job_id, job.token, LEASE_SECONDS),
                        )
            for job in finished:
                del running[job.job_id]
                done += 1
            # One simulated second passes for the throttle.
            admin.execute(
                "update processor.job_broadcasts set sent_at = sent_at - interval '1 second'"
                " where job_id = any(%s)",
                (list(running),),
            )
        elapsed = time.perf_counter() - started
        conn.execute("reset role")

        changes = job_row_changes(conn) - changes_before
        per_job = conn.execute(
            "select count(*), bool_or(payload ->> 'status' = 'COMPLETED')"
            " from realtime.messages where event = 'job_updated'"
            " group by payload ->> 'id'"
        ).fetchall()
        admin.close()

    counts = [n for n, _ in per_job]
    terminal = sum(1 for _, has_end in per_job if has_end)
    before = changes / jobs
    after = statistics.fmean(counts)
    print(
        f"{jobs} jobs, {min_s}-{max_s} s each, {concurrency} at a time: {ticks} simulated s"
        f" in {elapsed:.1f} s"
    )
    print(f"before (postgres_changes, one per job row change): {before:.1f} events/job")
    print(
        f"after (Broadcast): {after:.1f} events/job (min {min(counts)}, median"
        f" {statistics.median(counts):g}, max {max(counts)}), terminal event sent for"
        f" {terminal}/{len(counts)} jobs"
    )
    print(f"ratio before/after: {before / after:.1f}x fewer events")
    print("one open tab per job; sustained jobs/s and videos/day at the plan's messages/s:")
    for plan, limit in PLAN_MESSAGES_PER_SECOND.items():
        print(
            f"  {plan:18} {limit:5}/s  before {limit / before:8.2f} jobs/s"
            f" ({limit / before * 86400:12,.0f}/day)  after {limit / after:8.2f} jobs/s"
            f" ({limit / after * 86400:12,.0f}/day)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--min-seconds", type=int, default=60)
    parser.add_argument("--max-seconds", type=int, default=900)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    base = (
        args.database_url
        or os.environ.get("BENCH_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"vproc_bench_rt_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        url = make_conninfo(base, dbname=name)
        migrate(url)
        run(
            url,
            jobs=args.jobs,
            concurrency=args.concurrency,
            min_s=args.min_seconds,
            max_s=args.max_seconds,
            seed=args.seed,
        )
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
