"""Metadata stage: title, description, tags, show notes and chapters from the transcript."""

from __future__ import annotations

from typing import ClassVar

from processor.ai.metadata import MetadataContext
from processor.pipeline.artifacts import load_transcript
from processor.pipeline.stage import StageContext, StageResult


class MetadataStage:
    name: ClassVar[str] = "metadata"
    needs: ClassVar[tuple[str, ...]] = ("probe", "transcribe")
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.08

    def run(self, ctx: StageContext) -> StageResult:
        transcript = load_transcript(ctx)
        context = MetadataContext(
            original_filename=ctx.job.original_filename,
            duration_seconds=ctx.result_of("probe").detail.get("duration_seconds"),
            language=transcript.language,
        )
        generated = ctx.metadata.generate_metadata(transcript, context)
        return StageResult(
            detail={
                **generated.model_dump(mode="json"),
                "language": transcript.language,
                "provider": ctx.metadata.name,
                "model": ctx.metadata.model,
            }
        )
