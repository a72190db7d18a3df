"""The worker in-process, against real Postgres: lifecycle, failures, cancel, leases, shutdown."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request

import psycopg
import pytest

from processor.ai.cache import AICache
from processor.commands.run import run_worker
from processor.config import Settings
from processor.db.listener import listen_unsupported_reason
from processor.db.pool import Database
from processor.errors import (
    InvalidMediaError,
    JobCancelledError,
    LeaseLostError,
    ShutdownRequestedError,
    SideTaskDied,
    SourceMissingError,
    StorageUnavailableError,
    VprocError,
)
from processor.queue.assembly import build_worker
from processor.queue.worker import Worker, WorkerOptions
from processor.services import Services
from tests.support.pipelines import BlockingPipeline, StepPipeline
from tests.support.seed import create_user, insert_video_as
from tests.support.waiting import wait_until


def options(**overrides: object) -> WorkerOptions:
    base: dict[str, object] = {
        "worker_id": "test-worker",
        "concurrency": 2,
        "lease_seconds": 30,
        "max_attempts": 3,
        "poll_interval": 0.05,
        "reap_interval": 0.2,
        "progress_interval": 0.05,
        "shutdown_timeout": 5.0,
        "until_empty": True,
    }
    base.update(overrides)
    return WorkerOptions(**base)  # type: ignore[arg-type]


def add_jobs(admin: psycopg.Connection, count: int) -> list[int]:
    """`count` jobs of one new user: inserted as the user, or (past the user's quota of active
    jobs) by the database owner, whom quotas do not limit."""
    user = create_user(admin)
    if count <= 5:
        return [insert_video_as(admin, user, f"v{i}.mp4")[1] for i in range(count)]
    admin.execute(
        "insert into public.videos (uploader_user_id, storage_path)"
        " select %s, %s || '/v' || g || '.mp4' from generate_series(1, %s) g",
        (user, str(user), count),
    )
    rows = admin.execute(
        "select id from public.video_jobs where owner_id = %s order by id", (user,)
    ).fetchall()
    return [r[0] for r in rows]


def job_row(admin: psycopg.Connection, job_id: int) -> dict:
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    row = cur.execute(
        "select j.*, l.locked_by, l.locked_until, l.claim_token"
        " from public.video_jobs as j left join processor.job_leases as l on l.job_id = j.id"
        " where j.id = %s",
        (job_id,),
    ).fetchone()
    assert row is not None
    return row


class Background:
    """Run a worker in a thread; join it with a timeout."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"
        if self.error:
            raise self.error


def test_runs_every_job_to_completion(admin, db) -> None:
    ids = add_jobs(admin, 5)
    pipeline = StepPipeline()
    Worker(db, pipeline, options()).run()
    for job_id in ids:
        row = job_row(admin, job_id)
        assert (row["status"], row["progress"], row["attempts"], row["locked_by"]) == (
            "COMPLETED",
            1.0,
            1,
            None,
        )
        assert row["processing_stages"]["work"]["status"] == "completed"
        meta = admin.execute(
            "select title, tags, extracted_video_resolution from"
            " public.video_metadata where job_id = %s",
            (job_id,),
        ).fetchone()
        assert meta[0].startswith("video ") and meta[1:] == (["fake"], "640x360")
    assert sorted(j for j, _ in pipeline.runs) == sorted(ids)


