"""A cheap, deterministic MetadataGenerator for tests: title from the file name, the
transcript's opening as the description, no tags."""

from __future__ import annotations

import re
from pathlib import PurePath

from processor.ai.contract import GeneratedMetadata, MetadataContext, Transcript

_SEPARATORS = re.compile(r"[_\s.-]+")


class FilenameMetadataGenerator:
    """A MetadataGenerator that needs nothing and invents nothing."""

    name = "filename"
    model = "filename"

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        stem = PurePath(context.original_filename or "").stem
        title = _SEPARATORS.sub(" ", stem).strip()[:100] or "Untitled video"
        text = " ".join(transcript.text.split())
        description = text[:280].rsplit(" ", 1)[0] + "…" if len(text) > 280 else text
        return GeneratedMetadata(
            title=title, description=description, tags=[], show_notes=description, chapters=[]
        )
