"""vproc: a Supabase-centric video processor (transcripts, subtitles, metadata, thumbnails)."""

__version__ = "0.1.0"