def test_permanent_error_fails_at_once(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(fail=lambda job: InvalidMediaError("not a video: header is PNG"))
    Worker(db, pipeline, options()).run()
    row = job_row(admin, job_id)
    assert (row["status"], row["error_code"], row["error_message"], row["attempts"]) == (
        "FAILED",
        "invalid_media",
        "not a video: header is PNG",
        1,
    )


def test_transient_error_is_retried_with_backoff_then_succeeds(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(
        fail=lambda job: StorageUnavailableError("storage 503") if job.attempt == 1 else None
    )
    Worker(db, pipeline, options()).run()
    row = job_row(admin, job_id)
    assert (row["status"], row["error_code"], row["attempts"]) == (
        "PENDING",
        "storage_unavailable",
        1,
    )
    assert row["run_after"] > row["updated_at"]
    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    Worker(db, pipeline, options()).run()
    row = job_row(admin, job_id)
    assert (row["status"], row["attempts"], row["error_code"]) == ("COMPLETED", 2, None)


def test_out_of_attempts_fails(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(fail=lambda job: StorageUnavailableError("storage 503"))
    for _ in range(2):
        Worker(db, pipeline, options(max_attempts=2)).run()
        admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    row = job_row(admin, job_id)
    assert (row["status"], row["attempts"], row["error_code"]) == (
        "FAILED",
        2,
        "storage_unavailable",
    )


def test_unexpected_exception_is_an_internal_retryable_error_in_one_line(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(fail=lambda job: KeyError("boom\nwith a second line"))
    Worker(db, pipeline, options()).run()
    row = job_row(admin, job_id)
    assert (row["status"], row["error_code"]) == ("PENDING", "internal")
    # The exception's text is for the worker's log; the owner reads the generic line.
    assert row["error_message"] == VprocError.__doc__
    assert "boom" not in row["error_message"] and "KeyError" not in row["error_message"]


def test_missing_video_row_source_error_is_permanent(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(fail=lambda job: SourceMissingError(f"{job.storage_path} is missing"))
    Worker(db, pipeline, options()).run()
    assert job_row(admin, job_id)["error_code"] == "source_missing"


def test_owner_cancels_a_running_job(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = BlockingPipeline()
    bg = Background(Worker(db, pipeline, options(lease_seconds=1)))
    assert pipeline.started.wait(10)
    owner = job_row(admin, job_id)["owner_id"]
    with admin.transaction():
        admin.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(owner), "role": "authenticated"}),),
        )
        admin.execute("select public.cancel_video_job(%s)", (job_id,))
    bg.join()
    row = job_row(admin, job_id)
    assert (row["status"], row["error_code"], row["locked_by"]) == ("CANCELLED", "cancelled", None)
    assert isinstance(pipeline.stopped_with, JobCancelledError)


def test_a_worker_that_lost_its_lease_writes_nothing(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = BlockingPipeline()
    bg = Background(Worker(db, pipeline, options(lease_seconds=1, worker_id="slow")))
    assert pipeline.started.wait(10)
    # The lease runs out (e.g. a long GC pause) and another worker claims the job.
    # One transaction, so a heartbeat cannot slip in between expiry and the new claim.
    with admin.transaction():
        admin.execute(
            "update processor.job_leases set locked_until = now() - interval '1s' where job_id = %s",
            (job_id,),
        )
        stolen = admin.execute(
            "select attempts from processor.claim_jobs('thief', 1, 600)"
        ).fetchall()
    assert stolen == [(2,)]
    assert pipeline.finished.wait(10), "the lease loss never reached the pipeline"
    bg.join()
    row = job_row(admin, job_id)
    assert (row["status"], row["locked_by"], row["attempts"]) == ("PROCESSING", "thief", 2)
    assert admin.execute("select count(*) from public.video_metadata").fetchone() == (0,)
    assert isinstance(pipeline.stopped_with, LeaseLostError)


def test_shutdown_lets_running_jobs_finish(admin, db, caplog) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = BlockingPipeline()
    worker = Worker(db, pipeline, options(until_empty=False, shutdown_timeout=10))
    caplog.set_level(logging.INFO, logger="processor.queue.worker")
    bg = Background(worker)
    assert pipeline.started.wait(10)
    worker.stop()
    wait_until(
        lambda: any(getattr(r, "event", None) == "worker.draining" for r in caplog.records),
        what="the worker to start draining",
    )
    pipeline.release.set()
    bg.join()
    assert job_row(admin, job_id)["status"] == "COMPLETED"


def test_shutdown_releases_unfinished_jobs_without_spending_an_attempt(admin, db) -> None:
    ids = add_jobs(admin, 2)
    pipeline = BlockingPipeline()
    worker = Worker(db, pipeline, options(until_empty=False, shutdown_timeout=0.2))
    bg = Background(worker)
    wait_until(lambda: len(worker.running_jobs) == 2, what="both jobs running")
    worker.stop()
    bg.join()
    for job_id in ids:
        row = job_row(admin, job_id)
        assert (row["status"], row["attempts"], row["locked_by"]) == ("PENDING", 0, None)
    assert isinstance(pipeline.stopped_with, ShutdownRequestedError)


def test_shutdown_releases_a_job_stuck_in_native_code_and_fences_it_out(admin, db) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = BlockingPipeline(honour_stops=False)
    worker = Worker(db, pipeline, options(until_empty=False, shutdown_timeout=0.1))
    bg = Background(worker)
    assert pipeline.started.wait(10)
    worker.stop()
    bg.join(timeout=30)
    assert job_row(admin, job_id)["status"] == "PENDING"
    pipeline.release.set()  # the stuck work finally returns: its completion must be refused
    assert pipeline.finished.wait(5)
    wait_until(
        lambda: worker.metrics.registry.get_sample_value("vproc_leases_lost_total") == 1,
        what="the stuck job's late completion to be fenced out",
    )
    row = job_row(admin, job_id)
    assert (row["status"], row["attempts"]) == ("PENDING", 0)
    assert admin.execute("select count(*) from public.video_metadata").fetchone() == (0,)


def test_progress_writes_are_throttled(admin, db, db_url) -> None:
    [job_id] = add_jobs(admin, 1)
    pipeline = StepPipeline(steps=400, step_seconds=0.005)  # ~2 s, 400 reports
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("listen vproc_job_changes")
        started = time.monotonic()
        Worker(db, pipeline, options(progress_interval=1.0)).run()
        elapsed = time.monotonic() - started
        changes = [
            n for n in listener.notifies(timeout=0.5) if json.loads(n.payload)["id"] == job_id
        ]
    # claim + ~1 write per second + checkpoint + completion, never one per report
    assert len(changes) <= elapsed + 4, (len(changes), elapsed)
    assert job_row(admin, job_id)["status"] == "COMPLETED"


def test_notify_wakes_an_idle_worker_long_before_the_poll(admin, db) -> None:
    pipeline = StepPipeline(steps=1)
    worker = Worker(db, pipeline, options(until_empty=False, poll_interval=30))
    bg = Background(worker)
    first_claim_after = worker.last_claim_ok
    wait_until(
        lambda: (
            admin.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and application_name = 'vproc-listener:test-worker' and query ilike 'listen %%'"
            ).fetchone()[0]
            == 1
        ),
        what="the listener to LISTEN",
    )
    # The job must arrive after the first (empty) claim, so only the NOTIFY can wake the worker.
    wait_until(lambda: worker.last_claim_ok > first_claim_after, what="the first claim")
    [job_id] = add_jobs(admin, 1)
    started = time.monotonic()
    wait_until(
        lambda: job_row(admin, job_id)["status"] == "COMPLETED",
        timeout=10,
        what="the notified job to complete",
    )
    assert time.monotonic() - started < 5
    worker.stop()
    bg.join()


def test_worker_survives_the_database_killing_its_connections(admin, db) -> None:
    ids = add_jobs(admin, 30)
    pipeline = StepPipeline(steps=4, step_seconds=0.05)
    worker = Worker(db, pipeline, options(until_empty=False, lease_seconds=3))
    bg = Background(worker)
    killed = 0
    for _ in range(5):  # five rounds of pg_terminate_backend on every vproc connection
        wait_until(lambda: worker.running_jobs, what="a job running before the next kill")
        killed += admin.execute(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name like 'vproc-%%' and datname = current_database()"
            " and pid <> pg_backend_pid()) t"
        ).fetchone()[0]
        wait_until(
            lambda: (
                admin.execute(
                    "select count(*) from pg_stat_activity where datname = current_database()"
                    " and application_name like 'vproc-%%'"
                ).fetchone()[0]
                > 0
            ),
            what="the worker to reconnect after the kill",
        )
    wait_until(
        lambda: (
            admin.execute(
                "select count(*) from public.video_jobs where status = 'COMPLETED'"
            ).fetchone()[0]
            == len(ids)
        ),
        timeout=60,
        what="every job to complete after the connection kills",
    )
    worker.stop()
    bg.join()
    assert killed >= 5
    statuses = admin.execute("select status, count(*) from public.video_jobs group by 1").fetchall()
    assert statuses == [("COMPLETED", len(ids))]


def test_a_running_worker_reaps_an_expired_lease_with_no_attempts_left(admin, db) -> None:
    """A worker whose process died left a lease behind; the reaper of a live worker settles it."""
    [job_id] = add_jobs(admin, 1)
    dead = admin.execute("select attempts from processor.claim_jobs('dead-worker', 1, 600, 1)")
    assert dead.fetchall() == [(1,)]
    admin.execute(
        "update processor.job_leases set locked_until = now() - interval '1s' where job_id = %s",
        (job_id,),
    )
    worker = Worker(db, StepPipeline(), options(until_empty=False, reap_interval=0.05))
    bg = Background(worker)
    try:
        wait_until(
            lambda: job_row(admin, job_id)["status"] == "FAILED",
            timeout=10,
            what="the reaper to settle the dead worker's job",
        )
    finally:
        worker.stop()
        bg.join()
    row = job_row(admin, job_id)
    assert (row["error_code"], row["locked_by"], row["attempts"]) == ("lease_expired", None, 1)


@pytest.mark.timeout(20)
def test_a_dead_side_task_stops_the_worker(admin, db) -> None:
    worker = Worker(db, StepPipeline(), options(until_empty=False, reap_interval=0.05))

    def explode() -> list:
        raise RuntimeError("reaper bug")

    worker.queue.reap = explode  # type: ignore[method-assign]
    with pytest.raises(SideTaskDied, match="reaper bug"):
        worker.run()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres", "transaction pooler"),
        ("postgresql://u:p@db.abc.supabase.co:5432/postgres", None),
        ("postgresql://u@h/db?options=-c%20pgbouncer%3Dtrue", "PgBouncer"),
    ],
)
def test_listen_is_not_attempted_behind_a_transaction_pooler(url: str, reason: str | None) -> None:
    found = listen_unsupported_reason(url)
    assert (found is None) if reason is None else (reason in found)


