"""What a running job costs its row: the progress throttle and the no-op guards, on real Postgres.

Every update of a job row is WAL that Supabase Realtime decodes and checks for every
subscriber, so a job writes at most one update per whole percent of progress and at most one
per second (stage changes included), and never one that changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import psycopg
import pytest

from processor.db.pool import Database
from processor.queue.control import WorkerJobControl
from processor.queue.jobs import Claim, JobQueue
from tests.support.seed import create_user, insert_video_as

WORKER = "writes-worker"

# Counts each update of a job row, and whether it changed anything but updated_at.
COUNTER = """
create table public.test_job_row_updates (changed boolean not null);
create function public.tg_test_count_job_row_update() returns trigger language plpgsql as $$
begin
  insert into public.test_job_row_updates (changed)
  values ((to_jsonb(old) - 'updated_at') is distinct from (to_jsonb(new) - 'updated_at'));
  return null;
end;
$$;
create trigger zz_test_count_updates after update on public.video_jobs
  for each row execute function public.tg_test_count_job_row_update();
"""


@pytest.fixture
def admin(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(COUNTER)
        yield conn


@pytest.fixture
def queue(db_url: str) -> Iterator[JobQueue]:
    with Database(db_url, application_name="vproc-writes:test", max_size=2) as db:
        yield JobQueue(db, worker_id=WORKER, lease_seconds=300, max_attempts=3)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def updates(admin: psycopg.Connection) -> tuple[int, int]:
    """(row updates of video_jobs since the counter was installed, of which changed nothing)."""
    row = admin.execute(
        "select count(*), count(*) filter (where not changed) from public.test_job_row_updates"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def claimed(admin: psycopg.Connection, queue: JobQueue) -> Claim:
    insert_video_as(admin, create_user(admin), "talk.mp4")
    claims = queue.claim(1)
    assert len(claims) == 1
    admin.execute("truncate public.test_job_row_updates")
    return claims[0]


def test_a_progress_stream_writes_at_most_once_per_percent_and_per_second(admin, queue) -> None:
    clock = FakeClock()
    claim = claimed(admin, queue)
    control = WorkerJobControl(claim, queue, min_interval=1.0, clock=clock)
    reports = 3000  # five minutes of reports every 100 ms, flushed as eagerly as possible
    stages = ("audio", "transcribe", "subtitles")
    for i in range(1, reports + 1):
        clock.now += 0.1
        stage = stages[min(len(stages) - 1, (i - 1) * len(stages) // reports)]
        control.report(stage, i / reports)
        if i % 1000 == 0:  # a stage finishes: checkpointed
            control.checkpoint({stage: {"status": "completed"}})
        control.flush()
    for _ in range(5):  # nothing new: flushing again writes nothing
        clock.now += 1.0
        control.flush()

    total, unchanged = updates(admin)
    seconds = reports * 0.1
    assert unchanged == 0
    assert 0 < total <= min(100, math.floor(seconds))
    row = admin.execute(
        "select current_stage, progress, processing_stages from public.video_jobs where id = %s",
        (claim.job_id,),
    ).fetchone()
    assert row is not None
    assert row[0] == "subtitles"
    assert row[1] == pytest.approx(1.0)
    assert set(row[2]) == set(stages)
    assert all(row[2][s] == {"status": "completed"} for s in stages)


def test_a_checkpoint_soon_after_a_write_goes_out_with_the_next_flush(admin, queue) -> None:
    clock = FakeClock()
    claim = claimed(admin, queue)
    control = WorkerJobControl(claim, queue, min_interval=1.0, clock=clock)
    control.report("audio", 0.10)
    control.flush()
    clock.now += 0.2
    control.checkpoint({"audio": {"status": "completed"}})
    assert updates(admin) == (1, 0)
    clock.now += 0.8
    control.flush()
    assert updates(admin) == (2, 0)
    stages = admin.execute(
        "select processing_stages from public.video_jobs where id = %s", (claim.job_id,)
    ).fetchone()
    assert stages is not None and stages[0] == {"audio": {"status": "completed"}}


def test_finish_writes_only_unwritten_stage_entries(admin, queue) -> None:
    clock = FakeClock()
    claim = claimed(admin, queue)
    control = WorkerJobControl(claim, queue, min_interval=1.0, clock=clock)
    control.report("thumbnail", 0.99)
    control.finish()  # progress alone: the completion writes progress itself
    assert updates(admin) == (0, 0)
    control.report("thumbnail", 1.0, {"thumbnail": {"status": "completed"}})
    control.finish()
    assert updates(admin) == (1, 0)


def test_record_progress_that_changes_nothing_updates_nothing(admin, queue) -> None:
    claim = claimed(admin, queue)
    entry = {"probe": {"status": "completed", "detail": {"width": 640}}}
    for _ in range(3):
        queue.record_progress(claim, current_stage="probe", progress=0.25, stages=entry)
    assert updates(admin) == (1, 0)
    # A changed stage entry, or progress, is a change.
    entry = {"probe": {"status": "completed", "detail": {"width": 1280}}}
    queue.record_progress(claim, current_stage="probe", progress=0.25, stages=entry)
    queue.record_progress(claim, current_stage="probe", progress=0.26, stages={})
    assert updates(admin) == (3, 0)
