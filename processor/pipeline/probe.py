"""Probe stage: duration, resolution, container and codecs, and whether there is audio.

The gate before any decoding: a container not on the allow-list, or media over the limits
(MAX_MEDIA_SECONDS, MAX_FRAME_PIXELS), fails the job here.
"""

from __future__ import annotations

from typing import ClassVar

from processor.pipeline.artifacts import source_path
from processor.pipeline.stage import StageContext, StageResult


class ProbeStage:
    name: ClassVar[str] = "probe"
    needs: ClassVar[tuple[str, ...]] = ("download",)
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.02

    def run(self, ctx: StageContext) -> StageResult:
        info = ctx.media.probe(source_path(ctx), limits=ctx.services.limits)
        return StageResult(detail=info.to_json())
