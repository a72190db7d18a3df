"""Audio stage: decode the soundtrack into a 16 kHz mono WAV in the work directory."""

from __future__ import annotations

from typing import ClassVar

from processor.pipeline.artifacts import audio_path, source_path
from processor.pipeline.stage import StageContext, StageResult

INCOMPLETE_RATIO = 0.9  # decoded audio shorter than this share of the stated duration


class AudioStage:
    name: ClassVar[str] = "audio"
    needs: ClassVar[tuple[str, ...]] = ("download", "probe")
    local_output: ClassVar[bool] = True
    weight: ClassVar[float] = 0.08

    def run(self, ctx: StageContext) -> StageResult:
        probe = ctx.probed()
        if not probe.has_audio:
            return StageResult(detail={"skipped": "no_audio"})
        info = ctx.media.extract_audio(
            source_path(ctx),
            audio_path(ctx),
            on_progress=ctx.report,
            raise_if_interrupted=ctx.raise_if_interrupted,
            max_seconds=ctx.services.limits.max_media_seconds,
        )
        # A file cut short after its index (an interrupted copy) still decodes up to the cut:
        # the job goes on with what is there, and the detail says so.
        stated = probe.duration_seconds
        incomplete = info.duration_seconds < stated * INCOMPLETE_RATIO - 1.0
        return StageResult(
            detail={
                "duration_seconds": info.duration_seconds,
                "sample_rate": 16_000,
                "skipped_packets": info.skipped_packets,
                "incomplete": incomplete,
            }
        )
