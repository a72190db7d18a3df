"""The client's road to a Supabase project: sign in, upload, insert and watch as a frontend does.

supabase-py sends every Auth, Storage and PostgREST request with the user's access token and the
`realtime` client joins the user's private Broadcast channel `jobs:<uid>` with it, so RLS, the
Storage policies and Realtime Authorization judge each request exactly as they judge a
browser's. Presenting the results is left to the CLI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import supabase
import websockets
from postgrest import APIError
from postgrest.types import ReturnMethod
from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from realtime.types import BroadcastPayload
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError
from supabase_auth.types import AuthResponse

from processor.commands.resumable import RESUMABLE_ABOVE_BYTES, ResumableTarget, upload_resumable
from processor.commands.submit import safe_object_name
from processor.config import Settings
from processor.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidStateError,
    MediaTooLargeError,
    NotFoundError,
    PermanentError,
    StorageUnavailableError,
    TransientError,
    UnsupportedMediaError,
    VprocError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# How often a watch looks at `stop_event` and its deadline while nothing arrives.
POLL_SECONDS = 0.2
# How long a watch waits for the realtime client to rejoin after the socket dropped.
REJOIN_GRACE_SECONDS = 60.0
# After a join, how long to wait for Realtime's "Replication connection established" before
# reading anyway (servers that predate the message never send it).
READY_GRACE_SECONDS = 10.0
# A watched job is re-read this often even when events arrive, as a backstop for a lost one.
BACKSTOP_SECONDS = 30.0
# The job events the database broadcasts (migration 20261201110000_create_job_broadcasts).
JOB_UPDATED = "job_updated"
JOB_DELETED = "job_deleted"
# What a job event carries; snapshots read the same columns so both compare equal.
JOB_EVENT_COLUMNS = "id,video_id,status,current_stage,progress,error_code,updated_at"
REPLICATION_READY = "Replication connection established"
# PostgREST codes for "the database is unreachable" (PGRST00x) and a gateway's 5xx.
_DB_UNREACHABLE = {"PGRST000", "PGRST001", "PGRST002", "PGRST003", "502", "503", "504", "520"}
_JWT_REFUSED = {"PGRST300", "PGRST301", "PGRST302", "PGRST303"}
_NOT_EXPOSED = {"PGRST106", "PGRST202", "PGRST205", "42P01", "42883"}


@dataclass(frozen=True)
class SubmittedViaSupabase:
    """A video uploaded and inserted as its owner, and the job its insert queued."""

    job_id: int
    video_id: uuid.UUID
    storage_path: str
    user_id: uuid.UUID
    size_bytes: int


def submit_via_supabase(
    settings: Settings,
    path: Path,
    *,
    email: str,
    password: str,
    content_type: str | None = None,
) -> SubmittedViaSupabase:
    """Sign in as `email`, upload `path` and insert its `videos` row as that user; return the job.

    The object goes to `<uid>/<video id>/<safe name>` in VIDEOS_BUCKET: up to 6 MiB as a
    multipart upload that httpx streams from disk, larger files as a resumable (TUS) upload in
    6 MiB chunks that resumes after an interrupted chunk, so the file is never held in memory.
    The row leaves `uploader_user_id` to its `auth.uid()` default; the enqueue trigger creates
    the job in the insert's transaction. When the insert is refused, the uploaded object is
    removed again.

    Raises ConfigurationError without SUPABASE_URL and SUPABASE_ANON_KEY, NotFoundError for a
    missing file, PermanentError (or a subclass) when Auth, Storage or PostgREST refuse the
    user, and a TransientError when one of them is unreachable or overloaded.
    """
    url, anon_key = _project(settings)
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    size_bytes = path.stat().st_size
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    bucket = settings.videos_bucket

    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        client = _sync_client(url, anon_key, http)
        with _auth_errors(email):
            signed_in = client.auth.sign_in_with_password({"email": email, "password": password})
        user_id = _user_id(signed_in, email)
        video_id = uuid.uuid4()
        key = f"{user_id}/{video_id}/{safe_object_name(path.name)}"

        if size_bytes > RESUMABLE_ABOVE_BYTES:
            target = ResumableTarget(
                endpoint=f"{url}/storage/v1/upload/resumable",
                bucket=bucket,
                object_name=key,
                content_type=content_type,
                headers=lambda: _user_headers(client, anon_key, email),
            )
            upload_resumable(http, target, path)
        else:
            with _storage_errors(f"upload {bucket}/{key}"):
                # A Path makes storage3 open the file itself and hand the handle to httpx,
                # which sends the multipart body in chunks.
                client.storage.from_(bucket).upload(
                    key, path, {"content-type": content_type, "upsert": "true"}
                )
        # An upload can outlive the access token; get_session() refreshes an expiring one and
        # the client then sends the new token to PostgREST.
        with _auth_errors(email):
            client.auth.get_session()

        row = {
            "id": str(video_id),
            "original_filename": path.name[:1024],
            "storage_path": key,
            "content_type": content_type,
            "size_bytes": size_bytes,
        }
        try:
            with _rest_errors("insert the video row"):
                client.table("videos").insert(row, returning=ReturnMethod.minimal).execute()
        except PermanentError:
            # Only a refusal is certain to have inserted nothing; after a timeout the row may
            # exist and would then point at the object.
            _remove_upload(client, bucket, key)
            raise

        with _rest_errors("read the new video's job"):
            rows = (
                client.table("video_jobs").select("id").eq("video_id", str(video_id)).execute()
            ).data
        if not rows:
            raise InvalidStateError(
                f"video {video_id} has no job: is the enqueue trigger installed on public.videos?"
            )
        job_id = int(rows[0]["id"])

    logger.info(
        "video submitted through Supabase",
        extra={"event": "video.submitted", "job_id": job_id, "video_id": str(video_id)},
    )
    return SubmittedViaSupabase(
        job_id=job_id,
        video_id=video_id,
        storage_path=key,
        user_id=user_id,
        size_bytes=size_bytes,
    )


def watch_via_realtime(
    settings: Settings,
    *,
    email: str,
    password: str,
    job_id: int | None = None,
    on_change: Callable[[dict[str, Any]], None],
    stop_event: threading.Event,
    timeout: float | None = None,
) -> dict[str, Any] | None:
    """Sign in as `email` and call `on_change(record)` for each event of that user's jobs.

    Joins the private Broadcast channel `jobs:<uid>` (Realtime Authorization lets the user read
    only their own topic) and listens for `job_updated` and `job_deleted`. A record carries
    id, video_id, status, current_stage, progress, error_code and updated_at; a deleted job is
    passed on as {"id", "video_id", "deleted": True}. With `job_id`, only that job's events are
    passed on; its current state is read through PostgREST once Realtime confirms the channel
    (the join's reply, then its "Replication connection established" message, so no event
    falls between the read and the stream), after every rejoin, and every BACKSTOP_SECONDS;
    the call returns the job's record at the first COMPLETED, FAILED or CANCELLED, which is
    final. A record older than one already passed on is dropped. The access token follows
    the session's refreshes. Returns None when `stop_event` is set or `timeout` seconds pass.
    Blocks; runs its own event loop.

    Raises like `submit_via_supabase`; NotFoundError when `job_id` is not the user's or is
    deleted; PermanentError when Realtime refuses the channel; TransientError when it cannot
    be reached or the channel is lost for good. Exceptions from `on_change` propagate.
    """
    url, anon_key = _project(settings)
    deadline = None if timeout is None else time.monotonic() + timeout
    watch = _JobsWatch(
        url,
        anon_key,
        email=email,
        password=password,
        job_id=job_id,
        on_change=on_change,
        stop_event=stop_event,
        deadline=deadline,
    )
    return asyncio.run(watch.run())


# --- watching ---------------------------------------------------------------------------------


class _Stopped(Exception):
    """`stop_event` was set or the deadline passed."""


class _JobsWatch:
    """One watch: the realtime callbacks only queue; `run` does all the work in order."""

    def __init__(
        self,
        url: str,
        anon_key: str,
        *,
        email: str,
        password: str,
        job_id: int | None,
        on_change: Callable[[dict[str, Any]], None],
        stop_event: threading.Event,
        deadline: float | None,
    ) -> None:
        self._url = url
        self._anon_key = anon_key
        self._email = email
        self._password = password
        self._job_id = job_id
        self._on_change = on_change
        self._stop_event = stop_event
        self._deadline = deadline
        self._latest: dict[int, tuple[datetime | None, dict[str, Any]]] = {}
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def run(self) -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            try:
                client = await supabase.acreate_client(
                    self._url, self._anon_key, supabase.AsyncClientOptions(httpx_client=http)
                )
            except supabase.AsyncSupabaseException as exc:
                raise ConfigurationError(f"SUPABASE_URL or SUPABASE_ANON_KEY: {exc}") from exc
            try:
                return await self._watch(client)
            except _Stopped:
                return None
            finally:
                await _close_realtime(client)

    async def _watch(self, client: supabase.AsyncClient) -> dict[str, Any] | None:
        with _auth_errors(self._email):
            signed_in = await self._until_stopped(
                client.auth.sign_in_with_password(
                    {"email": self._email, "password": self._password}
                )
            )
        user_id = _user_id(signed_in, self._email)
        assert signed_in.session is not None  # _user_id refuses a sign-in without one
        # The join carries this token and Realtime authorizes the private channel with it; the
        # client pushes each refreshed token to the joined channel (supabase-py's auth events).
        await client.realtime.set_auth(signed_in.session.access_token)

        channel = client.channel(
            f"jobs:{user_id}",
            {
                "config": {
                    "private": True,
                    # Ask Realtime to confirm when Broadcast from the database flows.
                    "broadcast": {"ack": False, "self": False, "replication_ready": True},
                    "presence": {"key": "", "enabled": False},
                }
            },
        )
        channel.on_broadcast(JOB_UPDATED, lambda message: self._events.put_nowait(("job", message)))
        channel.on_broadcast(
            JOB_DELETED, lambda message: self._events.put_nowait(("deleted", message))
        )
        channel.on_system(lambda payload: self._events.put_nowait(("system", payload)))
        with _realtime_connect_errors():
            await self._until_stopped(
                channel.subscribe(
                    lambda state, error: self._events.put_nowait(("state", (state, error)))
                )
            )

        has_subscribed = False
        lost_since: float | None = None
        # When to read the watched job next: after a (re)join's confirmation, then periodically.
        read_at: float | None = None
        while True:
            kind, value = await self._next_event()
            if kind == "state":
                state, error = value
                if state == RealtimeSubscribeStates.SUBSCRIBED:
                    event = "realtime.rejoined" if has_subscribed else "realtime.subscribed"
                    logger.info(
                        "listening to job events", extra={"event": event, "job_id": self._job_id}
                    )
                    has_subscribed, lost_since = True, None
                    # Authorized and subscribed; the read waits for the replication message.
                    read_at = time.monotonic() + READY_GRACE_SECONDS
                elif not has_subscribed:
                    raise _subscribe_error(state, error)
                elif state == RealtimeSubscribeStates.CLOSED:
                    raise TransientError("Supabase Realtime closed the channel")
                else:
                    read_at = None
                    logger.warning(
                        "job channel interrupted; the realtime client rejoins",
                        extra={"event": "realtime.interrupted", "job_id": self._job_id},
                    )
            elif kind == "system":
                if _is_replication_ready(value) and has_subscribed and channel.is_joined:
                    read_at = time.monotonic()
            elif kind == "job":
                if (final := self._deliver(_broadcast_payload(value))) is not None:
                    return final
            elif kind == "deleted":
                self._on_deleted(_broadcast_payload(value))
            elif has_subscribed:
                lost_since = self._check_joined(channel, lost_since)

            if (
                self._job_id is not None
                and read_at is not None
                and time.monotonic() >= read_at
                and channel.is_joined
            ):
                record = await self._until_stopped(self._read_job(client, self._job_id))
                read_at = time.monotonic() + BACKSTOP_SECONDS
                if (final := self._deliver(record)) is not None:
                    return final

    def _on_deleted(self, payload: dict[str, Any]) -> None:
        record_id = _record_id(payload)
        if record_id is None:
            return
        if self._job_id is not None:
            if record_id == self._job_id:
                raise NotFoundError(f"job {self._job_id} was deleted")
            return
        self._latest.pop(record_id, None)
        self._on_change({"id": record_id, "video_id": payload.get("video_id"), "deleted": True})

    def _deliver(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Pass `record` on unless it is another job's, a repeat or stale; return it if final."""
        record_id = _record_id(record)
        if record_id is None or (self._job_id is not None and record_id != self._job_id):
            return None
        stamp = _timestamp(record.get("updated_at"))
        previous = self._latest.get(record_id)
        if previous is not None:
            previous_stamp, previous_record = previous
            if previous_record == record:
                return None
            # Strictly older only: writes in one transaction share updated_at (now()).
            if stamp is not None and previous_stamp is not None and stamp < previous_stamp:
                return None
        self._latest[record_id] = (stamp, record)
        self._on_change(record)
        if self._job_id is not None and record.get("status") in TERMINAL_STATUSES:
            return record
        return None

    async def _read_job(self, client: supabase.AsyncClient, job_id: int) -> dict[str, Any]:
        with _rest_errors(f"read job {job_id}"):
            rows = (
                await client.table("video_jobs")
                .select(JOB_EVENT_COLUMNS)
                .eq("id", job_id)
                .execute()
            ).data
        if not rows:
            raise NotFoundError(f"job {job_id} not found (or not yours)")
        return rows[0]

    def _check_joined(
        self, channel: AsyncRealtimeChannel, lost_since: float | None
    ) -> float | None:
        if channel.is_joined:
            return None
        now = time.monotonic()
        if lost_since is None:
            return now
        if now - lost_since > REJOIN_GRACE_SECONDS:
            raise TransientError(
                f"lost the Supabase Realtime channel for over {REJOIN_GRACE_SECONDS:.0f} s"
            )
        return lost_since

    async def _next_event(self) -> tuple[str | None, Any]:
        """The next queued event, or (None, None) after a short wait; raises _Stopped."""
        self._check_stop()
        try:
            return await asyncio.wait_for(self._events.get(), timeout=self._slice())
        except TimeoutError:
            return None, None

    async def _until_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, giving up (and cancelling it) when the watch must stop."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                self._check_stop()
                done, _ = await asyncio.wait({task}, timeout=self._slice())
                if done:
                    return task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    def _check_stop(self) -> None:
        if self._stop_event.is_set():
            raise _Stopped
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise _Stopped

    def _slice(self) -> float:
        if self._deadline is None:
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, self._deadline - time.monotonic()))