def test_worker_runs_with_only_the_processor_role(admin, db_url) -> None:
    """Production setup: a login role that is a member of vproc_processor and nothing more."""
    import uuid

    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    role = f"vproc_worker_{uuid.uuid4().hex[:8]}"
    admin.execute(
        sql.SQL("create role {} login in role vproc_processor").format(sql.Identifier(role))
    )
    try:
        ids = add_jobs(admin, 3)
        pipeline = StepPipeline()
        with Database(
            make_conninfo(db_url, user=role), application_name="vproc-worker:role", max_size=3
        ) as limited:
            Worker(limited, pipeline, options()).run()
        statuses = {job_row(admin, i)["status"] for i in ids}
        assert statuses == {"COMPLETED"}
        assert admin.execute("select count(*) from public.video_metadata").fetchone() == (3,)
    finally:
        admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_metrics_and_health_endpoints(admin, db) -> None:
    import socket

    import httpx

    from processor.metrics import Metrics, serve

    add_jobs(admin, 2)
    metrics = Metrics()
    worker = Worker(db, StepPipeline(), options(), metrics=metrics)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = serve(metrics, port, worker.health)
    try:
        worker.run()
        base = f"http://127.0.0.1:{port}"
        body = httpx.get(f"{base}/metrics", timeout=5).text
        assert "vproc_jobs_claimed_total 2.0" in body
        assert "vproc_jobs_completed_total 2.0" in body
        assert "vproc_job_duration_seconds_count 2.0" in body
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200 and health.text.startswith("ok")
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
    finally:
        server.shutdown()


