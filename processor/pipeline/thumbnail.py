"""Thumbnail stage: the best-scoring keyframe, at most 1280 px wide, as thumbnail.jpg.

Audio-only media get their cover art, else a waveform picture (the toolkit decides).
"""

from __future__ import annotations

from typing import ClassVar

from processor.pipeline.artifacts import THUMBNAIL_JPG, source_path, upload
from processor.pipeline.stage import StageContext, StageResult

MAX_WIDTH = 1280


class ThumbnailStage:
    name: ClassVar[str] = "thumbnail"
    needs: ClassVar[tuple[str, ...]] = ("download", "probe")
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.05

    def run(self, ctx: StageContext) -> StageResult:
        dest = ctx.work_dir / THUMBNAIL_JPG
        info = ctx.media.extract_thumbnail(
            source_path(ctx),
            dest,
            duration_seconds=ctx.probed().duration_seconds,
            max_width=MAX_WIDTH,
            raise_if_interrupted=ctx.raise_if_interrupted,
        )
        return StageResult(
            detail={
                "width": info.width,
                "height": info.height,
                "time_seconds": info.time_seconds,
                "score": info.score,
                "candidates": info.candidates,
                "kind": info.kind,
            },
            artifacts={"thumbnail": upload(ctx, THUMBNAIL_JPG, dest)},
        )