def _broadcast_payload(message: BroadcastPayload) -> dict[str, Any]:
    """The event's own payload inside Realtime's broadcast envelope {event, payload, meta}."""
    payload = message.get("payload")
    return payload if isinstance(payload, dict) else {}


def _is_replication_ready(payload: SuccessSystemPayload) -> bool:
    return payload.status == "ok" and payload.message == REPLICATION_READY


async def _close_realtime(client: supabase.AsyncClient) -> None:
    """Leave the channel and close the socket without reconnecting to do so."""
    client.realtime.auto_reconnect = False
    try:
        await client.remove_all_channels()
    except (OSError, websockets.exceptions.WebSocketException) as exc:
        logger.debug(
            "realtime socket already gone", extra={"event": "realtime.closed", "error": str(exc)}
        )


def _subscribe_error(state: RealtimeSubscribeStates, error: Exception | None) -> VprocError:
    if state == RealtimeSubscribeStates.TIMED_OUT:
        return TransientError("Supabase Realtime did not answer the subscription in time")
    reason = _reason(error) or state.value
    if "RateLimit" in reason:
        return TransientError(f"Supabase Realtime is rate limiting subscriptions: {reason}")
    if reason.startswith("Unauthorized"):
        return PermanentError(
            f"Supabase Realtime refused the job channel: {reason} (are the realtime.messages "
            "policies of migration 20261201110100_create_realtime_job_policies installed?)"
        )
    return PermanentError(f"Supabase Realtime refused the subscription: {reason}")


