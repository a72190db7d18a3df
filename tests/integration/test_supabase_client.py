"""The client's road: the real supabase-py and realtime clients against local stand-ins.

Each test asserts the exact requests and frames a Supabase project would receive: the user's
token on every call, the object key in the user's folder, the row PostgREST inserts and the
private Realtime channel join with its access token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from processor.config import Settings
from processor.errors import (
    ConfigurationError,
    DatabaseError,
    NotFoundError,
    PermanentError,
    StorageUnavailableError,
)
from processor.supabase_client.realtime import watch_via_realtime
from processor.supabase_client.uploads import submit_via_supabase
from tests.support.supabase_storage import TUS_PATH
from tests.support.supabase_stubs import (
    ANON_KEY,
    EMAIL,
    JOB_EVENT_FIELDS,
    JOB_ID,
    PASSWORD,
    USER_ID,
    RealtimeStub,
    SupabaseHttpStub,
    job_deleted_event,
    job_event,
    job_record,
    serve_project,
)
from tests.support.waiting import wait_until

WATCH_TIMEOUT_SECONDS = 15


def settings_for(url: str | None, anon_key: str | None = ANON_KEY) -> Settings:
    return Settings(_env_file=None, supabase_url=url, supabase_anon_key=anon_key)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "Holiday clip (final).mp4"
    # Not a real video: the client road moves bytes and never decodes them.
    path.write_bytes(bytes(range(256)) * 1024 + b"tail")
    return path


def assert_user_headers(stub: SupabaseHttpStub, headers: dict[str, str]) -> None:
    assert headers["apikey"] == ANON_KEY
    assert headers["authorization"] == f"Bearer {stub.access_token}"


# --- submit ----------------------------------------------------------------------------------


def test_submit_signs_in_uploads_into_the_users_folder_and_inserts_the_row(
    httpserver: HTTPServer, video: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)

    submitted = submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=PASSWORD)

    assert [(r.method, r.path) for r in stub.requests] == [
        ("POST", "/auth/v1/token"),
        ("POST", f"/storage/v1/object/videos/{submitted.storage_path}"),
        ("POST", "/rest/v1/videos"),
        ("GET", "/rest/v1/video_jobs"),
    ]
    sign_in, upload, insert, select = stub.requests

    assert sign_in.query == {"grant_type": "password"}
    assert sign_in.headers["apikey"] == ANON_KEY
    assert sign_in.json["email"] == EMAIL
    assert sign_in.json["password"] == PASSWORD

    key = f"{USER_ID}/{submitted.video_id}/Holiday_clip_final_.mp4"
    assert submitted.storage_path == key
    assert_user_headers(stub, upload.headers)
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert upload.headers["x-upsert"] == "true"
    assert upload.files["file"].content_type == "video/mp4"
    assert upload.files["file"].data == video.read_bytes()
    assert upload.files["file"].filename == "Holiday_clip_final_.mp4"

    assert_user_headers(stub, insert.headers)
    assert insert.headers["content-type"].startswith("application/json")
    assert insert.headers["prefer"] == "return=minimal"
    assert insert.json == {
        "id": str(submitted.video_id),
        "original_filename": "Holiday clip (final).mp4",
        "storage_path": key,
        "content_type": "video/mp4",
        "size_bytes": video.stat().st_size,
    }
    assert "uploader_user_id" not in insert.json  # auth.uid() is the default

    assert_user_headers(stub, select.headers)
    assert select.query == {"select": "id", "video_id": f"eq.{submitted.video_id}"}

    assert submitted.job_id == JOB_ID
    assert submitted.user_id == USER_ID
    assert submitted.size_bytes == video.stat().st_size
    httpserver.check_assertions()


def test_a_non_ascii_file_name_gets_an_ascii_key_and_keeps_its_name(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)
    video = tmp_path / "Café ñandú – ビデオ.mp4"
    video.write_bytes(b"not a video")

    submitted = submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=PASSWORD)

    assert submitted.storage_path == f"{USER_ID}/{submitted.video_id}/Cafe_nandu_.mp4"
    (upload,) = stub.requests_to("POST", "/storage/v1/object/")
    assert upload.path == f"/storage/v1/object/videos/{submitted.storage_path}"
    (insert,) = stub.requests_to("POST", "/rest/v1/videos")
    assert insert.json["original_filename"] == "Café ñandú – ビデオ.mp4"
    assert insert.json["storage_path"] == submitted.storage_path


def test_submit_sends_the_given_content_type(httpserver: HTTPServer, video: Path) -> None:
    stub = SupabaseHttpStub(httpserver)

    submit_via_supabase(
        settings_for(stub.url),
        video,
        email=EMAIL,
        password=PASSWORD,
        content_type="video/quicktime",
    )

    (upload,) = stub.requests_to("POST", "/storage/v1/object/")
    assert upload.files["file"].content_type == "video/quicktime"
    (insert,) = stub.requests_to("POST", "/rest/v1/videos")
    assert insert.json["content_type"] == "video/quicktime"


def test_a_wrong_password_is_a_permanent_error_that_does_not_repeat_the_password(
    httpserver: HTTPServer, video: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)
    wrong = "not-the-password-1234"

    with pytest.raises(PermanentError) as caught:
        submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=wrong)

    assert caught.value.error_code == "permanent_error"
    assert caught.value.message == (
        f"Supabase Auth refused the sign-in for {EMAIL}: Invalid login credentials"
    )
    assert wrong not in str(caught.value)
    assert [(r.method, r.path) for r in stub.requests] == [("POST", "/auth/v1/token")]


def test_a_refused_insert_removes_the_uploaded_object(httpserver: HTTPServer, video: Path) -> None:
    rls = {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": 'new row violates row-level security policy for table "videos"',
    }
    stub = SupabaseHttpStub(httpserver, insert_error=(403, rls))

    with pytest.raises(DatabaseError, match="row-level security"):
        submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=PASSWORD)

    (upload,) = stub.requests_to("POST", "/storage/v1/object/")
    key = upload.path.removeprefix("/storage/v1/object/videos/")
    (remove,) = stub.requests_to("DELETE", "/storage/v1/object/videos")
    assert_user_headers(stub, remove.headers)
    assert remove.json == {"prefixes": [key]}
    assert stub.requests_to("GET", "/rest/v1/video_jobs") == []


def test_submit_without_a_project_is_a_configuration_error(video: Path) -> None:
    with pytest.raises(ConfigurationError, match="SUPABASE_URL and SUPABASE_ANON_KEY"):
        submit_via_supabase(settings_for(None), video, email=EMAIL, password=PASSWORD)
    with pytest.raises(ConfigurationError, match="SUPABASE_URL and SUPABASE_ANON_KEY"):
        submit_via_supabase(
            settings_for("http://127.0.0.1:9", anon_key=None), video, email=EMAIL, password=PASSWORD
        )


def test_submit_of_a_missing_file_is_not_found(httpserver: HTTPServer, tmp_path: Path) -> None:
    stub = SupabaseHttpStub(httpserver)

    with pytest.raises(NotFoundError):
        submit_via_supabase(
            settings_for(stub.url), tmp_path / "nope.mp4", email=EMAIL, password=PASSWORD
        )
    assert stub.requests == []


# --- watch -----------------------------------------------------------------------------------


def public(record: dict[str, Any]) -> dict[str, Any]:
    """What a job event (and the watch's snapshot read) carries of a job row."""
    return {k: record.get(k) for k in JOB_EVENT_FIELDS}


def watch(url: str, **kwargs: Any) -> dict[str, Any] | None:
    kwargs.setdefault("stop_event", threading.Event())
    kwargs.setdefault("timeout", WATCH_TIMEOUT_SECONDS)
    kwargs.setdefault("on_change", lambda record: None)
    return watch_via_realtime(settings_for(url), email=EMAIL, password=PASSWORD, **kwargs)


def snapshots(http: SupabaseHttpStub) -> list[Any]:
    return http.requests_to("GET", "/rest/v1/video_jobs")


def test_watch_joins_the_private_job_channel_and_follows_the_job_until_it_completes(
    httpserver: HTTPServer,
) -> None:
    pending = job_record("PENDING", second=0)
    processing = job_record("PROCESSING", progress=0.5, stage="transcribe", second=5)
    completed = job_record("COMPLETED", progress=1.0, second=9)
    http = SupabaseHttpStub(httpserver, job=pending)
    # Events wait until the snapshot has been seen, so the order is deterministic.
    realtime = RealtimeStub([job_event(processing), job_event(completed)], hold_changes=True)
    seen: list[dict[str, Any]] = []

    def on_change(record: dict[str, Any]) -> None:
        seen.append(record)
        if record["status"] == "PENDING":
            realtime.release_changes()

    with serve_project(http, realtime) as url:
        final = watch(url, job_id=JOB_ID, on_change=on_change)

    assert seen == [public(pending), public(processing), public(completed)]
    assert final == public(completed)

    (connection,) = realtime.connections
    assert connection == {"path": "/realtime/v1/websocket", "apikey": ANON_KEY, "vsn": "1.0.0"}
    (join,) = realtime.frames_of("phx_join")
    assert join["topic"] == f"realtime:jobs:{USER_ID}"
    assert join["payload"]["access_token"] == http.access_token
    config = join["payload"]["config"]
    assert config["private"] is True
    assert config["broadcast"]["replication_ready"] is True
    assert config["postgres_changes"] == []
    (leave,) = realtime.frames_of("phx_leave")
    assert leave["topic"] == join["topic"]

    sign_in, snapshot = http.requests
    assert (sign_in.method, sign_in.path) == ("POST", "/auth/v1/token")
    assert (snapshot.method, snapshot.path) == ("GET", "/rest/v1/video_jobs")
    assert snapshot.query == {"select": ",".join(JOB_EVENT_FIELDS), "id": f"eq.{JOB_ID}"}
    assert_user_headers(http, snapshot.headers)
    httpserver.check_assertions()


def test_watch_reads_the_job_only_once_realtime_confirms_the_channel(
    httpserver: HTTPServer,
) -> None:
    # The job completes after the join's reply but before Realtime's replication connection
    # is up: its event never reaches the channel. Only a read made after the confirmation
    # sees the end; a read made on the join's reply sees PROCESSING and waits for nothing.
    processing = job_record("PROCESSING", progress=0.5, stage="transcribe", second=5)
    completed = job_record("COMPLETED", progress=1.0, second=9)
    http = SupabaseHttpStub(httpserver, job=processing)
    realtime = RealtimeStub(hold_ready=True)

    def complete_in_the_gap() -> None:
        wait_until(lambda: realtime.joins == 1, what="the channel join")
        # The window in which a client that reads on the join's reply does so.
        time.sleep(1.0)
        http.job = completed
        realtime.release_ready()

    helper = threading.Thread(target=complete_in_the_gap, daemon=True)
    with serve_project(http, realtime) as url:
        helper.start()
        final = watch(url, job_id=JOB_ID)
    helper.join(5)

    assert final == public(completed)
    assert len(snapshots(http)) == 1


def test_watch_rejoins_and_reads_again_after_the_socket_drops(httpserver: HTTPServer) -> None:
    processing = job_record("PROCESSING", progress=0.25, stage="audio", second=4)
    completed = job_record("COMPLETED", progress=1.0, second=9)
    http = SupabaseHttpStub(httpserver, job=job_record("PENDING", second=0))
    seen: list[dict[str, Any]] = []

    def drop() -> None:
        # The job completes while the socket is down; its event is gone for this client.
        http.job = completed

    realtime = RealtimeStub(
        [job_event(processing)], hold_changes=True, drop_after_events=True, on_drop=drop
    )

    def on_change(record: dict[str, Any]) -> None:
        seen.append(record)
        if record["status"] == "PENDING":
            realtime.release_changes()

    with serve_project(http, realtime) as url:
        final = watch(url, job_id=JOB_ID, on_change=on_change)

    assert final == public(completed)
    assert [r["status"] for r in seen] == ["PENDING", "PROCESSING", "COMPLETED"]
    assert realtime.joins == 2 and len(realtime.connections) == 2
    for join in realtime.frames_of("phx_join"):
        assert join["topic"] == f"realtime:jobs:{USER_ID}"
        assert join["payload"]["config"]["private"] is True
        assert join["payload"]["access_token"] == http.access_token
    assert len(snapshots(http)) == 2


def test_watch_drops_records_older_than_what_it_already_reported(httpserver: HTTPServer) -> None:
    # The snapshot already shows PROCESSING at :05; Realtime then delivers an earlier event.
    processing = job_record("PROCESSING", progress=0.5, stage="transcribe", second=5)
    late_pending = job_record("PENDING", second=1)
    completed = job_record("COMPLETED", progress=1.0, second=9)
    http = SupabaseHttpStub(httpserver, job=processing)
    realtime = RealtimeStub(
        [job_event(late_pending), job_event(processing), job_event(completed)], hold_changes=True
    )
    seen: list[dict[str, Any]] = []

    def on_change(record: dict[str, Any]) -> None:
        seen.append(record)
        realtime.release_changes()

    with serve_project(http, realtime) as url:
        final = watch(url, job_id=JOB_ID, on_change=on_change)

    assert [r["status"] for r in seen] == ["PROCESSING", "COMPLETED"]
    assert final == public(completed)


def test_watch_of_a_deleted_job_says_so(httpserver: HTTPServer) -> None:
    pending = job_record("PENDING", second=0)
    http = SupabaseHttpStub(httpserver, job=pending)
    realtime = RealtimeStub([job_deleted_event(pending)], hold_changes=True)

    def on_change(record: dict[str, Any]) -> None:
        realtime.release_changes()

    with (
        serve_project(http, realtime) as url,
        pytest.raises(NotFoundError, match=f"job {JOB_ID} was deleted"),
    ):
        watch(url, job_id=JOB_ID, on_change=on_change)


def test_watch_of_all_jobs_reports_every_event_until_stopped(httpserver: HTTPServer) -> None:
    other_job = {**job_record("PROCESSING", second=3), "id": JOB_ID + 1}
    processing = job_record("PROCESSING", progress=0.25, stage="audio", second=4)
    http = SupabaseHttpStub(httpserver)
    realtime = RealtimeStub(
        [job_event(other_job), job_event(processing), job_deleted_event(other_job)]
    )
    stop = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_change(record: dict[str, Any]) -> None:
        seen.append(record)
        if len(seen) == 3:
            stop.set()

    with serve_project(http, realtime) as url:
        final = watch(url, on_change=on_change, stop_event=stop)

    assert final is None
    assert seen == [
        public(other_job),
        public(processing),
        {"id": other_job["id"], "video_id": other_job["video_id"], "deleted": True},
    ]
    (join,) = realtime.frames_of("phx_join")
    assert join["topic"] == f"realtime:jobs:{USER_ID}"
    # Without a job there is no snapshot: only the sign-in went over HTTP.
    assert [(r.method, r.path) for r in http.requests] == [("POST", "/auth/v1/token")]


def test_watch_sends_the_refreshed_access_token_to_the_channel(httpserver: HTTPServer) -> None:
    # A session that expires in 12 s is refreshed 10 s before: the joined channel must get
    # the new token, or Realtime closes it when the first one expires.
    http = SupabaseHttpStub(httpserver, job=job_record("PROCESSING", second=2), expires_in=12)
    realtime = RealtimeStub(hold_changes=True)
    stop = threading.Event()

    def stop_once_sent() -> None:
        wait_until(
            lambda: any(
                f["payload"].get("access_token") in http.refreshed_tokens
                for f in realtime.frames_of("access_token")
            ),
            timeout=WATCH_TIMEOUT_SECONDS,
            what="the refreshed token on the channel",
        )
        stop.set()

    helper = threading.Thread(target=stop_once_sent, daemon=True)
    with serve_project(http, realtime) as url:
        helper.start()
        final = watch(url, job_id=JOB_ID, stop_event=stop)
    helper.join(5)

    assert final is None and stop.is_set()
    (token_frame, *_) = [
        f
        for f in realtime.frames_of("access_token")
        if f["payload"]["access_token"] != http.access_token
    ]
    assert token_frame["topic"] == f"realtime:jobs:{USER_ID}"
    assert token_frame["payload"]["access_token"] == http.refreshed_tokens[0]


def test_watch_returns_none_when_its_timeout_passes(httpserver: HTTPServer) -> None:
    http = SupabaseHttpStub(httpserver, job=job_record("PROCESSING", second=2))
    realtime = RealtimeStub([job_event(job_record("COMPLETED", second=9))], hold_changes=True)
    seen: list[dict[str, Any]] = []

    with serve_project(http, realtime) as url:
        final = watch(url, job_id=JOB_ID, on_change=seen.append, timeout=1.5)

    assert final is None
    assert [r["status"] for r in seen] == ["PROCESSING"]


def test_watch_of_a_job_that_is_not_the_users_is_not_found(httpserver: HTTPServer) -> None:
    http = SupabaseHttpStub(httpserver)
    realtime = RealtimeStub()

    with serve_project(http, realtime) as url, pytest.raises(NotFoundError, match="job 7"):
        watch(url, job_id=7)


def test_a_refused_join_is_a_permanent_error(httpserver: HTTPServer) -> None:
    http = SupabaseHttpStub(httpserver)
    realtime = RealtimeStub(
        join_error={"reason": "InvalidJWTToken: Token has expired 12 seconds ago"}
    )

    with serve_project(http, realtime) as url, pytest.raises(PermanentError) as caught:
        watch(url, job_id=JOB_ID)

    assert caught.value.message == (
        "Supabase Realtime refused the subscription: "
        "InvalidJWTToken: Token has expired 12 seconds ago"
    )


def test_an_unauthorized_job_channel_names_the_missing_policies(httpserver: HTTPServer) -> None:
    http = SupabaseHttpStub(httpserver)
    realtime = RealtimeStub(
        join_error={
            "reason": "Unauthorized: You do not have permissions to read from this Channel "
            f"topic: jobs:{USER_ID}"
        }
    )

    with serve_project(http, realtime) as url, pytest.raises(PermanentError) as caught:
        watch(url, job_id=JOB_ID)

    assert "Unauthorized" in caught.value.message
    assert "20261201110100_create_realtime_job_policies" in caught.value.message


def test_watch_with_a_wrong_password_never_opens_the_socket(httpserver: HTTPServer) -> None:
    http = SupabaseHttpStub(httpserver)
    realtime = RealtimeStub()

    with (
        serve_project(http, realtime) as url,
        pytest.raises(PermanentError, match="refused the sign-in"),
    ):
        watch_via_realtime(
            settings_for(url),
            email=EMAIL,
            password="wrong",
            on_change=lambda record: None,
            stop_event=threading.Event(),
            timeout=WATCH_TIMEOUT_SECONDS,
        )
    assert realtime.connections == []


def test_video_ids_are_fresh_per_submit(httpserver: HTTPServer, video: Path) -> None:
    stub = SupabaseHttpStub(httpserver)
    first = submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=PASSWORD)
    second = submit_via_supabase(settings_for(stub.url), video, email=EMAIL, password=PASSWORD)
    assert first.video_id != second.video_id
    assert isinstance(first.video_id, uuid.UUID)
    assert first.storage_path.split("/")[0] == second.storage_path.split("/")[0] == str(USER_ID)


