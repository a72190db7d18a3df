"""Object-key rules and the local backend's path mapping (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.config import Settings
from processor.errors import ConfigurationError, PermanentError, SourceMissingError
from processor.storage import MAX_KEY_BYTES, check_bucket, check_key
from processor.storage.factory import make_storage
from processor.storage.local import LocalStorage


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs/file.mp4",
        "a/../b.mp4",
        "../escape.mp4",
        "a/./b",
        "a//b",
        "a/b/",
        "a\\b",
        "a/\x00b",
        "a/\nb",
        "x" * (MAX_KEY_BYTES + 1),
        "ü" * (MAX_KEY_BYTES // 2 + 1),  # counted in UTF-8 bytes
    ],
)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(PermanentError, match="invalid object key"):
        check_key(key)


@pytest.mark.parametrize(
    "key",
    ["owner/1/transcript.txt", "owner/vidéo ünïcode 📼 name.mp4", "a/b c/d..e/f.mp4", "x"],
)
def test_good_keys_pass(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("bucket", ["", "Videos", "a/b", "..", "a..b", "-x"])
def test_bad_buckets_are_refused(bucket: str) -> None:
    with pytest.raises(PermanentError):
        check_bucket(bucket)


def test_local_storage_never_leaves_its_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    assert storage.path_of("videos", "u/v.mp4") == tmp_path / "root" / "videos" / "u" / "v.mp4"
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(PermanentError):
        storage.download_to("videos", "../../secret.txt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_local_storage_segment_too_long_for_the_file_system(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = "owner/" + "é" * 200 + ".mp4"  # 400 bytes: a valid key, too long for one file name
    source = tmp_path / "src"
    source.write_bytes(b"x")
    assert storage.exists("videos", key) is False
    with pytest.raises(SourceMissingError):
        storage.download_to("videos", key, tmp_path / "dest")
    with pytest.raises(PermanentError, match="too long"):
        storage.put_file("videos", key, source)


def test_make_storage_checks_backend_settings(tmp_path: Path) -> None:
    local = make_storage(Settings(_env_file=None, local_storage_path=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path
    with pytest.raises(ConfigurationError, match="SUPABASE_URL"):
        make_storage(Settings(_env_file=None, storage_backend="supabase"))
    with pytest.raises(ConfigurationError, match="GCS_BUCKET_NAME"):
        make_storage(Settings(_env_file=None, storage_backend="gcs"))
