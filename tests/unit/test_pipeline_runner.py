"""The stage runner with fake stages: entries, timing, progress, failures, resume."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from processor.errors import (
    InvalidMediaError,
    JobCancelledError,
    LeaseLostError,
    StorageUnavailableError,
    VprocError,
)
from processor.pipeline.contract import JobInfo
from processor.pipeline.entries import StageEntry, stage_entries
from processor.pipeline.memory import InMemoryJobControl
from processor.pipeline.runner import StageRunner, plan_reuse
from processor.pipeline.stage import PipelineServices, StageContext, StageResult
from processor.storage.local import LocalStorage

OWNER = uuid.UUID("00000000-0000-0000-0000-00000000000a")


def job(attempt: int = 1) -> JobInfo:
    return JobInfo(
        job_id=5, video_id=uuid.uuid4(), owner_id=OWNER, attempt=attempt, storage_path="x/v.mp4"
    )


class FakeStage:
    """Records its runs; optionally writes an artifact, raises, or reports progress."""

    def __init__(
        self,
        name: str,
        needs: tuple[str, ...] = (),
        *,
        local: bool = False,
        artifact: bool = False,
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.needs = needs
        self.local_output = local
        self.weight = 1.0
        self.artifact = artifact
        self.error = error
        self.runs: list[dict[str, Any]] = []

    def run(self, ctx: StageContext) -> StageResult:
        seen = {n: dict(ctx.result_of(n).detail) for n in self.needs}
        self.runs.append(seen)
        for fraction in (0.25, 0.5, 1.0):
            ctx.report(fraction)
        if self.error is not None:
            raise self.error
        artifacts = {}
        if self.artifact:
            path = ctx.work_dir / f"{self.name}.txt"
            path.write_text(self.name)
            key = ctx.artifact_key(path.name)
            ctx.storage.put_file(ctx.services.artifacts_bucket, key, path)
            artifacts["file"] = key
        return StageResult(
            detail={"made_by": self.name, "run": len(self.runs)}, artifacts=artifacts
        )


class Unused:
    name = "unused"
    model = "none"


@pytest.fixture
def services(tmp_path: Path) -> PipelineServices:
    return PipelineServices(
        storage=LocalStorage(tmp_path / "store"),
        media=Unused(),  # type: ignore[arg-type]
        transcriber=Unused(),  # type: ignore[arg-type]
        metadata=Unused(),  # type: ignore[arg-type]
    )


def chain() -> list[FakeStage]:
    return [
        FakeStage("fetch", local=True),
        FakeStage("inspect", ("fetch",)),
        FakeStage("decode", ("fetch", "inspect"), local=True),
        FakeStage("recognise", ("decode",), artifact=True),
        FakeStage("caption", ("inspect", "recognise"), artifact=True),
        FakeStage("picture", ("fetch", "inspect"), artifact=True),
    ]


def run(stages, services, tmp_path, control, attempt=1):
    work = tmp_path / f"work{attempt}"
    work.mkdir()
    return StageRunner(stages).run(job(attempt), control, services, work)


def test_entries_have_status_timing_detail_and_artifacts(services, tmp_path) -> None:
    stages = chain()
    control = InMemoryJobControl()
    results = run(stages, services, tmp_path, control)
    assert list(results) == [s.name for s in stages]
    for stage in stages:
        entry = control.entries[stage.name]
        assert entry["status"] == "completed"
        assert entry["attempt"] == 1
        assert entry["started_at"] <= entry["finished_at"]
        assert isinstance(entry["duration_ms"], int) and entry["duration_ms"] >= 0
        assert entry["detail"] == {"made_by": stage.name, "run": 1}
        assert "reused" not in entry
    assert control.entries["caption"]["artifacts"] == {"file": f"{OWNER}/5/caption.txt"}
    # Later stages see earlier results.
    assert stages[4].runs == [
        {
            "inspect": {"made_by": "inspect", "run": 1},
            "recognise": {"made_by": "recognise", "run": 1},
        }
    ]
    progress = [p for _, p in control.reports]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    assert control.checkpoints == len(stages)


def test_resume_reuses_completed_stages_and_skips_unneeded_work_files(services, tmp_path) -> None:
    first = InMemoryJobControl()
    run(chain(), services, tmp_path, first)
    stages = chain()
    second = InMemoryJobControl(first.entries)
    results = run(stages, services, tmp_path, second, attempt=2)
    assert [len(s.runs) for s in stages] == [0, 0, 0, 0, 0, 0]
    assert all(second.entries[s.name]["reused"] is True for s in stages)
    assert results["caption"].detail == {"made_by": "caption", "run": 1}
    assert results["caption"].artifacts == {"file": f"{OWNER}/5/caption.txt"}


def test_resume_after_a_failure_reruns_only_the_rest(services, tmp_path) -> None:
    stages = chain()
    stages[4].error = StorageUnavailableError("upload failed")
    first = InMemoryJobControl()
    with pytest.raises(StorageUnavailableError):
        run(stages, services, tmp_path, first)
    failed = first.entries["caption"]
    assert failed["status"] == "failed"
    assert failed["detail"] == {"error_code": "storage_unavailable", "message": "upload failed"}
    assert "picture" not in first.entries

    stages = chain()
    second = InMemoryJobControl(first.entries)
    run(stages, services, tmp_path, second, attempt=2)
    runs = {s.name: len(s.runs) for s in stages}
    # caption re-runs; picture never ran; fetch is needed again for picture's file;
    # decode's file is only needed by recognise, which is reused.
    assert runs == {
        "fetch": 1,
        "inspect": 0,
        "decode": 0,
        "recognise": 0,
        "caption": 1,
        "picture": 1,
    }
    assert second.entries["recognise"]["reused"] is True
    assert second.entries["caption"]["attempt"] == 2 and "reused" not in second.entries["caption"]


def test_a_missing_artifact_reruns_its_stage_and_what_depends_on_it(services, tmp_path) -> None:
    first = InMemoryJobControl()
    run(chain(), services, tmp_path, first)
    (tmp_path / "store" / "video-artifacts" / str(OWNER) / "5" / "recognise.txt").unlink()
    stages = chain()
    run(stages, services, tmp_path, InMemoryJobControl(first.entries), attempt=2)
    runs = {s.name: len(s.runs) for s in stages}
    assert runs == {
        "fetch": 1,
        "inspect": 0,
        "decode": 1,
        "recognise": 1,
        "caption": 1,
        "picture": 0,
    }


def test_plan_reuse_treats_failed_and_running_entries_as_not_done() -> None:
    stages = chain()
    prior = {
        "fetch": {"status": "completed"},
        "inspect": {"status": "completed", "detail": {}},
        "decode": {"status": "running"},
        "recognise": {"status": "failed"},
        "caption": {"status": "completed", "artifacts": {"file": "k"}},
        "picture": {"status": "skipped", "detail": {"skipped": "no_video"}},
    }
    assert plan_reuse(stages, stage_entries(prior), lambda key: True) == {"inspect", "picture"}


def test_unexpected_exceptions_become_internal_errors(services, tmp_path) -> None:
    stages = chain()[:2]
    stages[1].error = KeyError("boom")
    control = InMemoryJobControl()
    with pytest.raises(VprocError) as info:
        run(stages, services, tmp_path, control)
    assert type(info.value) is VprocError and info.value.error_code == "internal"
    assert isinstance(info.value.__cause__, KeyError)
    assert control.entries["inspect"]["detail"]["error_code"] == "internal"


def test_permanent_errors_pass_through_with_their_code(services, tmp_path) -> None:
    stages = chain()[:2]
    stages[1].error = InvalidMediaError("not a video")
    control = InMemoryJobControl()
    with pytest.raises(InvalidMediaError):
        run(stages, services, tmp_path, control)
    assert control.entries["inspect"]["detail"] == {
        "error_code": "invalid_media",
        "message": "not a video",
    }


def test_lease_lost_writes_nothing_more(services, tmp_path) -> None:
    stages = chain()[:2]
    stages[1].error = LeaseLostError("gone")
    control = InMemoryJobControl()
    with pytest.raises(LeaseLostError):
        run(stages, services, tmp_path, control)
    assert control.entries["inspect"]["status"] == "running"  # from report(), never finalised
    assert control.checkpoints == 1  # fetch only


def test_cancellation_between_stages_stops_the_run(services, tmp_path) -> None:
    class Cancelling(FakeStage):
        def run(self, ctx: StageContext) -> StageResult:
            control.cancel()
            return super().run(ctx)

    stages: list[Any] = [Cancelling("fetch", local=True), FakeStage("inspect", ("fetch",))]
    control = InMemoryJobControl()
    with pytest.raises(JobCancelledError):
        run(stages, services, tmp_path, control)
    assert stages[1].runs == []


def test_a_stage_reading_a_later_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="needs"):
        StageRunner([FakeStage("b", ("a",)), FakeStage("a")])


def test_the_real_pipeline_is_ordered_by_its_needs() -> None:
    from processor.pipeline.registry import STAGES

    assert [s.name for s in STAGES] == [
        "download",
        "probe",
        "audio",
        "transcribe",
        "subtitles",
        "metadata",
        "thumbnail",
    ]
    StageRunner(STAGES)  # raises if a stage needs a later one
    for stage in STAGES:
        assert stage.__class__.__module__ == f"processor.pipeline.{stage.name}"


def test_stage_entry_round_trips_its_json_and_rejects_what_is_not_an_entry() -> None:
    stored = {
        "status": "completed",
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "attempt": 2,
        "finished_at": "2026-01-01T00:00:01.000+00:00",
        "duration_ms": 1000,
        "detail": {"width": 640},
        "artifacts": {"vtt": "a/b.vtt"},
        "reused": True,
    }
    entry = StageEntry.from_json(stored)
    assert isinstance(entry, StageEntry)
    assert entry.done
    assert entry.to_json() == stored
    assert StageEntry.from_json("completed") is None
    assert StageEntry.from_json({"status": "exploded"}) is None
    assert StageEntry(status="running", started_at="t", attempt=1).to_json() == {
        "status": "running",
        "started_at": "t",
        "attempt": 1,
    }


def test_the_default_pipeline_spec_names_the_factory_and_the_cli_uses_it() -> None:
    import importlib
    import inspect

    from processor.cli import run
    from processor.pipeline.build import make_pipeline
    from processor.queue.assembly import DEFAULT_PIPELINE

    module, _, attr = DEFAULT_PIPELINE.partition(":")
    assert getattr(importlib.import_module(module), attr) is make_pipeline
    assert inspect.signature(run).parameters["pipeline"].default == DEFAULT_PIPELINE
