"""Watch a user's jobs on their private Broadcast channel `jobs:<uid>`, as a frontend does."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import supabase
import websockets
from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from realtime.types import BroadcastPayload

from processor.config import Settings
from processor.errors import (
    ConfigurationError,
    InvalidStateError,
    NotFoundError,
    PermanentError,
    TransientError,
    VprocError,
)
from processor.status import TERMINAL_STATUSES
from processor.supabase_client.errors import auth_errors, realtime_connect_errors, rest_errors
from processor.supabase_client.session import HTTP_TIMEOUT, project, user_id_of

logger = logging.getLogger(__name__)

T = TypeVar("T")

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
    url, anon_key = project(settings)
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
        with auth_errors(self._email):
            signed_in = await self._until_stopped(
                client.auth.sign_in_with_password(
                    {"email": self._email, "password": self._password}
                )
            )
        user_id = user_id_of(signed_in, self._email)
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
        with realtime_connect_errors():
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
        with rest_errors(f"read job {job_id}"):
            rows = (
                await client.table("video_jobs")
                .select(JOB_EVENT_COLUMNS)
                .eq("id", job_id)
                .execute()
            ).data
        if not rows:
            raise NotFoundError(f"job {job_id} not found (or not yours)")
        row = rows[0]
        if not isinstance(row, dict):
            raise InvalidStateError(f"job {job_id}: PostgREST returned {type(row).__name__}")
        return row

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
