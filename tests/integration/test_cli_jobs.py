"""`vproc jobs/show/retry/cancel/watch` through typer's runner, against real Postgres."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest
from typer.testing import CliRunner

from processor.cli import app
from processor.errors import InvalidStateError, NotFoundError
from processor.status import JobStatus
from tests.support.seed import create_user, insert_video_as

runner = CliRunner()


def vproc(db_url: str, *args: str):
    return runner.invoke(app, [*args, "--database-url", db_url])


def set_status(admin: psycopg.Connection, job_id: int, status: str, **cols: object) -> None:
    admin.execute(
        "update public.video_jobs set status = %s, error_code = %s, error_message = %s where id = %s",
        (status, cols.get("error_code"), cols.get("error_message"), job_id),
    )
    admin.execute("delete from processor.job_leases where job_id = %s", (job_id,))
    if status == "PROCESSING":
        admin.execute(
            "insert into processor.job_leases (job_id, claim_token, locked_by, locked_until)"
            " values (%s, gen_random_uuid(), 'w', now() + interval '1 hour')",
            (job_id,),
        )


def test_jobs_lists_newest_first_and_filters(admin, db_url) -> None:
    user = create_user(admin)
    ids = [insert_video_as(admin, user, f"clip{i}.mp4")[1] for i in range(3)]
    set_status(admin, ids[0], "FAILED", error_code="invalid_media", error_message="bad")
    result = vproc(db_url, "jobs", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["jobs"]
    assert [j["id"] for j in listed] == sorted(ids, reverse=True)
    assert listed[-1]["original_filename"] == "clip0.mp4"
    failed = json.loads(vproc(db_url, "jobs", "--status", "FAILED", "--json").stdout)["jobs"]
    assert [(j["id"], j["error_code"]) for j in failed] == [(ids[0], "invalid_media")]
    human = vproc(db_url, "jobs")
    assert human.exit_code == 0 and "clip2.mp4" in human.stdout and "FAILED" in human.stdout
    assert vproc(db_url, "jobs", "--status", "BOGUS").exit_code == 2


def test_show_job_and_its_metadata(admin, db_url) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "talk.mp4")
    admin.execute(
        "update public.video_jobs set processing_stages = %s where id = %s",
        (
            json.dumps(
                {"probe": {"status": "completed", "duration_ms": 12, "detail": {"format": "mp4"}}}
            ),
            job_id,
        ),
    )
    admin.execute(
        "insert into public.video_metadata (job_id, owner_id, title, tags)"
        " values (%s, %s, 'A talk', '{x,y}')",
        (job_id, user),
    )
    doc = json.loads(vproc(db_url, "show", str(job_id), "--json").stdout)
    assert doc["job"]["id"] == job_id and doc["job"]["status"] == "PENDING"
    assert doc["job"]["processing_stages"]["probe"]["detail"] == {"format": "mp4"}
    assert doc["metadata"]["title"] == "A talk" and doc["metadata"]["tags"] == ["x", "y"]
    human = vproc(db_url, "show", str(job_id))
    assert human.exit_code == 0
    assert "talk.mp4" in human.stdout and "probe" in human.stdout and "A talk" in human.stdout


def test_show_unknown_job_fails(db_url) -> None:
    result = vproc(db_url, "show", "424242")
    assert result.exit_code == 1
    assert isinstance(result.exception, NotFoundError)
    assert "job 424242 not found" in str(result.exception)


def test_retry_and_cancel_follow_the_rpc_rules(admin, db_url) -> None:
    user = create_user(admin)
    _, failed = insert_video_as(admin, user, "a.mp4")
    _, pending = insert_video_as(admin, user, "b.mp4")
    _, running = insert_video_as(admin, user, "c.mp4")
    set_status(admin, failed, "FAILED", error_code="storage_unavailable", error_message="503")
    set_status(admin, running, "PROCESSING")

    retried = vproc(db_url, "retry", str(failed), "--json")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["job"]["status"] == "PENDING"

    refused = vproc(db_url, "retry", str(pending))
    assert refused.exit_code == 1 and isinstance(refused.exception, InvalidStateError)
    assert "only FAILED or CANCELLED jobs can be retried" in str(refused.exception)

    cancelled = vproc(db_url, "cancel", str(pending))
    assert cancelled.exit_code == 0 and "CANCELLED" in cancelled.stdout
    asked = vproc(db_url, "cancel", str(running))
    assert asked.exit_code == 0 and "cancellation requested" in asked.stdout
    flags = admin.execute(
        "select id, status::text, cancel_requested from public.video_jobs order by id"
    ).fetchall()
    assert flags == [
        (failed, "PENDING", False),
        (pending, "CANCELLED", False),
        (running, "PROCESSING", True),
    ]
    assert isinstance(vproc(db_url, "cancel", "999999").exception, NotFoundError)


def test_watch_one_job_until_it_completes(admin, db_url) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "w.mp4")

    def finish() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            claimed = conn.execute(
                "select attempts, claim_token from processor.claim_jobs('w1', 1, 60)"
            ).fetchall()
            assert [a for a, _ in claimed] == [1]
            token = claimed[0][1]
            conn.execute(
                "select processor.record_progress(%s, %s, 'transcribe', 0.5)", (job_id, token)
            )
            conn.execute("select processor.complete_job(%s, %s)", (job_id, token))

    timer = threading.Timer(0.5, finish)
    timer.start()
    result = vproc(db_url, "watch", str(job_id), "--json", "--timeout", "30")
    timer.join()
    assert result.exit_code == 0, result.output
    states = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert states[0] == "PENDING" and states[-1] == "COMPLETED"


def test_watch_a_failed_job_exits_one(admin, db_url) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "f.mp4")
    set_status(admin, job_id, "FAILED", error_code="invalid_media", error_message="not a video")
    result = vproc(db_url, "watch", str(job_id))
    assert result.exit_code == 1
    assert "invalid_media: not a video" in result.stdout


def test_watch_of_a_job_that_does_not_end_in_time_exits_one(admin, db_url) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "slow.mp4")
    set_status(admin, job_id, "PROCESSING")
    result = vproc(db_url, "watch", str(job_id), "--timeout", "0.5")
    assert result.exit_code == 1
    assert f"job {job_id} did not end within 0.5 s (still PROCESSING)" in result.output


def test_watch_of_one_job_has_a_default_timeout(admin, db_url, monkeypatch) -> None:
    import processor.cli

    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "stuck.mp4")
    monkeypatch.setattr(processor.cli, "WATCH_JOB_TIMEOUT_SECONDS", 0.5)
    result = vproc(db_url, "watch", str(job_id))
    assert result.exit_code == 1
    assert f"job {job_id} did not end within 0.5 s (still PENDING)" in result.output


def test_show_lists_stages_in_pipeline_order(admin, db_url) -> None:
    """jsonb orders keys by length (audio, probe, download, …); the table follows the pipeline."""
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "talk.mp4")
    done = {"status": "completed", "duration_ms": 5}
    stages = {name: done for name in ("thumbnail", "audio", "probe", "transcribe", "download")}
    stages["custom"] = done  # a stage the default pipeline does not know comes last
    admin.execute(
        "update public.video_jobs set processing_stages = %s where id = %s",
        (json.dumps(stages), job_id),
    )
    stored = admin.execute(
        "select processing_stages from public.video_jobs where id = %s", (job_id,)
    ).fetchone()
    assert list(stored[0])[:2] == ["audio", "probe"]  # the order the fix has to undo
    human = vproc(db_url, "show", str(job_id))
    assert human.exit_code == 0, human.output
    lines = [line.replace("│", " ") for line in human.stdout.splitlines()]
    rows = [line.split()[0] for line in lines if "completed" in line]
    assert rows == ["download", "probe", "audio", "transcribe", "thumbnail", "custom"]


@pytest.mark.parametrize("status", list(JobStatus))
def test_jobs_status_filter_takes_every_status(admin, db_url, status: JobStatus) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "clip.mp4")
    set_status(admin, job_id, status.value)
    result = vproc(db_url, "jobs", "--status", status.value, "--json")
    assert result.exit_code == 0, result.output
    assert [j["id"] for j in json.loads(result.stdout)["jobs"]] == [job_id]
