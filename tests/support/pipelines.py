"""Fake pipelines for worker tests: real JobControl use, no media.

`ChaosPipeline` is loaded by subprocess workers (`vproc run --pipeline
tests.support.pipelines:ChaosPipeline`) and configured through environment variables.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from processor.pipeline.contract import JobControl, JobInfo


class StepPipeline:
    """Does `steps` units of work of `step_seconds` each, reporting progress and checking stops."""

    def __init__(
        self,
        steps: int = 3,
        step_seconds: float = 0.01,
        fail: Callable[[JobInfo], Exception | None] | None = None,
    ) -> None:
        self.steps = steps
        self.step_seconds = step_seconds
        self.fail = fail
        self.runs: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        with self._lock:
            self.runs.append((job.job_id, job.attempt))
        for step in range(self.steps):
            control.raise_if_interrupted()
            time.sleep(self.step_seconds)
            control.report("work", (step + 1) / self.steps)
        control.checkpoint({"work": {"status": "completed", "detail": {"steps": self.steps}}})
        if self.fail is not None and (exc := self.fail(job)) is not None:
            raise exc
        return {
            "title": f"video {job.video_id}",
            "tags": ["fake"],
            "extracted_video_resolution": "640x360",
        }


class BlockingPipeline:
    """Works until `release` is set, checking for stop requests every few milliseconds.

    With `honour_stops=False` it ignores them, like native code that cannot be interrupted.
    """

    def __init__(self, *, honour_stops: bool = True) -> None:
        self.honour_stops = honour_stops
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.stopped_with: BaseException | None = None

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        self.started.set()
        try:
            while not self.release.wait(0.005):
                control.report("work", 0.5)
                if self.honour_stops:
                    control.raise_if_interrupted()
        except BaseException as exc:
            self.stopped_with = exc
            raise
        finally:
            self.finished.set()
        return {"title": "finished"}


class ChaosPipeline:
    """For subprocess chaos tests: sleeps VPROC_TEST_STEP_SECONDS per step, 3 steps."""

    def __init__(self, settings: object) -> None:
        self.step_seconds = float(os.environ.get("VPROC_TEST_STEP_SECONDS", "0.02"))
        self.log = (
            Path(os.environ["VPROC_TEST_WORK_LOG"]) if "VPROC_TEST_WORK_LOG" in os.environ else None
        )

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        for step in range(3):
            control.raise_if_interrupted()
            time.sleep(self.step_seconds)
            control.report("work", (step + 1) / 3)
        if self.log is not None:
            with self.log.open("a") as f:
                f.write(f"{job.job_id} {job.attempt} {os.getpid()}\n")
        return {"title": f"done by {os.getpid()} attempt {job.attempt}"}
