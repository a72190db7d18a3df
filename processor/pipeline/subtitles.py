"""Subtitles stage: readable WebVTT and SubRip cues from the transcript's word timings.

Non-English speech gets a second, English track (`subtitles.en.*`) from the translation,
laid out by the same cue rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from processor.ai.contract import Transcript
from processor.media.subtitles import build_cues, write_subtitles
from processor.pipeline.artifacts import (
    SUBTITLES_EN_SRT,
    SUBTITLES_EN_VTT,
    SUBTITLES_SRT,
    SUBTITLES_VTT,
    load_transcript,
    upload,
)
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
        duration = ctx.probed().duration_seconds
        original = _write(ctx, transcript, duration, SUBTITLES_VTT, SUBTITLES_SRT)
        if original is None:
            return StageResult(detail={"skipped": "no_speech"})
        cues, vtt, srt = original
        detail: dict[str, object] = {"cues": cues, "language": transcript.language}
        artifacts = {"vtt": vtt, "srt": srt}
        english = transcript.english
        translated = (
            _write(ctx, english, duration, SUBTITLES_EN_VTT, SUBTITLES_EN_SRT) if english else None
        )
        if translated is not None:
            detail["en_cues"] = translated[0]
            artifacts |= {"en.vtt": translated[1], "en.srt": translated[2]}
        return StageResult(detail=detail, artifacts=artifacts)


def _write(
    ctx: StageContext,
    transcript: Transcript,
    duration: float | None,
    vtt_name: str,
    srt_name: str,
) -> tuple[int, str, str] | None:
    """Write and upload one track; (cue count, vtt key, srt key), None without words."""
    words = [w for segment in transcript.segments for w in segment.words]
    if not words:
        return None
    cues = build_cues(words, media_duration=duration)
    vtt: Path = ctx.work_dir / vtt_name
    srt: Path = ctx.work_dir / srt_name
    write_subtitles(cues, vtt, srt)
    return len(cues), upload(ctx, vtt_name, vtt), upload(ctx, srt_name, srt)
