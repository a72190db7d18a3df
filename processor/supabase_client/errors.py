"""Supabase Auth, Storage, PostgREST and Realtime failures translated into vproc errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import websockets
from postgrest import APIError
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError

from processor.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    MediaTooLargeError,
    PermanentError,
    StorageUnavailableError,
    TransientError,
    UnsupportedMediaError,
    VprocError,
)

# PostgREST codes for "the database is unreachable" (PGRST00x) and a gateway's 5xx.
_DB_UNREACHABLE = {"PGRST000", "PGRST001", "PGRST002", "PGRST003", "502", "503", "504", "520"}
_JWT_REFUSED = {"PGRST300", "PGRST301", "PGRST302", "PGRST303"}
_NOT_EXPOSED = {"PGRST106", "PGRST202", "PGRST205", "42P01", "42883"}


@contextmanager
def auth_errors(email: str) -> Iterator[None]:
    """Supabase Auth failures as vproc errors; messages are the server's, never the password."""
    try:
        yield
    except AuthRetryableError as exc:
        raise TransientError(f"Supabase Auth is unavailable: {exc.message}") from exc
    except AuthApiError as exc:
        if exc.status == 429:
            raise TransientError(f"Supabase Auth is rate limiting sign-ins: {exc.message}") from exc
        if exc.status >= 500:
            raise TransientError(f"Supabase Auth answered {exc.status}: {exc.message}") from exc
        if exc.status == 401 and exc.code is None:
            raise ConfigurationError(f"Supabase refused SUPABASE_ANON_KEY: {exc.message}") from exc
        raise PermanentError(
            f"Supabase Auth refused the sign-in for {email}: {exc.message}"
        ) from exc
    except AuthError as exc:
        raise PermanentError(
            f"Supabase Auth refused the sign-in for {email}: {exc.message}"
        ) from exc
    except httpx.HTTPError as exc:
        raise TransientError(f"Supabase Auth is unreachable: {type(exc).__name__}") from exc


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Storage answers some errors with HTTP 400 and the real status in the JSON body."""
    try:
        yield
    except StorageApiError as exc:
        raise _storage_error(exc, doing) from exc
    except httpx.HTTPError as exc:
        raise StorageUnavailableError(f"{doing}: {type(exc).__name__}") from exc
    except StorageException as exc:
        raise StorageUnavailableError(f"{doing}: unexpected response") from exc


def _storage_error(exc: StorageApiError, doing: str) -> VprocError:
    try:
        status = int(exc.status)
    except (TypeError, ValueError):
        status = 500
    error = f"{exc.code} {exc.message}".lower()
    if status == 404 and "bucket" in error:
        return ConfigurationError(f"{doing}: the bucket does not exist")
    if status == 413 or "too large" in error:
        return MediaTooLargeError(f"{doing}: {exc.message}")
    if status == 415 or "mime" in error:
        return UnsupportedMediaError(f"{doing}: {exc.message}")
    if status == 429 or status >= 500:
        return StorageUnavailableError(f"{doing}: Supabase Storage answered {status}")
    return PermanentError(f"{doing}: Supabase Storage refused it ({status}): {exc.message}")


@contextmanager
def rest_errors(doing: str) -> Iterator[None]:
    """PostgREST errors by their code: unreachable database, refused token, missing schema."""
    try:
        yield
    except APIError as exc:
        code, message = exc.code or "", exc.message or "no message"
        if code in _DB_UNREACHABLE:
            raise DatabaseUnavailableError(f"{doing}: PostgREST answered {code}") from exc
        if code in _JWT_REFUSED:
            raise PermanentError(f"{doing}: PostgREST refused the access token: {message}") from exc
        if code in _NOT_EXPOSED:
            raise ConfigurationError(
                f"{doing}: {message} (are the vproc migrations applied to this project?)"
            ) from exc
        raise DatabaseError(f"{doing}: refused ({code}): {message}") from exc
    except httpx.HTTPError as exc:
        raise DatabaseUnavailableError(
            f"{doing}: PostgREST is unreachable ({type(exc).__name__})"
        ) from exc


@contextmanager
def realtime_connect_errors() -> Iterator[None]:
    try:
        yield
    except websockets.exceptions.InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise PermanentError(f"Supabase Realtime refused the connection ({status})") from exc
        raise TransientError(f"Supabase Realtime answered {status}") from exc
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
        raise TransientError(f"cannot connect to Supabase Realtime: {type(exc).__name__}") from exc
