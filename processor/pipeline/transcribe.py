"""Transcribe stage: speech to a timed transcript; stores transcript.txt and transcript.json."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from processor.ai.contract import iso_language
from processor.pipeline.artifacts import TRANSCRIPT_JSON, TRANSCRIPT_TXT, audio_path, upload
from processor.pipeline.stage import StageContext, StageResult


class TranscribeStage:
    name: ClassVar[str] = "transcribe"
    needs: ClassVar[tuple[str, ...]] = ("audio",)
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.6

    def run(self, ctx: StageContext) -> StageResult:
        if ctx.result_of("audio").skipped:
            return StageResult(detail={"skipped": "no_audio"})
        transcript = ctx.transcriber.transcribe(
            audio_path(ctx), on_progress=ctx.report, raise_if_interrupted=ctx.raise_if_interrupted
        )
        # Stored as ISO 639 (video_metadata.language): some backends answer in BCP-47.
        transcript = replace(transcript, language=iso_language(transcript.language))
        text_path = ctx.work_dir / TRANSCRIPT_TXT
        text_path.write_text(transcript.text + ("\n" if transcript.text else ""), "utf-8")
        json_path = ctx.work_dir / TRANSCRIPT_JSON
        json_path.write_text(json.dumps(transcript.to_json(), ensure_ascii=False), "utf-8")
        return StageResult(
            detail={
                "language": transcript.language,
                "language_probability": transcript.language_probability,
                "translated": bool(transcript.translation),
                "segments": len(transcript.segments),
                "words": sum(len(s.words) for s in transcript.segments),
                "duration_seconds": transcript.duration_seconds,
                "engine": ctx.transcriber.name,
                "model": Path(transcript.model or ctx.transcriber.model).name,
            },
            artifacts={
                "transcript_txt": upload(ctx, TRANSCRIPT_TXT, text_path),
                "transcript_json": upload(ctx, TRANSCRIPT_JSON, json_path),
            },
        )
