"""The one stage runner: timing, processing_stages entries, progress, checkpoints, resume.

Each stage's completed entry is checkpointed at once, so an attempt after a crash or a
transient error reuses every completed stage whose artifacts still exist (entry marked
`reused: true`) and re-runs only what is missing and what depends on it. Stages that only
leave files in the work directory (download, audio) are re-run when a stage that runs needs
their file, since a new attempt has a new work directory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processor.errors import (
    JobCancelledError,
    LeaseLostError,
    ShutdownRequestedError,
    VprocError,
    public_message,
)
from processor.pipeline.contract import JobControl, JobInfo
from processor.pipeline.entries import StageEntry, stage_entries
from processor.pipeline.stage import PipelineServices, Stage, StageContext, StageResult

logger = logging.getLogger(__name__)

REPORT_INTERVAL_SECONDS = 0.5  # progress is forwarded at most this often (plus on 1 % steps)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def plan_reuse(
    stages: Sequence[Stage],
    prior: Mapping[str, StageEntry],
    artifact_exists: Callable[[str], bool],
) -> set[str]:
    """Names of the stages whose earlier result stands; every other stage runs.

    A stage re-runs when it never finished, when one of its artifacts is gone, or when a
    stage it reads (other than a work-directory one) re-runs. Work-directory stages run
    exactly when a running stage needs their file.
    """
    by_name = {s.name: s for s in stages}
    runs: set[str] = set()
    for stage in stages:
        if stage.local_output:
            continue
        entry = prior.get(stage.name)
        done = entry is not None and entry.done
        artifacts = entry.artifacts if entry is not None and done else {}
        intact = done and all(artifact_exists(key) for key in artifacts.values())
        upstream = any(n in runs and not by_name[n].local_output for n in stage.needs)
        if not intact or upstream:
            runs.add(stage.name)
    pending = list(runs)
    while pending:
        for need in by_name[pending.pop()].needs:
            if by_name[need].local_output and need not in runs:
                runs.add(need)
                pending.append(need)
    return {s.name for s in stages} - runs


class StageRunner:
    """Runs an ordered tuple of stages for one job."""

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        observe_duration: Callable[[str, float], None] | None = None,
    ) -> None:
        """`observe_duration(stage, seconds)` is told how long each stage that ran took."""
        self.observe_duration = observe_duration
        names = [s.name for s in stages]
        for i, stage in enumerate(stages):
            missing = [n for n in stage.needs if n not in names[:i]]
            if missing:
                raise ValueError(f"stage {stage.name} needs {missing}, which do not run before it")
        self.stages = tuple(stages)
        self._total_weight = sum(s.weight for s in stages) or 1.0

    def run(
        self,
        job: JobInfo,
        control: JobControl,
        services: PipelineServices,
        work_dir: Path,
    ) -> dict[str, StageResult]:
        """Run or reuse every stage in order; return each stage's result by name.

        Raises what a stage raised (a VprocError; anything else wrapped as one), after
        recording the stage as failed. LeaseLostError is re-raised without writing.
        """
        prior = stage_entries(control.stages)
        artifacts_bucket = services.artifacts_bucket
        reused = plan_reuse(
            self.stages, prior, lambda key: services.storage.exists(artifacts_bucket, key)
        )
        results: dict[str, StageResult] = {}
        reused_entries: dict[str, Any] = {}
        for stage in self.stages:
            if stage.name in reused:
                entry = prior.get(stage.name)
                if entry is not None and entry.done:
                    results[stage.name] = StageResult(
                        detail=dict(entry.detail), artifacts=dict(entry.artifacts)
                    )
                    reused_entries[stage.name] = entry.as_reused().to_json()
        if reused_entries:
            control.checkpoint(reused_entries)
            logger.info(
                "stages reused",
                extra={**_log_fields(job), "event": "stage.reused", "stages": sorted(reused)},
            )
        done_weight = 0.0
        for stage in self.stages:
            control.raise_if_interrupted()
            if stage.name not in reused:
                results[stage.name] = self._run_one(
                    stage, job, control, services, work_dir, results, done_weight
                )
            done_weight += stage.weight
            control.report(stage.name, done_weight / self._total_weight)
        return results

    def _run_one(
        self,
        stage: Stage,
        job: JobInfo,
        control: JobControl,
        services: PipelineServices,
        work_dir: Path,
        results: Mapping[str, StageResult],
        done_weight: float,
    ) -> StageResult:
        running = StageEntry(status="running", started_at=now_iso(), attempt=job.attempt)
        start_progress = done_weight / self._total_weight
        control.report(stage.name, start_progress, {stage.name: running.to_json()})
        ctx = StageContext(
            job=job,
            work_dir=work_dir,
            services=services,
            results=dict(results),
            report=self._reporter(stage, control, done_weight),
            raise_if_interrupted=control.raise_if_interrupted,
        )
        fields = {**_log_fields(job), "stage": stage.name}
        logger.info("stage started", extra={**fields, "event": "stage.started"})
        clock = time.perf_counter()
        try:
            result = stage.run(ctx)
        except LeaseLostError:
            raise
        except (JobCancelledError, ShutdownRequestedError) as exc:
            interrupted = replace(running, status="interrupted", detail={"reason": exc.error_code})
            control.report(stage.name, start_progress, {stage.name: interrupted.to_json()})
            raise
        except VprocError as exc:
            self._record_failure(stage, control, running, clock, exc)
            raise
        except Exception as exc:  # the runner boundary: anything unexpected becomes internal
            # Its text (paths, hosts, library internals) goes to the log only.
            logger.exception("stage crashed", extra={**fields, "event": "stage.crashed"})
            wrapped = VprocError()
            self._record_failure(stage, control, running, clock, wrapped)
            raise wrapped from exc
        elapsed = time.perf_counter() - clock
        duration_ms = round(elapsed * 1000)
        if self.observe_duration is not None:
            self.observe_duration(stage.name, elapsed)
        finished = replace(
            running,
            status="skipped" if result.skipped else "completed",
            finished_at=now_iso(),
            duration_ms=duration_ms,
            detail=dict(result.detail),
            artifacts=dict(result.artifacts),
        )
        control.checkpoint({stage.name: finished.to_json()})
        logger.info(
            "stage completed",
            extra={**fields, "event": "stage.completed", "duration_ms": duration_ms},
        )
        return result

    def _record_failure(
        self,
        stage: Stage,
        control: JobControl,
        running: StageEntry,
        clock: float,
        exc: VprocError,
    ) -> None:
        failed = replace(
            running,
            status="failed",
            finished_at=now_iso(),
            duration_ms=round((time.perf_counter() - clock) * 1000),
            detail={"error_code": exc.error_code, "message": public_message(exc)},
        )
        control.checkpoint({stage.name: failed.to_json()})

    def _reporter(
        self, stage: Stage, control: JobControl, done_weight: float
    ) -> Callable[[float], None]:
        """ctx.report for one stage: maps 0..1 of the stage onto the job's bar, rate-limited
        (audio decoding reports per packet)."""
        lock = threading.Lock()
        last = {"fraction": 0.0, "at": 0.0}

        def report(fraction: float) -> None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            moment = time.monotonic()
            with lock:
                if (
                    fraction - last["fraction"] < 0.01
                    and moment - last["at"] < REPORT_INTERVAL_SECONDS
                ):
                    return
                last.update(fraction=fraction, at=moment)
            overall = (done_weight + stage.weight * fraction) / self._total_weight
            control.report(stage.name, overall)

        return report


def _log_fields(job: JobInfo) -> dict[str, Any]:
    return {"job_id": job.job_id, "video_id": str(job.video_id), "attempt": job.attempt}
