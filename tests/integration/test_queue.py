"""The queue functions in processor.*, run as vproc_processor against real Postgres."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.seed import create_user, insert_video_as

WORKER = "worker-1"


@pytest.fixture
def admin(db_url: str) -> Iterator[psycopg.Connection]:
    """Superuser connection: seeds data and plays the clock (expires leases)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def processor_conn(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("set role vproc_processor")
    return conn


@pytest.fixture
def proc(db_url: str) -> Iterator[psycopg.Connection]:
    with processor_conn(db_url) as conn:
        yield conn


def add_jobs(admin: psycopg.Connection, count: int, **kwargs: int) -> list[int]:
    user = create_user(admin)
    return [insert_video_as(admin, user, f"v{i}.mp4", **kwargs)[1] for i in range(count)]


def bulk_jobs(admin: psycopg.Connection, count: int) -> None:
    user = create_user(admin)
    admin.execute(
        "insert into public.videos (uploader_user_id, storage_path)"
        " select %s, %s || '/' || g || '.mp4' from generate_series(1, %s) g",
        (user, str(user), count),
    )


def claim(
    conn: psycopg.Connection,
    worker: str = WORKER,
    n: int = 1,
    lease: int = 60,
    max_attempts: int | None = None,
) -> list[dict]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "select * from processor.claim_jobs(%s, %s, %s, %s)", (worker, n, lease, max_attempts)
    ).fetchall()


