"""InMemoryJobControl: JobControl without a database, for `vproc process` and tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from processor.errors import JobCancelledError


class InMemoryJobControl:
    """Keeps stage entries, progress and metadata in dicts; `cancel()` stops the job."""

    def __init__(
        self,
        stages: Mapping[str, Any] | None = None,
        *,
        on_report: Callable[[str, float], None] | None = None,
    ) -> None:
        self.entries: dict[str, Any] = dict(stages or {})
        self._claimed = dict(self.entries)
        self.metadata: dict[str, Any] = {}
        self.current_stage: str | None = None
        self.progress = 0.0
        self.reports: list[tuple[str, float]] = []
        self.checkpoints = 0
        self._on_report = on_report
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    @property
    def stages(self) -> Mapping[str, Any]:
        return self._claimed

    def cancel(self) -> None:
        self._cancelled.set()

    def raise_if_interrupted(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelledError()

    def report(self, stage: str, progress: float, stages: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.current_stage, self.progress = stage, progress
            self.reports.append((stage, progress))
            if stages:
                self.entries.update(stages)
        if self._on_report is not None:
            self._on_report(stage, progress)

    def checkpoint(self, stages: Mapping[str, Any]) -> None:
        with self._lock:
            self.entries.update(stages)
            self.checkpoints += 1

    def save_metadata(self, fields: Mapping[str, Any]) -> None:
        with self._lock:
            self.metadata.update(fields)
