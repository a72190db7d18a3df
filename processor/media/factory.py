"""The MediaToolkit vproc runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processor.config import Settings
    from processor.media import MediaToolkit


def make_media_toolkit(settings: Settings | None = None) -> MediaToolkit:
    """The PyAV toolkit (bundles FFmpeg; no system ffmpeg needed)."""
    from processor.media.pyav import PyAVMediaToolkit

    return PyAVMediaToolkit()
