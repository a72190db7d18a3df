"""Settings: contract names, defaults and validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from processor.config import Settings

CONTRACT = [
    "DATABASE_URL",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "STORAGE_BACKEND",
    "LOCAL_STORAGE_PATH",
    "GCS_BUCKET_NAME",
    "VIDEOS_BUCKET",
    "ARTIFACTS_BUCKET",
    "AI_PROVIDER",
    "GEMINI_API_KEY",
    "GEMINI_MODEL",
    "TRANSCRIBER",
    "WHISPER_MODEL",
    "WHISPER_DEVICE",
    "WHISPER_COMPUTE_TYPE",
    "WORKER_CONCURRENCY",
    "JOB_LEASE_SECONDS",
    "JOB_MAX_ATTEMPTS",
    "MAX_MEDIA_SECONDS",
    "MAX_SOURCE_BYTES",
    "MAX_FRAME_PIXELS",
    "METADATA_LANGUAGE",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_every_contract_setting_is_a_field() -> None:
    assert {name.lower() for name in CONTRACT} <= set(Settings.model_fields)


def test_every_setting_is_documented_in_env_example() -> None:
    from pathlib import Path

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, name


def test_defaults_need_no_keys() -> None:
    s = Settings()
    assert s.database_url is None
    assert s.storage_backend == "local"
    assert s.effective_ai_provider == "local"
    assert (s.videos_bucket, s.artifacts_bucket) == ("videos", "video-artifacts")


def test_media_limits_default_to_four_hours_5_gib_and_8k(monkeypatch) -> None:
    settings = Settings(_env_file=None)
    assert settings.max_media_seconds == 14_400
    assert settings.max_source_bytes == 5_368_709_120  # the videos bucket's file_size_limit
    assert settings.max_frame_pixels == 7680 * 4320
    monkeypatch.setenv("MAX_MEDIA_SECONDS", "60")
    assert Settings(_env_file=None).max_media_seconds == 60
    monkeypatch.setenv("MAX_FRAME_PIXELS", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_gemini_is_the_default_provider_once_a_key_is_set(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert Settings().effective_ai_provider == "gemini"
    monkeypatch.setenv("AI_PROVIDER", "local")
    assert Settings().effective_ai_provider == "local"


def test_bad_values_fail_at_startup(monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_empty_secret_means_unset(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings().database_url is None


def test_secrets_do_not_leak_in_repr(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "super-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@h/db")
    text = repr(Settings())
    assert "super-secret" not in text and "pw@" not in text


def test_metadata_language_is_source_or_an_iso_639_1_code(monkeypatch) -> None:
    from pydantic import ValidationError

    assert Settings(_env_file=None).metadata_language == "source"
    monkeypatch.setenv("METADATA_LANGUAGE", "EN")
    assert Settings(_env_file=None).metadata_language == "en"
    for bad in ("english", "e", "fr-CA", "12"):
        monkeypatch.setenv("METADATA_LANGUAGE", bad)
        with pytest.raises(ValidationError, match="METADATA_LANGUAGE"):
            Settings(_env_file=None)