def test_submit_streams_the_upload_instead_of_reading_the_file_into_memory(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    # The stub buffers request bodies, so the client runs in its own process and its peak
    # resident memory is compared with the same upload of a tiny file.
    stub = SupabaseHttpStub(httpserver)
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"\x00" * 1024)
    big = tmp_path / "big.mp4"
    with big.open("wb") as out:
        out.truncate(BIG_UPLOAD_BYTES)  # sparse: reads as zeros, costs no disk

    tiny_peak_kib = peak_rss_of_submit(stub, tiny)
    big_peak_kib = peak_rss_of_submit(stub, big)

    # The tiny file goes as one multipart upload, the big one resumably in 6 MiB chunks.
    uploads = stub.requests_to("POST", "/storage/v1/object/")
    assert [u.files["file"].size_bytes for u in uploads] == [1024]
    assert [u.offset for u in stub.tus_uploads.values()] == [BIG_UPLOAD_BYTES]
    grown_mib = (big_peak_kib - tiny_peak_kib) / 1024
    assert grown_mib < 32, (
        f"uploading {BIG_UPLOAD_BYTES >> 20} MiB grew the client by {grown_mib:.0f} MiB"
    )


BIG_UPLOAD_BYTES = 128 * 1024 * 1024
SUBMIT_IN_A_CHILD = """
import resource, sys
from pathlib import Path
from processor.supabase_client.uploads import submit_via_supabase
from processor.config import Settings
url, anon_key, path, email, password = sys.argv[1:]
settings = Settings(_env_file=None, supabase_url=url, supabase_anon_key=anon_key)
submit_via_supabase(settings, Path(path), email=email, password=password)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_of_submit(stub: SupabaseHttpStub, path: Path) -> int:
    """Run one submit in a fresh interpreter; its peak resident set size in KiB (Linux)."""
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT_IN_A_CHILD, stub.url, ANON_KEY, str(path), EMAIL, PASSWORD],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_cli_submit_via_supabase_takes_the_clients_road(
    httpserver: HTTPServer, video: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from processor.cli import app

    stub = SupabaseHttpStub(httpserver)
    result = CliRunner().invoke(
        app,
        [
            "submit",
            str(video),
            "--via-supabase",
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
            "--json",
        ],
        env={"SUPABASE_URL": stub.url, "SUPABASE_ANON_KEY": ANON_KEY},
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["job_id"] == JOB_ID and doc["storage_path"].startswith(f"{USER_ID}/")
    assert [r.path for r in stub.requests][:3] == [
        "/auth/v1/token",
        f"/storage/v1/object/videos/{doc['storage_path']}",
        "/rest/v1/videos",
    ]


def test_cli_submit_needs_a_user_or_the_supabase_road(video: Path) -> None:
    from typer.testing import CliRunner

    from processor.cli import app

    result = CliRunner().invoke(app, ["submit", str(video)])
    assert result.exit_code == 2
    assert "--user" in result.output


def test_cli_watch_realtime_of_a_job_that_does_not_end_in_time_exits_one(
    httpserver: HTTPServer,
) -> None:
    from typer.testing import CliRunner

    from processor.cli import app

    http = SupabaseHttpStub(httpserver, job=job_record("PROCESSING", second=2))
    realtime = RealtimeStub()
    with serve_project(http, realtime) as url:
        result = CliRunner().invoke(
            app,
            [
                *("watch", str(JOB_ID), "--realtime", "--timeout", "1.5"),
                *("--email", EMAIL, "--password", PASSWORD),
            ],
            env={"SUPABASE_URL": url, "SUPABASE_ANON_KEY": ANON_KEY},
        )
    assert result.exit_code == 1, result.output
    assert f"job {JOB_ID} PROCESSING" in result.output
    assert f"job {JOB_ID} did not end within 1.5 s" in result.output


# --- resumable (TUS) uploads ------------------------------------------------------------------

MIB = 1024 * 1024


@pytest.fixture
def large_video(tmp_path: Path) -> Path:
    """Two full 6 MiB chunks and a short tail: above the standard-upload size."""
    path = tmp_path / "Long talk – ünïcode.mp4"
    path.write_bytes(os.urandom(12 * MIB + 123))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_file_goes_up_resumably_in_6_mib_chunks(
    httpserver: HTTPServer, large_video: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)

    submitted = submit_via_supabase(
        settings_for(stub.url), large_video, email=EMAIL, password=PASSWORD
    )

    assert submitted.storage_path == f"{USER_ID}/{submitted.video_id}/Long_talk_unicode.mp4"
    assert stub.requests_to("POST", "/storage/v1/object/") == []  # no standard upload
    (create,) = stub.requests_to("POST", TUS_PATH)
    assert create.path == TUS_PATH
    assert create.headers["tus-resumable"] == "1.0.0"
    assert create.headers["upload-length"] == str(large_video.stat().st_size)
    assert create.headers["x-upsert"] == "true"
    assert_user_headers(stub, create.headers)
    # Every pair is `key base64(value)`, as TUS 1.0.0 defines Upload-Metadata.
    pairs = dict(item.split(" ") for item in create.headers["upload-metadata"].split(","))
    assert {k: base64.b64decode(v).decode() for k, v in pairs.items()} == {
        "bucketName": "videos",
        "objectName": submitted.storage_path,
        "contentType": "video/mp4",
        "cacheControl": "3600",
    }

    patches = stub.requests_to("PATCH", f"{TUS_PATH}/")
    assert [(p.json["offset"], p.json["size"]) for p in patches] == [
        (0, 6 * MIB),
        (6 * MIB, 6 * MIB),
        (12 * MIB, 123),
    ]
    for patch in patches:
        assert patch.headers["tus-resumable"] == "1.0.0"
        assert patch.headers["content-type"] == "application/offset+octet-stream"
        assert patch.headers["upload-offset"] == str(patch.json["offset"])
        assert_user_headers(stub, patch.headers)
    assert stub.requests_to("HEAD", TUS_PATH) == []

    (upload,) = stub.tus_uploads.values()
    assert (upload.offset, upload.length) == (large_video.stat().st_size,) * 2
    assert upload.sha256 == sha256_of(large_video)
    (insert,) = stub.requests_to("POST", "/rest/v1/videos")
    assert insert.json["original_filename"] == large_video.name
    assert insert.json["storage_path"] == submitted.storage_path
    assert insert.json["size_bytes"] == large_video.stat().st_size


def test_an_interrupted_chunk_resumes_from_the_servers_offset(
    httpserver: HTTPServer, large_video: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)
    stub.interrupt_patches = {1}  # the second chunk: half of it is stored, then a 502

    submit_via_supabase(settings_for(stub.url), large_video, email=EMAIL, password=PASSWORD)

    tus = [r for r in stub.requests if r.path.startswith(TUS_PATH)]
    assert [r.method for r in tus] == ["POST", "PATCH", "PATCH", "HEAD", "PATCH"]
    patches = [r for r in tus if r.method == "PATCH"]
    # The server kept 3 MiB of the interrupted chunk; the rest goes from there.
    assert [(p.json["offset"], p.json["size"]) for p in patches] == [
        (0, 6 * MIB),
        (6 * MIB, 6 * MIB),
        (9 * MIB, 3 * MIB + 123),
    ]
    (head,) = [r for r in tus if r.method == "HEAD"]
    assert head.headers["tus-resumable"] == "1.0.0"
    assert_user_headers(stub, head.headers)
    (upload,) = stub.tus_uploads.values()
    assert upload.offset == large_video.stat().st_size
    assert upload.sha256 == sha256_of(large_video)
    assert len(stub.requests_to("POST", "/rest/v1/videos")) == 1


def test_a_chunk_that_keeps_failing_is_storage_unavailable(
    httpserver: HTTPServer, large_video: Path
) -> None:
    stub = SupabaseHttpStub(httpserver)
    stub.interrupt_patches = set(range(100))

    with pytest.raises(StorageUnavailableError, match="502"):
        submit_via_supabase(settings_for(stub.url), large_video, email=EMAIL, password=PASSWORD)

    assert len(stub.requests_to("HEAD", TUS_PATH)) == 3  # one per retry, then it gives up
    assert stub.requests_to("POST", "/rest/v1/videos") == []