def _reason(error: Exception | None) -> str | None:
    """The `reason` of a refused join; the client wraps the reply's JSON in an Exception."""
    if error is None:
        return None
    try:
        body = json.loads(str(error))
    except ValueError:
        return str(error)
    return str(body.get("reason") or body) if isinstance(body, dict) else str(body)


def _record_id(record: dict[str, Any] | None) -> int | None:
    try:
        return int(record["id"]) if record else None
    except (KeyError, TypeError, ValueError):
        return None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


# --- shared -----------------------------------------------------------------------------------


def _project(settings: Settings) -> tuple[str, str]:
    if not settings.supabase_url or settings.supabase_anon_key is None:
        raise ConfigurationError(
            "SUPABASE_URL and SUPABASE_ANON_KEY must be set to talk to Supabase as a client"
        )
    return settings.supabase_url.rstrip("/"), settings.supabase_anon_key.get_secret_value()


def _sync_client(url: str, anon_key: str, http: httpx.Client) -> supabase.Client:
    # No refresh timer thread for a one-shot command; get_session() refreshes when needed.
    options = supabase.ClientOptions(httpx_client=http, auto_refresh_token=False)
    try:
        return supabase.create_client(url, anon_key, options)
    except supabase.SupabaseException as exc:
        raise ConfigurationError(f"SUPABASE_URL or SUPABASE_ANON_KEY: {exc.message}") from exc


