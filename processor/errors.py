"""The error taxonomy: every failure vproc reports carries a stable, snake_case `error_code`.

Frontends branch on `error_code`, so renaming one is a contract change. A class's docstring is
its default message. `retryable` decides between a retry with backoff and FAILED at once.

    VprocError ("internal", retried)
    ├─ PermanentError → FAILED now
    │    InvalidMediaError, UnsupportedMediaError, SourceMissingError, ConfigurationError,
    │    AIBlockedError, AIRequestRejectedError, AIModelUnavailableError, …
    ├─ TransientError → retried with backoff until max_attempts
    │    StorageUnavailableError, ProviderRateLimitedError, DatabaseUnavailableError, …
    ├─ LeaseLostError: the claim is gone; stop quietly, write nothing
    ├─ JobCancelledError: the owner cancelled; → CANCELLED
    ├─ ShutdownRequestedError: the worker is stopping; → back to PENDING, attempt given back
    └─ SideTaskDied: a worker side task stopped; the worker stops (never a job's error)

What a job's owner reads about a failure (`video_jobs.error_message`, a stage's
`detail.message`) is `public_message(exc)`: the curated line of a taxonomy error with local
paths, URLs and the host name taken out, or the generic line of `internal` for anything else.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from typing import ClassVar

MAX_MESSAGE_CHARS = 500
# A URL, an absolute POSIX path (not the `/` inside "video/mp4" or an object key), a
# Windows path.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"`<>]*")
_POSIX_PATH = re.compile(r"(?<![\w/.~:-])~?/[^\s'\"`()<>\[\],;:]+")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"`<>,;]*")


class VprocError(Exception):
    """Internal error; it has been logged."""

    error_code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str | None = None, *, retry_after_seconds: int | None = None):
        super().__init__(message or (self.__doc__ or self.error_code).strip())
        self.retry_after_seconds = retry_after_seconds

    @property
    def message(self) -> str:
        """One human-readable line."""
        text = str(self.args[0]).strip() if self.args else ""
        return text.splitlines()[0] if text else self.error_code


# --- permanent: the job fails at once --------------------------------------------------------


class PermanentError(VprocError):
    """The job cannot succeed as it stands."""

    error_code = "permanent_error"
    retryable = False


class InvalidMediaError(PermanentError):
    """The file is not a readable video."""

    error_code = "invalid_media"


class UnsupportedMediaError(PermanentError):
    """The file's format or codec is not supported."""

    error_code = "unsupported_media"


class SourceMissingError(PermanentError):
    """The uploaded file is missing from storage."""

    error_code = "source_missing"


class MediaTooLargeError(PermanentError):
    """The video exceeds the configured size or duration limit."""

    error_code = "media_too_large"


class LanguageUnsupportedError(PermanentError):
    """The speech is in a language the configured speech model cannot transcribe."""

    error_code = "language_unsupported"


class ConfigurationError(PermanentError):
    """vproc is not configured correctly."""

    error_code = "bad_config"


class AIBlockedError(PermanentError):
    """The AI provider refused the content."""

    error_code = "ai_blocked"


class AIRequestRejectedError(PermanentError):
    """The AI provider rejected the request."""

    error_code = "ai_rejected"


class AIModelUnavailableError(PermanentError):
    """The configured AI model does not exist or has been retired (GEMINI_MODEL)."""

    error_code = "ai_model_unavailable"


class DatabaseError(PermanentError):
    """The database refused an operation."""

    error_code = "database_error"


class MigrationError(DatabaseError):
    """A migration failed to apply."""

    error_code = "migration_failed"


class NotFoundError(PermanentError):
    """No such object."""

    error_code = "not_found"


class InvalidStateError(PermanentError):
    """The object is not in a state that allows this."""

    error_code = "invalid_state"


class QuotaExceededError(PermanentError):
    """A user's quota does not allow this (SQLSTATE PT429: HTTP 429 through PostgREST)."""

    error_code = "quota_exceeded"


# --- transient: retried with backoff ---------------------------------------------------------


class TransientError(VprocError):
    """A temporary failure; the job is retried."""

    error_code = "transient_error"
    retryable = True


class DatabaseUnavailableError(TransientError):
    """The database cannot be reached."""

    error_code = "database_unavailable"


class StorageUnavailableError(TransientError):
    """The storage service is unavailable."""

    error_code = "storage_unavailable"


class ProviderRateLimitedError(TransientError):
    """The AI provider is rate limiting requests."""

    error_code = "ai_rate_limited"


class ProviderUnavailableError(TransientError):
    """The AI provider is unavailable."""

    error_code = "ai_unavailable"


class AINoResponseError(TransientError):
    """The AI provider returned no usable response."""

    error_code = "ai_no_response"


# --- control flow ----------------------------------------------------------------------------


class LeaseLostError(VprocError):
    """The worker no longer holds this job's lease."""

    error_code = "lease_lost"
    retryable = False


class JobCancelledError(VprocError):
    """Cancelled at the owner's request."""

    error_code = "cancelled"
    retryable = False


class ShutdownRequestedError(VprocError):
    """The worker is shutting down."""

    error_code = "shutdown"
    retryable = True


class SideTaskDied(VprocError):
    """A worker side task stopped unexpectedly."""

    error_code = "worker_side_task_died"


# --- what users may read -----------------------------------------------------------------


def redact(text: str, conceal: Iterable[str] = ()) -> str:
    """`text` as one line without URLs, local paths, the host name or the `conceal` words."""
    line = (text.strip().splitlines() or [""])[0]
    line = _URL.sub("[url]", line)
    line = _WINDOWS_PATH.sub("[path]", line)
    line = _POSIX_PATH.sub("[path]", line)
    words = sorted({w for w in (*conceal, socket.gethostname()) if w and len(w) > 1}, key=len)
    for word in reversed(words):  # longest first: a worker id contains the host name
        line = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "[worker]", line)
    return line[:MAX_MESSAGE_CHARS]


def public_message(exc: BaseException, conceal: Iterable[str] = ()) -> str:
    """The one line a job's owner may read about `exc`.

    A taxonomy error's own message, redacted; for any other exception (whose text may hold
    paths, hosts or library internals) the generic line of `internal`. The full text belongs
    in the worker's log only.
    """
    if isinstance(exc, VprocError):
        return redact(exc.message, conceal) or exc.error_code
    return redact(VprocError.__doc__ or VprocError.error_code)
