"""Subtitles stage: readable WebVTT and SubRip cues from the transcript's word timings."""

from __future__ import annotations

from typing import ClassVar

from processor.media.subtitles import build_cues, write_subtitles
from processor.pipeline.artifacts import SUBTITLES_SRT, SUBTITLES_VTT, load_transcript, upload
from processor.pipeline.stage import StageContext, StageResult


class SubtitlesStage:
    name: ClassVar[str] = "subtitles"
    needs: ClassVar[tuple[str, ...]] = ("probe", "transcribe")
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.02

    def run(self, ctx: StageContext) -> StageResult:
        if ctx.result_of("transcribe").skipped:
            return StageResult(detail={"skipped": ctx.result_of("transcribe").skipped})
        transcript = load_transcript(ctx)
        words = [w for segment in transcript.segments for w in segment.words]
        if not words:
            return StageResult(detail={"skipped": "no_speech"})
        duration = ctx.result_of("probe").detail.get("duration_seconds")
        cues = build_cues(words, media_duration=duration)
        vtt, srt = ctx.work_dir / SUBTITLES_VTT, ctx.work_dir / SUBTITLES_SRT
        write_subtitles(cues, vtt, srt)
        return StageResult(
            detail={"cues": len(cues)},
            artifacts={
                "vtt": upload(ctx, SUBTITLES_VTT, vtt),
                "srt": upload(ctx, SUBTITLES_SRT, srt),
            },
        )