def _user_headers(client: supabase.Client, anon_key: str, email: str) -> dict[str, str]:
    """The signed-in user's headers for a request made outside supabase-py (TUS).

    get_session() refreshes a token about to expire, so a long upload keeps a valid one.
    """
    with _auth_errors(email):
        session = client.auth.get_session()
    if session is None:
        raise PermanentError(f"the Supabase session of {email} ended during the upload")
    return {"authorization": f"Bearer {session.access_token}", "apikey": anon_key}


def _user_id(signed_in: AuthResponse, email: str) -> uuid.UUID:
    if signed_in.session is None or signed_in.user is None:
        raise PermanentError(f"Supabase Auth signed {email} in without a session (unconfirmed?)")
    return uuid.UUID(signed_in.user.id)


@contextmanager
def _auth_errors(email: str) -> Iterator[None]:
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
def _storage_errors(doing: str) -> Iterator[None]:
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
def _rest_errors(doing: str) -> Iterator[None]:
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
def _realtime_connect_errors() -> Iterator[None]:
    try:
        yield
    except websockets.exceptions.InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise PermanentError(f"Supabase Realtime refused the connection ({status})") from exc
        raise TransientError(f"Supabase Realtime answered {status}") from exc
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
        raise TransientError(f"cannot connect to Supabase Realtime: {type(exc).__name__}") from exc


def _remove_upload(client: supabase.Client, bucket: str, key: str) -> None:
    """Best effort: remove an object whose row was refused, so no orphan stays behind."""
    try:
        client.storage.from_(bucket).remove([key])
    except (StorageException, httpx.HTTPError) as exc:
        logger.warning(
            "could not remove the upload of a refused video",
            extra={"event": "upload.orphaned", "error": type(exc).__name__},
        )
