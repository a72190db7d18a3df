"""Metadata stage: title, description, tags, show notes and chapters from the transcript.

METADATA_LANGUAGE picks the metadata's language: `source` (the spoken one) or a code. For
English, non-English speech is summarised from its English translation, so the offline
engine (which cannot translate) writes English too.
"""

from __future__ import annotations

from typing import ClassVar

from processor.ai.contract import MetadataContext
from processor.pipeline.artifacts import load_transcript
from processor.pipeline.stage import StageContext, StageResult


class MetadataStage:
    name: ClassVar[str] = "metadata"
    needs: ClassVar[tuple[str, ...]] = ("probe", "transcribe")
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.08

    def run(self, ctx: StageContext) -> StageResult:
        transcript = load_transcript(ctx)
        wanted = ctx.services.metadata_language
        target = transcript.language if wanted == "source" else wanted
        source = transcript
        english = transcript.english
        if target == "en" and transcript.language != "en" and english is not None:
            source = english
        context = MetadataContext(
            original_filename=ctx.job.original_filename,
            duration_seconds=ctx.probed().duration_seconds,
            language=source.language,
            output_language=target,
        )
        generated = ctx.metadata.generate_metadata(source, context)
        # The offline engine only extracts: it writes in the language of what it was given.
        written = source.language if ctx.metadata.name == "local" else target
        return StageResult(
            detail={
                **generated.model_dump(mode="json"),
                "language": transcript.language,
                "language_probability": transcript.language_probability,
                "metadata_language": written,
                "from_translation": source is not transcript,
                "provider": ctx.metadata.name,
                "model": ctx.metadata.model,
            }
        )
