"""What a job's owner reads about a failure: no local path, host name or worker id, and no
exception text that is not ours (that goes to the worker's log)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from processor.errors import InvalidMediaError
from processor.pipeline.build import MediaPipeline
from processor.pipeline.download import DownloadStage
from processor.pipeline.stage import StageContext, StageResult
from processor.storage.local import LocalStorage
from tests.fixtures import make_fixtures as fixtures
from tests.support.seed import create_user
from tests.support.uploads import (
    WORKER_ID,
    NeverTranscriber,
    pipeline_for,
    row_of,
    run_worker,
    upload,
)


class LeakyStage:
    """Fails with text that names the work directory, the host and the worker."""

    name: ClassVar[str] = "probe"
    needs: ClassVar[tuple[str, ...]] = ("download",)
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 1.0

    def __init__(self, make: Callable[[str], Exception]) -> None:
        self.make = make

    def run(self, ctx: StageContext) -> StageResult:
        where = f"{ctx.work_dir}/source on {socket.gethostname()} ({WORKER_ID})"
        raise self.make(where)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda where: PermissionError(13, f"Permission denied: '{where}'"), "internal"),
        (lambda where: RuntimeError(f"decoder crashed reading {where}"), "internal"),
        (lambda where: InvalidMediaError(f"not a readable video ({where})"), "invalid_media"),
    ],
    ids=["oserror", "runtime", "taxonomy-with-path"],
)
def test_failures_show_the_owner_no_path_host_or_worker(admin, db, tmp_path, make, code) -> None:
    store = LocalStorage(tmp_path / "store")
    a = create_user(admin)
    job_id, _ = upload(admin, store, a, "talk.mp4", fixtures.SPEECH_MP4.read_bytes())
    base = pipeline_for(tmp_path, store, NeverTranscriber())
    pipeline = MediaPipeline(
        base.services, stages=(DownloadStage(), LeakyStage(make)), work_root=tmp_path / "work"
    )
    run_worker(db, pipeline)
    job = row_of(admin, "video_jobs", "id", job_id)
    assert job["error_code"] == code
    assert job["status"] in ("FAILED", "PENDING")
    visible = json.dumps(
        {"message": job["error_message"], "stages": job["processing_stages"]}, default=str
    )
    for secret in (str(tmp_path), "/source", socket.gethostname(), WORKER_ID, "Traceback"):
        assert secret not in visible, secret
    assert job["error_message"] and "\n" not in job["error_message"]
    assert job["processing_stages"]["probe"]["detail"]["message"] == job["error_message"]


class CrashingPipeline:
    """A pipeline that fails outside any stage (the worker's own boundary catches it)."""

    def __init__(self, work_root: Path) -> None:
        self.work_root = work_root

    def run(self, job: Any, control: Any) -> dict[str, Any]:
        where = f"{self.work_root}/vproc-job-{job.job_id}/source"
        raise OSError(5, f"I/O error at {where} on {socket.gethostname()} ({WORKER_ID})")


def test_a_crash_outside_the_stages_shows_the_owner_a_generic_message(admin, db, tmp_path) -> None:
    store = LocalStorage(tmp_path / "store")
    a = create_user(admin)
    job_id, _ = upload(admin, store, a, "talk.mp4", fixtures.SPEECH_MP4.read_bytes())
    run_worker(db, CrashingPipeline(tmp_path / "work"))
    job = row_of(admin, "video_jobs", "id", job_id)
    assert (job["status"], job["error_code"]) == ("PENDING", "internal")
    for secret in (str(tmp_path), "/source", socket.gethostname(), WORKER_ID, "OSError", "I/O"):
        assert secret not in job["error_message"], secret
    assert job["error_message"]
