"""One `processing_stages` entry: what the runner writes per stage and what `show` reads back.

The jsonb shape (each key present only when known):
`{"status", "started_at", "attempt", "finished_at", "duration_ms", "detail", "artifacts",
"reused"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

StageStatus = Literal["running", "completed", "skipped", "failed", "interrupted"]
STAGE_STATUSES: tuple[StageStatus, ...] = (
    "running",
    "completed",
    "skipped",
    "failed",
    "interrupted",
)
DONE: tuple[StageStatus, ...] = ("completed", "skipped")


@dataclass(frozen=True)
class StageEntry:
    status: StageStatus
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    attempt: int | None = None
    reused: bool = False

    @property
    def done(self) -> bool:
        return self.status in DONE

    def as_reused(self) -> StageEntry:
        return replace(self, reused=True)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.started_at is not None:
            out["started_at"] = self.started_at
        if self.attempt is not None:
            out["attempt"] = self.attempt
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        if self.status != "running":
            out["detail"] = dict(self.detail)
        if self.artifacts:
            out["artifacts"] = dict(self.artifacts)
        if self.reused:
            out["reused"] = True
        return out

    @classmethod
    def from_json(cls, value: object) -> StageEntry | None:
        """The entry stored as `value`, or None when it is not an entry (a bare string, an
        unknown status): old or foreign rows are shown, never trusted for reuse."""
        if not isinstance(value, Mapping):
            return None
        status = value.get("status")
        if status not in STAGE_STATUSES:
            return None
        detail = value.get("detail")
        artifacts = value.get("artifacts")
        duration = value.get("duration_ms")
        attempt = value.get("attempt")
        return cls(
            status=cast(StageStatus, status),
            started_at=_str_or_none(value.get("started_at")),
            finished_at=_str_or_none(value.get("finished_at")),
            duration_ms=round(duration) if isinstance(duration, int | float) else None,
            detail=dict(detail) if isinstance(detail, Mapping) else {},
            artifacts=(
                {str(k): str(v) for k, v in artifacts.items()}
                if isinstance(artifacts, Mapping)
                else {}
            ),
            attempt=attempt if isinstance(attempt, int) else None,
            reused=value.get("reused") is True,
        )


def stage_entries(stages: Mapping[str, Any] | None) -> dict[str, StageEntry]:
    """The well-formed entries of a `processing_stages` value, by stage name."""
    entries: dict[str, StageEntry] = {}
    for name, value in (stages or {}).items():
        entry = StageEntry.from_json(value)
        if entry is not None:
            entries[name] = entry
    return entries


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
