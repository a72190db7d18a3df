"""Settings, read once from the environment and `.env`; the only module that reads os.environ."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A generally available Gemini Flash model with no announced shutdown date; the id doctor
# suggests when GEMINI_MODEL is retired or unknown.
DEFAULT_GEMINI_MODEL = "gemini-3.5-flash"


def default_data_dir() -> Path:
    """Per-user directory for the embedded database and the local stores."""
    return Path(platformdirs.user_data_dir("vproc", appauthor=False))


class Settings(BaseSettings):
    """vproc settings. Each field is its environment variable in lower case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # Database. Empty: an embedded Postgres in `vproc_data_dir`.
    database_url: SecretStr | None = None
    vproc_data_dir: Path = Field(default_factory=default_data_dir)

    # Supabase project (client-side commands, supabase storage backend).
    supabase_url: str | None = None
    supabase_anon_key: SecretStr | None = None
    supabase_service_role_key: SecretStr | None = None
    supabase_jwt_secret: SecretStr | None = None

    # Storage.
    storage_backend: Literal["local", "supabase", "gcs"] = "local"
    local_storage_path: Path | None = None
    gcs_bucket_name: str | None = None
    videos_bucket: str = "videos"
    artifacts_bucket: str = "video-artifacts"

    # AI.
    ai_provider: Literal["gemini", "local"] | None = None
    gemini_api_key: SecretStr | None = None
    gemini_model: str = DEFAULT_GEMINI_MODEL
    # Another Gemini API endpoint (a proxy, or a local stand-in in tests); unset: Google's.
    gemini_base_url: str | None = None
    gemini_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    # How long a cached AI answer (same provider, model, prompt version and input) is reused.
    ai_cache_ttl_seconds: int = Field(default=2_592_000, ge=60)
    transcriber: Literal["whisper", "gemini"] = "whisper"
    whisper_model: str | None = None
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_compute_type: str | None = None
    # Language of titles, descriptions, tags and show notes: `source` (the detected spoken
    # language) or an ISO 639-1 code such as `en`.
    metadata_language: str = "source"

    # Worker.
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    job_lease_seconds: int = Field(default=300, ge=10, le=86_400)
    job_max_attempts: int = Field(default=3, ge=1, le=100)

    # Media limits: over one, a job fails `media_too_large` before anything is decoded.
    max_media_seconds: int = Field(default=14_400, ge=1)  # 4 hours
    max_source_bytes: int = Field(default=5 * 1024**3, ge=1)  # 5 GiB, the videos bucket's limit
    max_frame_pixels: int = Field(default=7680 * 4320, ge=1)  # 8K UHD

    @field_validator(
        "database_url",
        "supabase_anon_key",
        "supabase_service_role_key",
        "supabase_jwt_secret",
        "gemini_api_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("metadata_language", mode="before")
    @classmethod
    def _language_code(cls, value: object) -> object:
        if value in (None, ""):
            return "source"
        text = str(value).strip().lower()
        if text != "source" and not (len(text) == 2 and text.isascii() and text.isalpha()):
            raise ValueError("METADATA_LANGUAGE is `source` or an ISO 639-1 code such as `en`")
        return text

    @property
    def effective_ai_provider(self) -> Literal["gemini", "local"]:
        """`AI_PROVIDER`, defaulting to gemini when a key is set and local otherwise."""
        if self.ai_provider is not None:
            return self.ai_provider
        return "gemini" if self.gemini_api_key else "local"

    @property
    def effective_local_storage_path(self) -> Path:
        """`LOCAL_STORAGE_PATH`, defaulting to `<data dir>/storage`."""
        return self.local_storage_path or self.vproc_data_dir / "storage"

    @property
    def embedded_pgdata(self) -> Path:
        """Data directory of the embedded Postgres used when DATABASE_URL is unset."""
        return self.vproc_data_dir / "pgdata"
