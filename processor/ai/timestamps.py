"""How transcripts and metadata write a time: `mm:ss`, or `h:mm:ss` from an hour on."""

from __future__ import annotations


def format_timestamp(seconds: float) -> str:
    """`mm:ss`, or `h:mm:ss` from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
