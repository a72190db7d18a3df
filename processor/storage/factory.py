"""The Storage backend that STORAGE_BACKEND names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from processor.errors import ConfigurationError

if TYPE_CHECKING:
    from processor.config import Settings
    from processor.storage import Storage


def make_storage(settings: Settings) -> Storage:
    """Build the backend that STORAGE_BACKEND names from `settings`.

    Raises ConfigurationError when the backend's settings are missing.
    """
    if settings.storage_backend == "local":
        from processor.storage.local import LocalStorage

        return LocalStorage(settings.effective_local_storage_path)
    if settings.storage_backend == "supabase":
        from processor.storage.supabase import SupabaseStorage

        if not settings.supabase_url or settings.supabase_service_role_key is None:
            raise ConfigurationError(
                "STORAGE_BACKEND=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        return SupabaseStorage(
            settings.supabase_url, settings.supabase_service_role_key.get_secret_value()
        )
    if settings.storage_backend == "gcs":
        from processor.storage.gcs import GcsStorage

        if not settings.gcs_bucket_name:
            raise ConfigurationError("STORAGE_BACKEND=gcs needs GCS_BUCKET_NAME")
        return GcsStorage.from_environment(settings.gcs_bucket_name)
    raise ConfigurationError(f"unknown STORAGE_BACKEND {settings.storage_backend!r}")