def step_pipeline(settings: Settings) -> StepPipeline:
    """A `--pipeline` factory for build_worker."""
    return StepPipeline()


def test_a_running_worker_purges_expired_ai_cache_rows(admin, db, db_url, tmp_path) -> None:
    """The reaper deletes expired AI cache rows (at most every few minutes) and keeps the rest."""
    cache = AICache(db.connection, ttl_seconds=3600)
    expired, fresh = "e" * 64, "f" * 64
    for key in (expired, fresh):
        cache.put(key, {"k": key[0]}, kind="metadata", provider="p", model="m", prompt_version="1")
    admin.execute(
        "update processor.ai_cache set created_at = now() - interval '2 hours',"
        " expires_at = now() - interval '1 hour' where cache_key = %s",
        (expired,),
    )
    services = Services(
        settings=Settings(_env_file=None, vproc_data_dir=tmp_path), database_url_override=db_url
    )
    worker = build_worker(
        services,
        options(until_empty=False, reap_interval=0.05),
        db=db,
        pipeline_spec=f"{__name__}:step_pipeline",
    )

    def cache_keys() -> set[str]:
        rows = admin.execute("select cache_key from processor.ai_cache").fetchall()
        return {key for (key,) in rows}

    bg = Background(worker)
    try:
        wait_until(
            lambda: cache_keys() == {fresh},
            timeout=10,
            what="the reaper to purge the expired AI cache row",
        )
    finally:
        worker.stop()
        bg.join()
        services.close()


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def test_run_serves_metrics_on_the_bind_address_it_is_given(db, db_url, tmp_path) -> None:
    """--metrics-host: 127.0.0.2 is loopback too, so the test can tell the addresses apart."""
    port = free_port("127.0.0.2")
    seen: dict[str, object] = {}

    def scrape(worker: Worker) -> None:
        with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5) as response:
            seen["metrics"] = response.read().decode()
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)

    services = Services(
        settings=Settings(_env_file=None, vproc_data_dir=tmp_path), database_url_override=db_url
    )
    try:
        run_worker(
            services,
            concurrency=1,
            until_empty=True,
            worker_id="metrics-host-worker",
            shutdown_timeout=5.0,
            poll_interval=0.05,
            metrics_port=port,
            metrics_host="127.0.0.2",
            pipeline_spec=f"{__name__}:step_pipeline",
            listen=False,
            install_signal_handlers=False,
            on_started=scrape,
        )
    finally:
        services.close()
    assert "vproc_jobs_claimed_total" in str(seen["metrics"])