def job(admin: psycopg.Connection, job_id: int) -> dict:
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    row = cur.execute("select * from public.video_jobs where id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def expire(admin: psycopg.Connection, job_id: int) -> None:
    admin.execute(
        "update public.video_jobs set locked_until = now() - interval '1 second' where id = %s",
        (job_id,),
    )


def one(conn: psycopg.Connection, sql: str, params: tuple = ()) -> object:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


# --- claiming ------------------------------------------------------------------------------


def test_claims_by_priority_then_age_and_takes_the_lease(admin, proc) -> None:
    low = add_jobs(admin, 2)
    high = add_jobs(admin, 1, priority=5)
    claimed = claim(proc, n=2, lease=120)
    assert [j["id"] for j in claimed] == [high[0], low[0]]
    for j in claimed:
        assert j["status"] == "PROCESSING"
        assert j["attempts"] == 1
        assert j["locked_by"] == WORKER
        lease = one(
            admin,
            "select extract(epoch from locked_until - now()) from public.video_jobs where id = %s",
            (j["id"],),
        )
        assert 110 < float(lease) <= 120
    assert [j["id"] for j in claim(proc, n=5)] == [low[1]]
    assert claim(proc, n=5) == []


def test_future_run_after_is_not_claimed(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    admin.execute(
        "update public.video_jobs set run_after = now() + interval '1 hour' where id = %s",
        (job_id,),
    )
    assert claim(proc) == []
    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    assert [j["id"] for j in claim(proc)] == [job_id]


def test_eight_concurrent_claimers_never_share_a_job(admin, db_url) -> None:
    bulk_jobs(admin, 1000)
    claims: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def run(worker: str) -> None:
        try:
            with processor_conn(db_url) as conn:
                start.wait()
                while batch := claim(conn, worker, n=7):
                    for j in batch:
                        done = one(
                            conn,
                            "select processor.complete_job(%s, %s, %s)",
                            (j["id"], worker, j["attempts"]),
                        )
                        assert done is True
                        with lock:
                            claims.append((worker, j["id"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    per_job = Counter(job_id for _, job_id in claims)
    assert len(per_job) == 1000
    assert max(per_job.values()) == 1, "a job was claimed twice"
    assert len({w for w, _ in claims}) > 1, "only one claimer did any work"
    assert one(admin, "select count(*) from public.video_jobs where status = 'COMPLETED'") == 1000


def test_claimers_skip_rows_locked_by_another_claim(admin, db_url) -> None:
    """A claim in flight never blocks another worker: SKIP LOCKED, not a queue of waiters."""
    add_jobs(admin, 6)
    with processor_conn(db_url) as first, processor_conn(db_url) as second:
        with first.transaction():
            mine = {j["id"] for j in claim(first, "w1", n=3)}
            second.execute("set lock_timeout = '2s'")
            theirs = {j["id"] for j in claim(second, "w2", n=3)}
        assert len(mine) == 3 and len(theirs) == 3
        assert not mine & theirs


def test_claim_uses_the_partial_index(admin, proc) -> None:
    bulk_jobs(admin, 3000)
    admin.execute("update public.video_jobs set status = 'COMPLETED' where id % 100 <> 0")
    admin.execute("analyze public.video_jobs")
    plan = "\n".join(
        row[0]
        for row in admin.execute(
            "explain select j.id from public.video_jobs as j where j.status = 'PENDING'"
            " and j.run_after <= now() order by j.priority desc, j.id limit 10 for update skip locked"
        )
    )
    assert "video_jobs_pending_priority_id_idx" in plan, plan


# --- the fence -----------------------------------------------------------------------------

FENCED_CALLS = [
    ("heartbeat", "select count(*) from processor.heartbeat(%s, %s, %s, 60)", 0),
    ("record_progress", "select processor.record_progress(%s, %s, %s, 'probe', 0.5)", False),
    ("save_metadata", 'select processor.save_metadata(%s, %s, %s, \'{"title": "x"}\')', False),
    ("complete_job", 'select processor.complete_job(%s, %s, %s, \'{"title": "x"}\')', False),
    ("fail_job", "select processor.fail_job(%s, %s, %s, 'x', 'x', false)", None),
    ("release_job", "select processor.release_job(%s, %s, %s)", False),
    ("cancel_job", "select processor.cancel_job(%s, %s, %s)", False),
]


@pytest.mark.parametrize(("name", "sql", "refused"), FENCED_CALLS, ids=[c[0] for c in FENCED_CALLS])
def test_a_fenced_out_worker_changes_nothing(admin, proc, name, sql, refused) -> None:
    [job_id] = add_jobs(admin, 1)
    [first] = claim(proc, "old-worker", lease=60)
    expire(admin, job_id)
    [second] = claim(proc, "new-worker", lease=60)
    assert second["attempts"] == first["attempts"] + 1
    before = job(admin, job_id)
    # The old claim is dead: wrong worker and wrong attempt are both refused.
    assert one(proc, sql, (job_id, "old-worker", first["attempts"])) == refused
    assert one(proc, sql, (job_id, "new-worker", first["attempts"])) == refused
    assert one(proc, sql, (job_id, "old-worker", second["attempts"])) == refused
    assert job(admin, job_id) == before
    assert (
        one(admin, "select count(*) from public.video_metadata where job_id = %s", (job_id,)) == 0
    )
    # The live claim still works.
    assert one(proc, sql, (job_id, "new-worker", second["attempts"])) != refused


def test_heartbeat_extends_the_lease_and_reports_cancel(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc, lease=30)
    assert (
        one(
            proc,
            "select cancel_requested from processor.heartbeat(%s, %s, %s, 600)",
            (job_id, WORKER, j["attempts"]),
        )
        is False
    )
    lease = one(
        admin,
        "select extract(epoch from locked_until - now()) from public.video_jobs where id = %s",
        (job_id,),
    )
    assert float(lease) > 500
    admin.execute("update public.video_jobs set cancel_requested = true where id = %s", (job_id,))
    assert (
        one(
            proc,
            "select cancel_requested from processor.heartbeat(%s, %s, %s, 600)",
            (job_id, WORKER, j["attempts"]),
        )
        is True
    )
    assert one(proc, "select processor.cancel_job(%s, %s, %s)", (job_id, WORKER, j["attempts"]))
    row = job(admin, job_id)
    assert (row["status"], row["error_code"], row["locked_by"]) == ("CANCELLED", "cancelled", None)


# --- leases, attempts, backoff --------------------------------------------------------------


def test_expired_lease_is_reclaimed_with_one_more_attempt(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [first] = claim(proc, "crashed")
    assert claim(proc, "other") == []  # lease still valid
    expire(admin, job_id)
    [again] = claim(proc, "other")
    assert (again["id"], again["attempts"], again["locked_by"]) == (job_id, 2, "other")
    assert first["attempts"] == 1


def test_out_of_attempts_ends_failed_by_the_reaper(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    for attempt in (1, 2, 3):
        [j] = claim(proc, f"crash-{attempt}", max_attempts=3)
        assert j["attempts"] == attempt
        expire(admin, job_id)
    assert claim(proc, "late") == []
    assert job(admin, job_id)["status"] == "PROCESSING"
    reaped = proc.execute("select * from processor.reap_expired_leases()").fetchall()
    assert reaped == [(job_id, "FAILED")]
    row = job(admin, job_id)
    assert (row["status"], row["error_code"], row["locked_by"]) == ("FAILED", "lease_expired", None)
    assert "stopped responding" in row["error_message"]
    assert proc.execute("select * from processor.reap_expired_leases()").fetchall() == []


def test_reaper_cancels_an_expired_job_whose_owner_asked_to_cancel(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    claim(proc)
    admin.execute("update public.video_jobs set cancel_requested = true where id = %s", (job_id,))
    expire(admin, job_id)
    assert claim(proc, "other") == []
    assert proc.execute("select * from processor.reap_expired_leases()").fetchall() == [
        (job_id, "CANCELLED")
    ]


def backoff_seconds(admin: psycopg.Connection, job_id: int) -> float:
    return float(
        one(
            admin,
            "select extract(epoch from run_after - now()) from public.video_jobs where id = %s",
            (job_id,),
        )
    )


def test_transient_failures_back_off_exponentially_then_fail(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    delays = []
    for attempt in (1, 2, 3):
        admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
        [j] = claim(proc, max_attempts=4)
        assert j["attempts"] == attempt
        status = one(
            proc,
            "select processor.fail_job(%s, %s, %s, 'storage_unavailable',"
            " 'storage returned 503', true)",
            (job_id, WORKER, attempt),
        )
        assert status == "PENDING"
        row = job(admin, job_id)
        assert (row["error_code"], row["locked_by"]) == ("storage_unavailable", None)
        delays.append(backoff_seconds(admin, job_id))
    # Equal jitter: attempt n waits within [d/2, d], d = 10 s * 2^(n-1).
    for n, delay in enumerate(delays, start=1):
        step = 10 * 2 ** (n - 1)
        assert step / 2 - 1 <= delay <= step, delays
    assert delays[0] < delays[1] < delays[2] or delays == sorted(delays)
    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    [j] = claim(proc, max_attempts=4)
    assert (
        one(
            proc,
            "select processor.fail_job(%s, %s, %s, 'storage_unavailable', 'again', true)",
            (job_id, WORKER, j["attempts"]),
        )
        == "FAILED"
    )
    assert job(admin, job_id)["finished_at"] is not None


def test_backoff_grows_across_many_samples(admin) -> None:
    rows = admin.execute(
        "select n, min(extract(epoch from processor.retry_backoff(n))),"
        " max(extract(epoch from processor.retry_backoff(n)))"
        " from generate_series(1, 12) n, generate_series(1, 50) s group by n order by n"
    ).fetchall()
    for (n, low, high), (_, next_low, _) in itertools.pairwise(rows):
        assert float(low) >= 5
        if 10 * 2**n <= 3600:  # the next step is not capped yet: it never waits less
            assert high <= next_low, (n, high, next_low)
    capped = [row for row in rows if 10 * 2 ** (row[0] - 1) >= 3600]
    assert capped and all(float(low) >= 1800 and float(high) <= 3600 for _, low, high in capped)


def test_retry_after_from_the_provider_is_honoured(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    one(
        proc,
        "select processor.fail_job(%s, %s, %s, 'ai_rate_limited', '429', true, 900)",
        (job_id, WORKER, j["attempts"]),
    )
    assert 890 < backoff_seconds(admin, job_id) <= 900


def test_permanent_failure_fails_at_once(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    status = one(
        proc,
        "select processor.fail_job(%s, %s, %s, 'invalid_media', 'not a video file', false)",
        (job_id, WORKER, j["attempts"]),
    )
    assert status == "FAILED"
    row = job(admin, job_id)
    assert (row["error_code"], row["error_message"], row["attempts"]) == (
        "invalid_media",
        "not a video file",
        1,
    )


def test_release_gives_the_attempt_back(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    assert one(proc, "select processor.release_job(%s, %s, %s)", (job_id, WORKER, j["attempts"]))
    row = job(admin, job_id)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("PENDING", 0, None)
    assert [c["attempts"] for c in claim(proc, "next")] == [1]


# --- progress and results -------------------------------------------------------------------


def test_progress_merges_stage_entries(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    args = (job_id, WORKER, j["attempts"])
    assert one(
        proc,
        "select processor.record_progress(%s, %s, %s, 'probe', 0.1,"
        ' \'{"probe": {"status": "running"}}\')',
        args,
    )
    assert one(
        proc,
        "select processor.record_progress(%s, %s, %s, 'audio', 1.7,"
        ' \'{"probe": {"status": "completed"}, "audio": {"status": "running"}}\')',
        args,
    )
    row = job(admin, job_id)
    assert row["current_stage"] == "audio"
    assert row["progress"] == 1.0  # clamped
    assert row["processing_stages"] == {
        "probe": {"status": "completed"},
        "audio": {"status": "running"},
    }


def test_complete_writes_metadata_and_partial_saves_merge(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    args = (job_id, WORKER, j["attempts"])
    assert one(
        proc,
        "select processor.save_metadata(%s, %s, %s, %s)",
        (*args, '{"extracted_video_resolution": "1280x720", "tags": ["a"]}'),
    )
    assert one(
        proc,
        "select processor.complete_job(%s, %s, %s, %s)",
        (*args, '{"title": "Hello", "subtitle_files_urls": {"vtt": "k.vtt"}}'),
    )
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    meta = cur.execute(
        "select * from public.video_metadata where job_id = %s", (job_id,)
    ).fetchone()
    assert meta["owner_id"] == job(admin, job_id)["owner_id"]
    assert (meta["title"], meta["tags"], meta["extracted_video_resolution"]) == (
        "Hello",
        ["a"],
        "1280x720",
    )
    assert meta["subtitle_files_urls"] == {"vtt": "k.vtt"}
    row = job(admin, job_id)
    assert (row["status"], row["progress"], row["locked_by"]) == ("COMPLETED", 1.0, None)


def test_jobs_that_become_pending_notify_listeners(admin, db_url) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("listen vproc_jobs")
        [job_id] = add_jobs(admin, 1)
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert payloads == [str(job_id)]
        admin.execute("update public.video_jobs set status = 'FAILED' where id = %s", (job_id,))
        admin.execute("update public.video_jobs set status = 'PENDING' where id = %s", (job_id,))
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert payloads == [str(job_id)]


def test_complete_jobs_completes_a_batch_and_fences_each_element(admin, proc) -> None:
    import json

    ids = add_jobs(admin, 3)
    claimed = {j["id"]: j["attempts"] for j in claim(proc, n=3)}
    batch = [
        {"job_id": ids[0], "attempts": claimed[ids[0]], "metadata": {"title": "one"}},
        {"job_id": ids[1], "attempts": claimed[ids[1]] + 5, "metadata": None},  # stale claim
        {"job_id": ids[2], "attempts": claimed[ids[2]], "metadata": None},
    ]
    done = proc.execute(
        "select processor.complete_jobs(%s, %s::jsonb)", (WORKER, json.dumps(batch))
    ).fetchall()
    assert sorted(r[0] for r in done) == [ids[0], ids[2]]
    assert [job(admin, i)["status"] for i in ids] == ["COMPLETED", "PROCESSING", "COMPLETED"]
    assert (
        one(admin, "select title from public.video_metadata where job_id = %s", (ids[0],)) == "one"
    )
    assert (
        one(admin, "select count(*) from public.video_metadata where job_id = %s", (ids[2],)) == 0
    )


def test_updated_at_advances_on_every_queue_write(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)

    def stamp() -> object:
        return job(admin, job_id)["updated_at"]

    created = stamp()
    [j] = claim(proc)
    claimed = stamp()
    one(
        proc,
        "select processor.record_progress(%s, %s, %s, 'probe', 0.5)",
        (job_id, WORKER, j["attempts"]),
    )
    progressed = stamp()
    one(
        proc,
        "select processor.fail_job(%s, %s, %s, 'x', 'y', true)",
        (job_id, WORKER, j["attempts"]),
    )
    failed = stamp()
    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    [j] = claim(proc)
    one(proc, "select processor.complete_job(%s, %s, %s)", (job_id, WORKER, j["attempts"]))
    completed = stamp()
    assert created < claimed < progressed < failed < completed
