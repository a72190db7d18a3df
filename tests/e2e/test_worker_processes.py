"""Real `vproc run` processes against real Postgres: chaos, SIGTERM, --until-empty."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.seed import create_user
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
VPROC = shutil.which("vproc", path=str(Path(sys.executable).parent)) or "vproc"


def enqueue(admin: psycopg.Connection, count: int) -> None:
    user = create_user(admin)
    admin.execute(
        "insert into public.videos (uploader_user_id, storage_path, original_filename)"
        " select %s, %s || '/' || g || '.mp4', g || '.mp4' from generate_series(1, %s) g",
        (user, str(user), count),
    )


def record_completions(admin: psycopg.Connection) -> None:
    """Log every write that leaves a job COMPLETED: the record that no job is committed twice."""
    admin.execute("""
        create table public.chaos_completions (job_id bigint, attempts int, locked_by text,
                                               at timestamptz default clock_timestamp());
        create function public.tg_chaos_completed() returns trigger language plpgsql as $$
        begin
          insert into public.chaos_completions (job_id, attempts, locked_by)
          values (new.id, new.attempts,
                  (select l.locked_by from processor.job_leases as l where l.job_id = new.id));
          return null;
        end $$;
        create trigger chaos_completed after update of status on public.video_jobs
          for each row when (new.status = 'COMPLETED')
          execute function public.tg_chaos_completed();
    """)


def start_worker(
    db_url: str,
    tmp_path: Path,
    *extra: str,
    step_seconds: float = 0.02,
    lease_seconds: int = 10,
    stderr: int | None = subprocess.PIPE,
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JOB_LEASE_SECONDS": str(lease_seconds),
        "VPROC_TEST_STEP_SECONDS": str(step_seconds),
        "VPROC_TEST_WORK_LOG": str(tmp_path / "work.log"),
    }
    return subprocess.Popen(
        [
            VPROC,
            "--log-format",
            "json",
            "run",
            "--database-url",
            db_url,
            "--pipeline",
            "tests.support.pipelines:ChaosPipeline",
            "--poll-interval",
            "0.2",
            *extra,
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def count(admin: psycopg.Connection, sql: str) -> int:
    return admin.execute(sql).fetchone()[0]


def stop_all(workers: list[subprocess.Popen[str]]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(30)
        except subprocess.TimeoutExpired:
            w.kill()


@pytest.mark.slow
def test_chaos_sigkilled_workers_lose_and_double_nothing(admin, db_url, tmp_path) -> None:
    jobs = 200
    enqueue(admin, jobs)
    record_completions(admin)
    rng = random.Random(7)
    logs = tmp_path / "logs"
    logs.mkdir()

    def spawn(n: int) -> subprocess.Popen[str]:
        with (logs / f"chaos-{n}.log").open("w") as log:
            return start_worker(
                db_url,
                tmp_path,
                "--concurrency",
                "2",
                "--worker-id",
                f"chaos-{n}",
                stderr=log.fileno(),
            )

    workers = [spawn(n) for n in range(3)]
    kills = 0
    try:
        # A worker frozen past its lease (a long GC pause, a stopped VM) and then thawed is
        # the dangerous one: it is alive, believes it holds jobs, and must be fenced out.
        wait_until(
            lambda: (
                count(
                    admin, "select count(*) from processor.job_leases where locked_by = 'chaos-0'"
                )
                > 0
            ),
            timeout=30,
            what="chaos-0 holding a job",
        )
        workers[0].send_signal(signal.SIGSTOP)
        wait_until(
            lambda: (
                count(
                    admin, "select count(*) from processor.job_leases where locked_by = 'chaos-0'"
                )
                == 0
            ),
            timeout=60,
            what="chaos-0's jobs reclaimed while it is frozen",
        )
        workers[0].send_signal(signal.SIGCONT)
        for _ in range(6):
            wait_until(
                lambda: (
                    count(
                        admin, "select count(*) from public.video_jobs where status = 'PROCESSING'"
                    )
                    > 0
                    or count(
                        admin, "select count(*) from public.video_jobs where status = 'PENDING'"
                    )
                    == 0
                ),
                timeout=30,
                what="workers busy before the next kill",
            )
            alive = [w for w in workers if w.poll() is None]
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            kills += 1
            newcomer = f"chaos-{len(workers)}"
            workers.append(spawn(len(workers)))
            wait_until(
                lambda name=newcomer: admin.execute(
                    "select count(*) from pg_stat_activity where datname = current_database()"
                    " and application_name like %s",
                    (f"vproc-%:{name}",),
                ).fetchone()[0],
                timeout=30,
                what=f"{newcomer} connected before the next kill",
            )
        wait_until(
            lambda: (
                count(admin, "select count(*) from public.video_jobs where status = 'COMPLETED'")
                == jobs
            ),
            timeout=120,
            what=f"all {jobs} jobs COMPLETED after {kills} SIGKILLs",
        )
    finally:
        stop_all(workers)
    assert '"event": "lease.lost"' in (logs / "chaos-0.log").read_text()
    assert count(admin, "select count(*) from public.video_jobs where status <> 'COMPLETED'") == 0
    # Every job was committed exactly once, by the claim that ran last.
    assert count(admin, "select count(*) from public.chaos_completions") == jobs
    assert count(admin, "select count(distinct job_id) from public.chaos_completions") == jobs
    assert count(admin, "select count(*) from public.video_metadata") == jobs
    assert (
        count(
            admin,
            "select count(*) from public.video_metadata m join public.video_jobs j"
            " on j.id = m.job_id where m.title not like '% attempt ' || j.attempts",
        )
        == 0
    )
    lines = (tmp_path / "work.log").read_text().splitlines()
    assert len(lines) >= jobs
    # The kills did interrupt work: some jobs needed a second attempt.
    assert count(admin, "select count(*) from public.video_jobs where attempts > 1") > 0


def test_sigterm_finishes_or_releases_and_never_leaves_processing(admin, db_url, tmp_path) -> None:
    enqueue(admin, 2)
    # Long steps (3 x 2 s) and a short grace: the running jobs are handed back.
    worker = start_worker(
        db_url, tmp_path, "--concurrency", "2", "--shutdown-timeout", "0.5", step_seconds=2.0
    )
    try:
        wait_until(
            lambda: (
                count(admin, "select count(*) from public.video_jobs where status = 'PROCESSING'")
                == 2
            ),
            timeout=30,
            what="both jobs PROCESSING",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        stop_all([worker])
    rows = admin.execute(
        "select j.status, j.attempts, l.locked_by from public.video_jobs as j"
        " left join processor.job_leases as l on l.job_id = j.id"
    ).fetchall()
    assert rows == [("PENDING", 0, None), ("PENDING", 0, None)]
    stderr = worker.stderr.read() if worker.stderr else ""
    assert '"event": "job.released"' in stderr


def test_sigterm_lets_a_short_job_finish(admin, db_url, tmp_path) -> None:
    enqueue(admin, 1)
    worker = start_worker(db_url, tmp_path, "--shutdown-timeout", "20", step_seconds=0.5)
    try:
        wait_until(
            lambda: (
                count(admin, "select count(*) from public.video_jobs where status = 'PROCESSING'")
                == 1
            ),
            timeout=30,
            what="the job PROCESSING",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        stop_all([worker])
    assert admin.execute("select status from public.video_jobs").fetchall() == [("COMPLETED",)]


def test_until_empty_drains_the_queue_and_exits_zero(admin, db_url, tmp_path) -> None:
    enqueue(admin, 5)
    worker = start_worker(db_url, tmp_path, "--until-empty", "--concurrency", "3")
    assert worker.wait(60) == 0
    assert admin.execute(
        "select status, count(*) from public.video_jobs group by 1"
    ).fetchall() == [("COMPLETED", 5)]
