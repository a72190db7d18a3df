"""Object names for uploaded videos: the one rule both the local submit and the Supabase
client use to turn a user's file name into a Storage key."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path

MAX_KEY_NAME = 200
FALLBACK_NAME = "video"
# Letters NFKD leaves whole that have a usual ASCII spelling.
_ASCII_SPELLINGS = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
     "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th",
     "ı": "i"}
)  # fmt: skip


def _ascii_letters(text: str) -> str:
    """`text` folded to ASCII: accents dropped, compatibility forms unfolded, the rest removed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_SPELLINGS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def safe_object_name(filename: str) -> str:
    """An object name Supabase Storage, GCS and file systems all accept, from a file's name.

    Only `A-Z a-z 0-9 . _ -` remain: Storage refuses keys outside its S3-safe ASCII set
    (`InvalidKey`), so accented letters lose their accents and other scripts are dropped. A
    name with nothing readable left becomes `video` (keeping its extension). At most
    MAX_KEY_NAME characters; the user's own file name is kept in `original_filename`.
    """
    name = Path(filename).name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip("."):
        stem, ext = name, ""
    ext = re.sub(r"[^A-Za-z0-9]+", "", _ascii_letters(ext))[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", _ascii_letters(stem)).lstrip("._").rstrip(".")
    if not stem.strip("_-"):
        stem = FALLBACK_NAME
    stem = stem[: MAX_KEY_NAME - len(ext) - 1] if ext else stem[:MAX_KEY_NAME]
    return f"{stem}.{ext}" if ext else stem


def video_object_key(user_id: uuid.UUID, video_id: uuid.UUID, filename: str) -> str:
    """`<user_id>/<video_id>/<safe name>`: the key an upload goes to (Storage policies read the
    first segment as the owner)."""
    return f"{user_id}/{video_id}/{safe_object_name(filename)}"
