"""The queue functions in processor.*, run as vproc_processor against real Postgres."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgrest import impersonate
from tests.support.seed import create_user, insert_video_as

WORKER = "worker-1"


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
    row = cur.execute(
        "select j.*, l.locked_by, l.locked_until, l.heartbeat_at, l.claim_token"
        " from public.video_jobs as j left join processor.job_leases as l on l.job_id = j.id"
        " where j.id = %s",
        (job_id,),
    ).fetchone()
    assert row is not None
    return row


def expire(admin: psycopg.Connection, job_id: int) -> None:
    admin.execute(
        "update processor.job_leases set locked_until = now() - interval '1 second'"
        " where job_id = %s",
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
            "select extract(epoch from locked_until - now()) from processor.job_leases where job_id = %s",
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
                            "select processor.complete_job(%s, %s)",
                            (j["id"], j["claim_token"]),
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


def index_and_seq_scans(conn: psycopg.Connection, index: str) -> tuple[int, int]:
    """(scans of `index`, sequential scans of video_jobs) as the statistics count them."""
    conn.execute("select pg_stat_clear_snapshot()")
    row = conn.execute(
        "select (select idx_scan from pg_stat_user_indexes where indexrelname = %s),"
        " (select seq_scan from pg_stat_user_tables where relid = 'public.video_jobs'::regclass)",
        (index,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_claim_uses_the_partial_index(admin, proc) -> None:
    """claim_jobs itself (not a copy of its query) reads only the partial index of PENDING rows."""
    bulk_jobs(admin, 1500)
    bulk_jobs(admin, 1500)
    admin.execute("update public.video_jobs set status = 'COMPLETED' where id % 100 <> 0")
    admin.execute("vacuum analyze public.video_jobs")
    index = "video_jobs_pending_owner_priority_id_idx"
    plan = "\n".join(
        row[0]
        for row in admin.execute(
            "explain select j.id from public.video_jobs as j"
            " where j.owner_id = (select owner_id from public.video_jobs limit 1)"
            " and j.status = 'PENDING' and j.run_after <= now()"
            " order by j.priority desc, j.id limit 10 for update skip locked"
        )
    )
    assert index in plan, plan
    proc.execute("select 1")  # the session's own statistics start from here
    proc.execute("select pg_stat_force_next_flush()")
    scans_before, seq_before = index_and_seq_scans(admin, index)
    claimed = claim(proc, n=10)
    proc.execute("select pg_stat_force_next_flush()")
    proc.execute("select 1")
    scans_after, seq_after = index_and_seq_scans(admin, index)
    assert len(claimed) == 10
    assert scans_after > scans_before
    assert seq_after == seq_before, "claim_jobs scanned video_jobs sequentially"


# --- fairness --------------------------------------------------------------------------------


def owners_of(admin: psycopg.Connection, ids: list[int]) -> list[object]:
    return [job(admin, i)["owner_id"] for i in ids]


def test_claim_takes_owners_round_robin_within_a_batch(admin, proc) -> None:
    user_a, user_b = create_user(admin), create_user(admin)
    a = [insert_video_as(admin, user_a, f"a{i}.mp4")[1] for i in range(4)]
    b = [insert_video_as(admin, user_b, f"b{i}.mp4")[1] for i in range(2)]
    claimed = [j["id"] for j in claim(proc, n=5)]
    assert claimed == [a[0], b[0], a[1], b[1], a[2]]


def test_owners_with_fewer_running_jobs_go_first_then_priority(admin, proc) -> None:
    user_a, user_b, user_c = create_user(admin), create_user(admin), create_user(admin)
    a = [insert_video_as(admin, user_a, f"a{i}.mp4")[1] for i in range(4)]
    assert [j["id"] for j in claim(proc, n=2)] == a[:2]  # A now runs two jobs
    [b] = [insert_video_as(admin, user_b, "b.mp4")[1]]
    [c] = [insert_video_as(admin, user_c, "c.mp4", priority=5)[1]]
    # B and C run nothing: both before A's next job, C first by priority; A's high
    # priority does not jump owners who run less.
    admin.execute("update public.video_jobs set priority = 9 where id = %s", (a[2],))
    assert [j["id"] for j in claim(proc, n=3)] == [c, b, a[2]]


def test_a_flood_from_one_owner_delays_another_by_at_most_one_claim_per_slot(admin, proc) -> None:
    slots = 8
    bulk_jobs(admin, 1000)
    flooder = one(admin, "select owner_id from public.video_jobs limit 1")
    other = create_user(admin)
    admin.execute("vacuum analyze public.video_jobs")
    # Workers already busy with the flood when the other user's job arrives.
    first = claim(proc, "w1", n=slots)
    assert {j["owner_id"] for j in first} == {flooder}
    _, late_job = insert_video_as(admin, other, "late.mp4")
    order: list[int] = []
    while late_job not in order:
        batch = claim(proc, "w2", n=slots)
        assert batch, "the other owner's job was never claimed"
        order += [j["id"] for j in batch]
    assert order.index(late_job) == 0, order[:10]
    # And from an idle queue, the other owner's job is in the very first batch.
    other2 = create_user(admin)
    admin.execute("update public.video_jobs set status = 'PENDING', attempts = 0")
    admin.execute("delete from processor.job_leases")
    _, idle_job = insert_video_as(admin, other2, "idle.mp4")
    batch = [j["id"] for j in claim(proc, "w3", n=slots)]
    assert idle_job in batch
    assert batch.index(idle_job) <= 2


# --- the fence -----------------------------------------------------------------------------

FENCED_CALLS = [
    ("heartbeat", "select count(*) from processor.heartbeat(%s, %s, 60)", 0),
    ("record_progress", "select processor.record_progress(%s, %s, 'probe', 0.5)", False),
    ("save_metadata", 'select processor.save_metadata(%s, %s, \'{"title": "x"}\')', False),
    ("complete_job", "select processor.complete_job(%s, %s)", False),
    (
        "complete_job_with_metadata",
        'select processor.complete_job(%s, %s, \'{"title": "x"}\')',
        False,
    ),
    (
        "complete_jobs",
        "select count(*) from processor.complete_jobs("
        "jsonb_build_array(jsonb_build_object('job_id', %s::bigint, 'claim_token', %s::uuid)))",
        0,
    ),
    ("fail_job", "select processor.fail_job(%s, %s, 'x', 'x', false)", None),
    ("fail_job_retryable", "select processor.fail_job(%s, %s, 'x', 'x', true)", None),
    ("release_job", "select processor.release_job(%s, %s)", False),
    ("cancel_job", "select processor.cancel_job(%s, %s)", False),
]
FENCE_IDS = [c[0] for c in FENCED_CALLS]


def leases_and_metadata(admin: psycopg.Connection, job_id: int) -> tuple[object, ...]:
    return (
        job(admin, job_id),
        one(admin, "select count(*) from public.video_metadata where job_id = %s", (job_id,)),
    )


@pytest.mark.parametrize(("name", "sql", "refused"), FENCED_CALLS, ids=FENCE_IDS)
def test_a_fenced_out_worker_changes_nothing(admin, proc, name, sql, refused) -> None:
    [job_id] = add_jobs(admin, 1)
    [first] = claim(proc, "old-worker", lease=60)
    expire(admin, job_id)
    [second] = claim(proc, "new-worker", lease=60)
    assert second["attempts"] == first["attempts"] + 1
    assert second["claim_token"] != first["claim_token"]
    before = leases_and_metadata(admin, job_id)
    assert one(proc, sql, (job_id, first["claim_token"])) == refused
    assert leases_and_metadata(admin, job_id) == before
    # The live claim still works.
    assert one(proc, sql, (job_id, second["claim_token"])) != refused


@pytest.mark.parametrize(("name", "sql", "refused"), FENCED_CALLS, ids=FENCE_IDS)
def test_release_then_reclaim_with_the_same_attempt_fences_the_old_claim(
    admin, proc, name, sql, refused
) -> None:
    """Release gives the attempt back, so the next claim has the same attempt number."""
    [job_id] = add_jobs(admin, 1)
    [first] = claim(proc, "w1")
    assert one(proc, "select processor.release_job(%s, %s)", (job_id, first["claim_token"]))
    [second] = claim(proc, "w2")
    assert second["attempts"] == first["attempts"] == 1
    before = leases_and_metadata(admin, job_id)
    assert one(proc, sql, (job_id, first["claim_token"])) == refused
    assert leases_and_metadata(admin, job_id) == before
    assert one(proc, sql, (job_id, second["claim_token"])) != refused


@pytest.mark.parametrize(("name", "sql", "refused"), FENCED_CALLS, ids=FENCE_IDS)
def test_a_finished_claim_fences_every_call(admin, proc, name, sql, refused) -> None:
    """After complete_job, no call under that claim touches the job again."""
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    assert one(proc, "select processor.complete_job(%s, %s)", (job_id, j["claim_token"]))
    before = leases_and_metadata(admin, job_id)
    assert one(proc, sql, (job_id, j["claim_token"])) == refused
    assert leases_and_metadata(admin, job_id) == before


def test_the_fence_holds_across_cancel_reap_and_retry_by_the_same_worker(admin, proc) -> None:
    """claim (attempt 1) -> owner cancels -> lease expires -> reaper CANCELLED -> owner
    retries -> the same worker id claims again (attempt 1 again): the old claim is dead."""
    user = create_user(admin)
    _, job_id = insert_video_as(admin, user, "x.mp4")
    [old] = claim(proc, "same-worker")
    with admin.transaction():
        impersonate(admin, user)
        admin.execute("select public.cancel_video_job(%s)", (job_id,))
        admin.execute("reset role")
    expire(admin, job_id)
    assert proc.execute("select * from processor.reap_expired_leases()").fetchall() == [
        (job_id, "CANCELLED")
    ]
    with admin.transaction():
        impersonate(admin, user)
        admin.execute("select public.retry_video_job(%s)", (job_id,))
        admin.execute("reset role")
    [new] = claim(proc, "same-worker")
    assert (new["id"], new["attempts"], new["locked_by"]) == (
        job_id,
        old["attempts"],
        "same-worker",
    )
    one(
        proc,
        "select processor.record_progress(%s, %s, 'probe', 0.25)",
        (job_id, new["claim_token"]),
    )
    before = leases_and_metadata(admin, job_id)
    done = one(
        proc,
        'select processor.complete_job(%s, %s, \'{"title": "stale"}\')',
        (job_id, old["claim_token"]),
    )
    assert done is False
    assert leases_and_metadata(admin, job_id) == before
    assert job(admin, job_id)["status"] == "PROCESSING"


def test_a_late_write_waiting_on_a_reclaim_is_refused(admin, db_url) -> None:
    """A re-claim in flight holds the job row; the old claim's write waits, then sees the new
    token and refuses (the fence reads the lease after it holds the row)."""
    [job_id] = add_jobs(admin, 1)
    with processor_conn(db_url) as first, processor_conn(db_url) as second:
        [old] = claim(first, "old")
        expire(admin, job_id)
        result: list[object] = []
        with second.transaction():
            [new] = claim(second, "new")
            late = threading.Thread(
                target=lambda: result.append(
                    one(
                        first, "select processor.complete_job(%s, %s)", (job_id, old["claim_token"])
                    )
                )
            )
            late.start()
            late.join(0.5)
            assert late.is_alive(), "the late write did not wait for the re-claim"
        late.join(10)
        assert result == [False]
        assert job(admin, job_id)["claim_token"] == new["claim_token"]
        assert job(admin, job_id)["status"] == "PROCESSING"


def test_heartbeat_extends_the_lease_and_reports_cancel(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc, lease=30)
    assert (
        one(
            proc,
            "select cancel_requested from processor.heartbeat(%s, %s, 600)",
            (job_id, j["claim_token"]),
        )
        is False
    )
    lease = one(
        admin,
        "select extract(epoch from locked_until - now()) from processor.job_leases where job_id = %s",
        (job_id,),
    )
    assert float(lease) > 500
    admin.execute("update public.video_jobs set cancel_requested = true where id = %s", (job_id,))
    assert (
        one(
            proc,
            "select cancel_requested from processor.heartbeat(%s, %s, 600)",
            (job_id, j["claim_token"]),
        )
        is True
    )
    assert one(proc, "select processor.cancel_job(%s, %s)", (job_id, j["claim_token"]))
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
            "select processor.fail_job(%s, %s, 'storage_unavailable',"
            " 'storage returned 503', true)",
            (job_id, j["claim_token"]),
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
            "select processor.fail_job(%s, %s, 'storage_unavailable', 'again', true)",
            (job_id, j["claim_token"]),
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
        "select processor.fail_job(%s, %s, 'ai_rate_limited', '429', true, 900)",
        (job_id, j["claim_token"]),
    )
    assert 890 < backoff_seconds(admin, job_id) <= 900


def test_permanent_failure_fails_at_once(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    status = one(
        proc,
        "select processor.fail_job(%s, %s, 'invalid_media', 'not a video file', false)",
        (job_id, j["claim_token"]),
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
    assert one(proc, "select processor.release_job(%s, %s)", (job_id, j["claim_token"]))
    row = job(admin, job_id)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("PENDING", 0, None)
    assert [c["attempts"] for c in claim(proc, "next")] == [1]


# --- progress and results -------------------------------------------------------------------


def test_progress_merges_stage_entries(admin, proc) -> None:
    [job_id] = add_jobs(admin, 1)
    [j] = claim(proc)
    args = (job_id, j["claim_token"])
    assert one(
        proc,
        "select processor.record_progress(%s, %s, 'probe', 0.1,"
        ' \'{"probe": {"status": "running"}}\')',
        args,
    )
    assert one(
        proc,
        "select processor.record_progress(%s, %s, 'audio', 1.7,"
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
    args = (job_id, j["claim_token"])
    assert one(
        proc,
        "select processor.save_metadata(%s, %s, %s)",
        (*args, '{"extracted_video_resolution": "1280x720", "tags": ["a"]}'),
    )
    assert one(
        proc,
        "select processor.complete_job(%s, %s, %s)",
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
    claimed = {j["id"]: str(j["claim_token"]) for j in claim(proc, n=3)}
    batch = [
        {"job_id": ids[0], "claim_token": claimed[ids[0]], "metadata": {"title": "one"}},
        {"job_id": ids[1], "claim_token": claimed[ids[0]], "metadata": None},  # another's token
        {"job_id": ids[2], "claim_token": claimed[ids[2]], "metadata": None},
    ]
    done = proc.execute(
        "select processor.complete_jobs(%s::jsonb)", (json.dumps(batch),)
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
        "select processor.record_progress(%s, %s, 'probe', 0.5)",
        (job_id, j["claim_token"]),
    )
    progressed = stamp()
    one(
        proc,
        "select processor.fail_job(%s, %s, 'x', 'y', true)",
        (job_id, j["claim_token"]),
    )
    failed = stamp()
    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    [j] = claim(proc)
    one(proc, "select processor.complete_job(%s, %s)", (job_id, j["claim_token"]))
    completed = stamp()
    assert created < claimed < progressed < failed < completed
