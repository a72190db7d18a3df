"""What a stage is, what it is given and what it returns.

Stages (one module each) only do their work; the runner (`runner.py`) owns timing, status
entries, progress, checkpoints, resume and error wrapping around them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from processor.errors import VprocError
from processor.interrupts import RaiseIfInterrupted
from processor.media import UNLIMITED, MediaInfo, MediaLimits
from processor.pipeline.contract import JobInfo

if TYPE_CHECKING:
    from processor.ai.contract import MetadataGenerator, Transcriber
    from processor.media import MediaToolkit
    from processor.storage import Storage


@dataclass(frozen=True)
class StageResult:
    """A stage's outcome: JSON-safe `detail` and the object keys of its artifacts.

    Together they are everything a later stage, or a later attempt, may rely on.
    """

    detail: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)  # name -> key (artifacts bucket)

    @property
    def skipped(self) -> str | None:
        """Why the stage had nothing to do ("no_audio", "no_speech"), if it had nothing."""
        reason = self.detail.get("skipped")
        return str(reason) if reason else None


@dataclass(frozen=True)
class PipelineServices:
    """The adapters stages use; built once per process and shared by all jobs (thread-safe)."""

    storage: Storage
    media: MediaToolkit
    transcriber: Transcriber
    metadata: MetadataGenerator
    videos_bucket: str = "videos"
    artifacts_bucket: str = "video-artifacts"
    limits: MediaLimits = UNLIMITED  # MAX_SOURCE_BYTES, MAX_MEDIA_SECONDS, MAX_FRAME_PIXELS
    metadata_language: str = "source"  # METADATA_LANGUAGE


@dataclass(frozen=True)
class StageContext:
    """One stage's view of its job: identity, work directory, adapters, earlier results."""

    job: JobInfo
    work_dir: Path
    services: PipelineServices
    results: Mapping[str, StageResult]
    report: Callable[[float], None]  # fraction of this stage done, 0..1
    raise_if_interrupted: RaiseIfInterrupted

    @property
    def storage(self) -> Storage:
        return self.services.storage

    @property
    def media(self) -> MediaToolkit:
        return self.services.media

    @property
    def transcriber(self) -> Transcriber:
        return self.services.transcriber

    @property
    def metadata(self) -> MetadataGenerator:
        return self.services.metadata

    def result_of(self, stage: str) -> StageResult:
        """The result of an earlier stage (run now or resumed from its checkpoint)."""
        try:
            return self.results[stage]
        except KeyError:
            raise VprocError(f"stage {stage} has no result yet") from None

    def probed(self) -> MediaInfo:
        """What the probe stage found (run now or resumed from its checkpoint)."""
        return MediaInfo.from_json(self.result_of("probe").detail)

    def artifact_key(self, name: str) -> str:
        """The deterministic key of an artifact: `<owner_id>/<job_id>/<name>`."""
        return f"{self.job.owner_id}/{self.job.job_id}/{name}"


class Stage(Protocol):
    """One step of the pipeline."""

    name: ClassVar[str]  # processing_stages key and current_stage value
    needs: ClassVar[tuple[str, ...]]  # stages whose results it reads
    local_output: ClassVar[bool]  # its output is a file in the work directory only
    weight: ClassVar[float]  # share of the job's progress bar

    def run(self, ctx: StageContext) -> StageResult: ...
