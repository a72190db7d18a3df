"""Job events as private Broadcast from the database: payloads, throttling, terminal and delete.

Jobs move through the real processor.* queue functions as vproc_processor; the events are the
rows realtime.send left in realtime.messages (the stand-in's, as Supabase defines it). Time is
simulated the way the queue tests expire leases: by moving the throttle's last-sent time back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.support.postgrest import impersonate
from tests.support.seed import create_user, insert_video_as

STAGES = ("probe", "audio", "transcribe", "subtitles", "metadata", "thumbnail")
JOB_FIELDS = {"id", "video_id", "status", "current_stage", "progress", "error_code", "updated_at"}
WORKER = "w1"


@dataclass(frozen=True)
class Event:
    event: str
    topic: str
    private: bool
    extension: str
    payload: dict[str, Any]


@pytest.fixture
def proc(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("set role vproc_processor")
        yield conn


def events(admin: psycopg.Connection, job_id: int) -> list[Event]:
    rows = admin.execute(
        "select event, topic, private, extension, payload from realtime.messages"
        " where (payload ->> 'id')::bigint = %s order by inserted_at, updated_at, ctid",
        (job_id,),
    ).fetchall()
    return [Event(*row) for row in rows]


def claim(proc: psycopg.Connection, job_id: int) -> str:
    row = proc.execute(
        "select id, claim_token from processor.claim_jobs(%s, 1, 300)", (WORKER,)
    ).fetchone()
    assert row is not None and row[0] == job_id
    return str(row[1])


def progress(proc: psycopg.Connection, job_id: int, token: str, stage: str, value: float) -> None:
    ok = proc.execute(
        "select processor.record_progress(%s::bigint, %s::uuid, %s, %s::real)",
        (job_id, token, stage, value),
    ).fetchone()
    assert ok == (True,)


def let_time_pass(admin: psycopg.Connection, job_id: int, seconds: float) -> None:
    """As if `seconds` passed since the job's last event: the throttle reads only the time
    of its last stage or progress event and, for the claim's event, the job's started_at."""
    admin.execute(
        "update processor.job_broadcasts set sent_at = sent_at - make_interval(secs => %s)"
        " where job_id = %s",
        (seconds, job_id),
    )
    admin.execute(
        "update public.video_jobs set started_at = started_at - make_interval(secs => %s)"
        " where id = %s",
        (seconds, job_id),
    )


def run_long_job(
    admin: psycopg.Connection, proc: psycopg.Connection, job_id: int, seconds: int
) -> int:
    """Claim, report progress once a (simulated) second through all stages, complete."""
    token = claim(proc, job_id)
    per_stage = seconds // len(STAGES)
    for index, stage in enumerate(STAGES):
        for tick in range(per_stage):
            overall = (index + tick / per_stage) / len(STAGES)
            progress(proc, job_id, token, stage, overall)
            let_time_pass(admin, job_id, 1)
    assert proc.execute(
        "select processor.complete_job(%s::bigint, %s::uuid)", (job_id, token)
    ).fetchone() == (True,)
    return per_stage * len(STAGES)


def test_a_new_job_sends_one_small_private_event_to_its_owner(admin: psycopg.Connection) -> None:
    user = create_user(admin)
    video_id, job_id = insert_video_as(admin, user)
    [event] = events(admin, job_id)
    assert event.event == "job_updated"
    assert event.topic == f"jobs:{user}"
    assert event.private is True and event.extension == "broadcast"
    assert set(event.payload) == JOB_FIELDS
    assert event.payload["id"] == job_id and event.payload["video_id"] == str(video_id)
    assert event.payload["status"] == "PENDING" and event.payload["progress"] == 0


def test_payloads_never_carry_worker_internals(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    token = claim(proc, job_id)
    progress(proc, job_id, token, "probe", 0.1)
    proc.execute(
        "select processor.fail_job(%s::bigint, %s::uuid, 'invalid_media', 'moov atom not found', false)",
        (job_id, token),
    )
    sent = events(admin, job_id)
    assert [e.payload["status"] for e in sent] == ["PENDING", "PROCESSING", "PROCESSING", "FAILED"]
    for event in sent:
        assert set(event.payload) == JOB_FIELDS, event.payload
        text = json.dumps(event.payload)
        assert WORKER not in text and "moov atom" not in text
    assert sent[-1].payload["error_code"] == "invalid_media"


def test_a_long_job_sends_at_most_30_events_with_every_stage_and_the_end(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    writes = run_long_job(admin, proc, job_id, seconds=1800)
    sent = events(admin, job_id)
    assert writes >= 1800 - len(STAGES)
    assert len(sent) <= 30, f"{len(sent)} events for one job"
    stages = [e.payload["current_stage"] for e in sent]
    assert [s for i, s in enumerate(stages) if s and s not in stages[:i]] == list(STAGES)
    assert sent[-1].payload["status"] == "COMPLETED" and sent[-1].payload["progress"] == 1
    # Progress moves in 5 % steps: no two events of one stage inside the same step.
    seen = set()
    for e in sent:
        key = (e.payload["status"], e.payload["current_stage"], int(e.payload["progress"] * 20))
        assert key not in seen, e.payload
        seen.add(key)
    # ...and between the stage changes it did report progress, about once per step.
    assert len(sent) >= 20


def test_progress_alone_waits_two_seconds_but_status_and_stage_never_wait(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    token = claim(proc, job_id)
    # No simulated time passes: every progress step comes within 2 s of the stage event.
    for i in range(1, 100):
        progress(proc, job_id, token, "transcribe", i / 100)
    progress(proc, job_id, token, "metadata", 0.99)
    proc.execute("select processor.complete_job(%s::bigint, %s::uuid)", (job_id, token))
    sent = [(e.payload["status"], e.payload["current_stage"]) for e in events(admin, job_id)]
    assert sent == [
        ("PENDING", None),
        ("PROCESSING", None),
        ("PROCESSING", "transcribe"),
        ("PROCESSING", "metadata"),
        ("COMPLETED", None),
    ]
    # Once 2 s have passed, the next step goes out.
    _, other = insert_video_as(admin, user)
    token = claim(proc, other)
    progress(proc, other, token, "probe", 0.01)
    let_time_pass(admin, other, 2.5)
    progress(proc, other, token, "probe", 0.02)  # same 5 % step: nothing
    progress(proc, other, token, "probe", 0.06)  # next step: sent
    assert [e.payload["progress"] for e in events(admin, other)][-1] == pytest.approx(0.06)
    assert len(events(admin, other)) == 4


def test_heartbeats_send_nothing(admin: psycopg.Connection, proc: psycopg.Connection) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    token = claim(proc, job_id)
    before = len(events(admin, job_id))
    for _ in range(5):
        proc.execute(
            "select * from processor.heartbeat(%s::bigint, %s::uuid, 300)",
            (job_id, token),
        )
    assert len(events(admin, job_id)) == before


def test_cancel_and_retry_by_the_owner_are_sent(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    with admin.transaction():
        impersonate(admin, user)
        admin.execute("select public.cancel_video_job(%s)", (job_id,))
        admin.execute("select public.retry_video_job(%s)", (job_id,))
        admin.execute("reset role")
    assert [e.payload["status"] for e in events(admin, job_id)] == [
        "PENDING",
        "CANCELLED",
        "PENDING",
    ]


def test_deleting_a_video_sends_job_deleted(admin: psycopg.Connection) -> None:
    user = create_user(admin)
    video_id, job_id = insert_video_as(admin, user)
    with admin.transaction():
        impersonate(admin, user)
        admin.execute("delete from public.videos where id = %s", (video_id,))
        admin.execute("reset role")
    last = events(admin, job_id)[-1]
    assert last.event == "job_deleted" and last.topic == f"jobs:{user}" and last.private
    assert last.payload == {"id": job_id, "video_id": str(video_id)}
    state = admin.execute(
        "select count(*) from processor.job_broadcasts where job_id = %s", (job_id,)
    ).fetchone()
    assert state == (0,)


def test_a_failing_send_never_fails_the_job_write(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user)
    # Realtime's table refusing rows (as when a day's partition is missing) only warns.
    admin.execute("alter table realtime.messages add constraint refuse_all check (false) not valid")
    token = claim(proc, job_id)
    progress(proc, job_id, token, "probe", 0.5)
    status = admin.execute(
        "select status, current_stage from public.video_jobs where id = %s", (job_id,)
    ).fetchone()
    assert status == ("PROCESSING", "probe")
    assert len(events(admin, job_id)) == 1


def test_users_cannot_send_through_realtime_send(admin: psycopg.Connection) -> None:
    user, victim = create_user(admin), create_user(admin)
    count = "select count(*) from realtime.messages"
    before = admin.execute(count).fetchone()
    for topic in (f"jobs:{victim}", f"jobs:{user}", "room:lobby"):
        for who in (user, None):
            with admin.transaction():
                impersonate(admin, who)
                admin.execute(
                    "select realtime.send(%s::jsonb, 'job_updated', %s, true)",
                    (json.dumps({"id": 1, "status": "COMPLETED"}), topic),
                )
                admin.execute("reset role")
    assert admin.execute(count).fetchone() == before


def test_job_events_topic_is_the_owner_never_the_writer(
    admin: psycopg.Connection, proc: psycopg.Connection
) -> None:
    owners = [create_user(admin) for _ in range(3)]
    jobs = {insert_video_as(admin, o)[1]: o for o in owners}
    for job_id, owner in jobs.items():
        assert {e.topic for e in events(admin, job_id)} == {f"jobs:{owner}"}


POLICIES_MIGRATION = "20261201110100_create_realtime_job_policies.sql"


def test_policies_migration_warns_instead_of_failing_when_not_allowed(
    admin: psycopg.Connection,
) -> None:
    """As on projects where `postgres` may not create policies on realtime.messages."""
    from processor.db.migrations import discover

    [migration] = [m for m in discover() if m.path.name == POLICIES_MIGRATION]
    text = migration.path.read_text()
    count = (
        "select count(*) from pg_catalog.pg_policies"
        " where schemaname = 'realtime' and tablename = 'messages'"
    )
    admin.execute(
        'drop policy "users receive their own job events" on realtime.messages;'
        'drop policy "job events reach only their owner" on realtime.messages;'
        'drop policy "clients never send job events" on realtime.messages;'
        'drop policy "clients never change job events" on realtime.messages'
    )
    role = f"vproc_not_owner_{uuid.uuid4().hex[:8]}"
    notices: list[str] = []
    admin.add_notice_handler(lambda d: notices.append(f"{d.message_primary} {d.message_hint}"))
    admin.execute(f"create role {role} nologin")
    try:
        admin.execute(f"grant usage on schema realtime to {role}")
        admin.execute(f"set role {role}")
        admin.execute(text)  # no exception: the migration goes on
        admin.execute("reset role")
        assert admin.execute(count).fetchone() == (0,)
        assert any("must be owner" in n and "SQL editor" in n for n in notices), notices
        # The documented fallback: the same file, run by the owner (the SQL editor), twice.
        admin.execute(text)
        admin.execute(text)
        assert admin.execute(count).fetchone() == (4,)
    finally:
        admin.execute("reset role")
        admin.execute(f"revoke usage on schema realtime from {role}")
        admin.execute(f"drop role {role}")
