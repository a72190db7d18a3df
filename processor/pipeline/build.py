"""The MediaPipeline: runs the registered stages for one job in a private work directory.

`make_pipeline(settings)` builds the Pipeline the worker runs (processor.pipeline.contract);
`vproc process` runs the same stages through `build_pipeline` with local storage and an
in-memory JobControl.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processor.pipeline.artifacts import TRANSCRIPT_TXT, fetch
from processor.pipeline.contract import JobControl, JobInfo
from processor.pipeline.registry import STAGES
from processor.pipeline.runner import StageRunner
from processor.pipeline.stage import PipelineServices, Stage, StageContext, StageResult

if TYPE_CHECKING:
    from processor.ai.cache import AICache
    from processor.ai.contract import MetadataGenerator, Transcriber
    from processor.config import Settings
    from processor.media import MediaToolkit
    from processor.storage import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    """What a run produced: the video_metadata fields and the stage results behind them."""

    fields: dict[str, Any]
    results: Mapping[str, StageResult]
    chapters: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None


class MediaPipeline:
    """The Pipeline: runs STAGES in a private temporary work directory per job.

    One instance serves every worker thread: it keeps no per-job state, and its adapters are
    thread-safe (the whisper model is loaded once and guarded by its own lock).
    """

    def __init__(
        self,
        services: PipelineServices,
        *,
        stages: Sequence[Stage] = STAGES,
        work_root: Path | None = None,
        observe_duration: Callable[[str, float], None] | None = None,
    ) -> None:
        self.services = services
        self.runner = StageRunner(stages, observe_duration=observe_duration)
        self.work_root = work_root

    def run(self, job: JobInfo, control: JobControl) -> Mapping[str, Any]:
        """Process the job; return its video_metadata fields."""
        return self.run_job(job, control).fields

    def run_job(self, job: JobInfo, control: JobControl) -> JobOutcome:
        """Process the job; the work directory is removed whatever happens."""
        if self.work_root is not None:
            self.work_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(
            prefix=f"vproc-job-{job.job_id}-", dir=self.work_root
        ) as work:
            work_dir = Path(work)
            results = self.runner.run(job, control, self.services, work_dir)
            return self._outcome(job, control, work_dir, results)

    def _outcome(
        self,
        job: JobInfo,
        control: JobControl,
        work_dir: Path,
        results: Mapping[str, StageResult],
    ) -> JobOutcome:
        meta = results["metadata"].detail
        transcript = results["transcribe"]
        subtitles = results["subtitles"]
        text_key = transcript.artifacts.get("transcript_txt")
        ctx = StageContext(
            job=job,
            work_dir=work_dir,
            services=self.services,
            results=results,
            report=lambda _fraction: None,
            raise_if_interrupted=control.raise_if_interrupted,
        )
        text = fetch(ctx, TRANSCRIPT_TXT, text_key).read_text("utf-8").strip() if text_key else ""
        probe = ctx.probed()
        fields = {
            "title": meta.get("title"),
            "description": meta.get("description"),
            "tags": list(meta.get("tags") or []),
            "show_notes_text": meta.get("show_notes"),
            "transcript_text": text,
            "transcript_file_url": text_key,
            "subtitle_files_urls": subtitle_files_urls(subtitles),
            "thumbnail_file_url": results["thumbnail"].artifacts.get("thumbnail"),
            "extracted_video_duration_seconds": probe.duration_seconds,
            "extracted_video_resolution": probe.resolution,
            "extracted_video_format": probe.format_name,
            "language": transcript.detail.get("language"),
            "language_probability": transcript.detail.get("language_probability"),
        }
        return JobOutcome(
            fields=fields,
            results=results,
            chapters=list(meta.get("chapters") or []),
            language=meta.get("language") or transcript.detail.get("language"),
        )


def subtitle_files_urls(subtitles: StageResult) -> dict[str, Any] | None:
    """`video_metadata.subtitle_files_urls`: the original-language track as `vtt`/`srt` (the
    shape clients already read), and each translation under its language code:
    `{"vtt": …, "srt": …, "en": {"vtt": …, "srt": …}}`."""
    artifacts = subtitles.artifacts
    if not artifacts:
        return None
    urls: dict[str, Any] = {"vtt": artifacts["vtt"], "srt": artifacts["srt"]}
    for name, key in artifacts.items():
        language, dot, fmt = name.partition(".")
        if dot:
            urls.setdefault(language, {})[fmt] = key
    return urls


def make_metadata(settings: Settings, *, cache: AICache | None = None) -> MetadataGenerator:
    """The MetadataGenerator for AI_PROVIDER (paid providers behind the cache, if given)."""
    from processor.ai.factory import make_metadata_generator

    return make_metadata_generator(settings, cache=cache)


def build_pipeline(
    settings: Settings,
    *,
    storage: Storage | None = None,
    media: MediaToolkit | None = None,
    transcriber: Transcriber | None = None,
    metadata: MetadataGenerator | None = None,
    work_root: Path | None = None,
    cache: AICache | None = None,
    observe_duration: Callable[[str, float], None] | None = None,
) -> MediaPipeline:
    """A MediaPipeline from settings, with any adapter replaced by the one given.

    `cache` puts paid AI calls behind the Postgres response cache (the worker passes one;
    `vproc process`, which has no database, does not).
    """
    from processor.ai.factory import make_transcriber
    from processor.media import MediaLimits
    from processor.media.factory import make_media_toolkit
    from processor.storage.factory import make_storage

    services = PipelineServices(
        storage=storage if storage is not None else make_storage(settings),
        media=media if media is not None else make_media_toolkit(settings),
        transcriber=(
            transcriber if transcriber is not None else make_transcriber(settings, cache=cache)
        ),
        metadata=metadata if metadata is not None else make_metadata(settings, cache=cache),
        videos_bucket=settings.videos_bucket,
        artifacts_bucket=settings.artifacts_bucket,
        limits=MediaLimits.from_settings(settings),
        metadata_language=settings.metadata_language,
    )
    return MediaPipeline(services, work_root=work_root, observe_duration=observe_duration)


def make_pipeline(
    settings: Settings,
    *,
    cache: AICache | None = None,
    observe_duration: Callable[[str, float], None] | None = None,
) -> MediaPipeline:
    """The worker's Pipeline: adapters from settings; the whisper model loads on first use."""
    return build_pipeline(settings, cache=cache, observe_duration=observe_duration)
