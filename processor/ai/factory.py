"""Builds the AI adapters that the settings choose, wraps them in the cache, checks their health.

The only module that knows every adapter: the pipeline and `vproc doctor` come here, the
adapters themselves know only `contract.py`.
"""

from __future__ import annotations

from processor.ai.cache import AICache, CachedMetadataGenerator, CachedTranscriber
from processor.ai.contract import Health, MetadataGenerator, Transcriber
from processor.ai.gemini.client import check_model
from processor.ai.gemini.metadata import GeminiMetadataGenerator
from processor.ai.gemini.transcriber import GeminiTranscriber
from processor.ai.local import LocalMetadataGenerator
from processor.ai.whisper import MODEL_FIX, WhisperTranscriber
from processor.config import Settings
from processor.errors import ConfigurationError

GEMINI_CHECK_TIMEOUT_SECONDS = 10.0


def make_transcriber(settings: Settings, *, cache: AICache | None = None) -> Transcriber:
    """Build the backend that TRANSCRIBER names; the model itself loads on first use.

    With a cache, a paid backend (Gemini) answers a repeated input from Postgres; whisper runs
    locally and is never cached. Raises ConfigurationError when the backend is not available.
    """
    if settings.transcriber == "whisper":
        return WhisperTranscriber(
            settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
        )
    if settings.transcriber == "gemini":
        key = _gemini_key(settings, "TRANSCRIBER")
        transcriber = GeminiTranscriber(
            key, settings.gemini_model, base_url=settings.gemini_base_url
        )
        return transcriber if cache is None else CachedTranscriber(transcriber, cache)
    raise ConfigurationError(f"unknown TRANSCRIBER {settings.transcriber!r}")


def make_metadata_generator(
    settings: Settings, *, cache: AICache | None = None
) -> MetadataGenerator:
    """The MetadataGenerator for AI_PROVIDER (default: gemini with a key, local without).

    With a cache, paid calls go through it (a retry or re-run of the same input is answered
    from Postgres); the local engine is free and deterministic, so it is never cached.
    Raises ConfigurationError for AI_PROVIDER=gemini without GEMINI_API_KEY.
    """
    if settings.effective_ai_provider != "gemini":
        return LocalMetadataGenerator()
    generator = GeminiMetadataGenerator(
        _gemini_key(settings, "AI_PROVIDER"),
        settings.gemini_model,
        base_url=settings.gemini_base_url,
        timeout_seconds=settings.gemini_timeout_seconds,
    )
    return generator if cache is None else CachedMetadataGenerator(generator, cache)


def _gemini_key(settings: Settings, setting: str) -> str:
    """GEMINI_API_KEY, which `setting`=gemini needs; ConfigurationError when it is unset."""
    if settings.gemini_api_key is None:
        raise ConfigurationError(f"{setting}=gemini needs GEMINI_API_KEY")
    return settings.gemini_api_key.get_secret_value()


# --- health -------------------------------------------------------------------------------


def speech_model_health(settings: Settings) -> Health:
    """Whether the transcriber TRANSCRIBER names can run: whisper's model loads (timed)."""
    try:
        transcriber = make_transcriber(settings)
    except ConfigurationError as exc:
        fix = (
            "set GEMINI_API_KEY, or TRANSCRIBER=whisper"
            if settings.transcriber == "gemini"
            else MODEL_FIX
        )
        return Health("FAIL", exc.message, fix)
    if not isinstance(transcriber, WhisperTranscriber):
        return Health(
            "OK",
            f"TRANSCRIBER={transcriber.name} ({transcriber.model}) runs remotely: see gemini",
        )
    return transcriber.health()


def multilingual_model_health(settings: Settings) -> Health:
    """Whether whisper has a multilingual model for language detection and other languages."""
    if settings.transcriber != "whisper":
        return Health("OK", f"not used: TRANSCRIBER={settings.transcriber}")
    return WhisperTranscriber(
        settings.whisper_model,
        device=settings.whisper_device,
        compute_type=settings.whisper_compute_type,
    ).multilingual_health()


def gemini_health(settings: Settings) -> Health:
    """GEMINI_API_KEY and GEMINI_MODEL, checked with one cheap call when a key is set."""
    users: list[str] = []
    if settings.effective_ai_provider == "gemini":
        users.append("AI_PROVIDER=gemini")
    if settings.transcriber == "gemini":
        users.append("TRANSCRIBER=gemini")
    if settings.gemini_api_key is None:
        if users:
            return Health(
                "FAIL",
                f"{' and '.join(users)} but GEMINI_API_KEY is unset",
                "set GEMINI_API_KEY, or AI_PROVIDER=local and TRANSCRIBER=whisper",
            )
        return Health("OK", "not configured: the local engine writes metadata")
    health = check_model(
        settings.gemini_api_key.get_secret_value(),
        settings.gemini_model,
        base_url=settings.gemini_base_url,
        timeout_seconds=GEMINI_CHECK_TIMEOUT_SECONDS,
    )
    if health.status != "OK":
        return health
    used = " and ".join(users) if users else "unused: AI_PROVIDER=local, TRANSCRIBER=whisper"
    return Health("OK", f"{health.detail} ({health.elapsed_ms or 0:.0f} ms; {used})")
