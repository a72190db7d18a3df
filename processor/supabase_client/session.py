"""The project's credentials, the supabase-py client and the signed-in user's identity."""

from __future__ import annotations

import uuid

import httpx
import supabase
from supabase_auth.types import AuthResponse

from processor.config import Settings
from processor.errors import ConfigurationError, PermanentError
from processor.supabase_client.errors import auth_errors

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def project(settings: Settings) -> tuple[str, str]:
    if not settings.supabase_url or settings.supabase_anon_key is None:
        raise ConfigurationError(
            "SUPABASE_URL and SUPABASE_ANON_KEY must be set to talk to Supabase as a client"
        )
    return settings.supabase_url.rstrip("/"), settings.supabase_anon_key.get_secret_value()


def sync_client(url: str, anon_key: str, http: httpx.Client) -> supabase.Client:
    # No refresh timer thread for a one-shot command; get_session() refreshes when needed.
    options = supabase.ClientOptions(httpx_client=http, auto_refresh_token=False)
    try:
        return supabase.create_client(url, anon_key, options)
    except supabase.SupabaseException as exc:
        raise ConfigurationError(f"SUPABASE_URL or SUPABASE_ANON_KEY: {exc.message}") from exc


def user_headers(client: supabase.Client, anon_key: str, email: str) -> dict[str, str]:
    """The signed-in user's headers for a request made outside supabase-py (TUS).

    get_session() refreshes a token about to expire, so a long upload keeps a valid one.
    """
    with auth_errors(email):
        session = client.auth.get_session()
    if session is None:
        raise PermanentError(f"the Supabase session of {email} ended during the upload")
    return {"authorization": f"Bearer {session.access_token}", "apikey": anon_key}


def user_id_of(signed_in: AuthResponse, email: str) -> uuid.UUID:
    if signed_in.session is None or signed_in.user is None:
        raise PermanentError(f"Supabase Auth signed {email} in without a session (unconfirmed?)")
    return uuid.UUID(signed_in.user.id)
