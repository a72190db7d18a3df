"""Object names for uploads: ASCII-safe under Supabase Storage's key rule, readable, bounded."""

from __future__ import annotations

import uuid

import pytest

from processor.storage.names import MAX_KEY_NAME, safe_object_name
from tests.support.supabase_storage import STORAGE_VALID_KEY


def is_valid_storage_key(key: str) -> bool:
    """Supabase Storage's `isValidKey`: a non-empty key of its ASCII characters only."""
    return STORAGE_VALID_KEY.fullmatch(key) is not None


NAMES = [
    "Holiday clip (final).mp4",
    "Café del Mar – résumé.mp4",
    "Straße Größe.MOV",
    "ビデオ.mp4",
    "видео 2026.webm",
    "😀😀.mkv",
    "ﬁnal ＡＢＣ.mp4",  # ligature and full-width letters fold to ASCII
    "a/b\\c.mp4",
    '50% #1 [draft] {v2}^~`"<>|.mp4',
    "tab\tnew\nline.mp4",
    "..",
    "",
    ".hidden",
    "ñ" * 400 + ".mp4",
    "x" * 300 + ".mp4",
]


@pytest.mark.parametrize("filename", NAMES)
def test_every_name_is_a_valid_storage_key(filename: str) -> None:
    name = safe_object_name(filename)
    assert name, filename
    assert len(name) <= MAX_KEY_NAME
    assert name.isascii()
    assert "/" not in name
    assert is_valid_storage_key(name), name
    assert is_valid_storage_key(f"{uuid.uuid4()}/{uuid.uuid4()}/{name}")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Holiday clip (final).mp4", "Holiday_clip_final_.mp4"),
        ("Café del Mar – résumé.mp4", "Cafe_del_Mar_resume.mp4"),
        ("Straße Größe.MOV", "Strasse_Grosse.MOV"),
        ("ﬁnal ＡＢＣ.mp4", "final_ABC.mp4"),
        ("ビデオ.mp4", "video.mp4"),
        ("😀😀.mkv", "video.mkv"),
        ("..", "video"),
        ("", "video"),
    ],
)
def test_readable_ascii_is_kept_and_the_rest_falls_back(filename: str, expected: str) -> None:
    assert safe_object_name(filename) == expected


def test_the_extension_survives_truncation() -> None:
    name = safe_object_name("a" * 500 + ".webm")
    assert name.endswith(".webm") and len(name) == MAX_KEY_NAME
