"""Stand-ins for one Supabase project, for running the real supabase-py and realtime clients.

`SupabaseHttpStub` answers the GoTrue and PostgREST routes on a pytest-httpserver with the
services' shapes, puts the one fake Storage (tests/support/supabase_storage.py) beside them
as the signed-in user sees it, and records every request. `RealtimeStub` speaks Realtime's Phoenix
protocol (v1 JSON frames) over `websockets`. `ProjectGateway` puts both behind one origin, as
the API gateway in front of a project does, because the clients derive every service's URL
from SUPABASE_URL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pytest_httpserver import HTTPServer
from websockets.asyncio.server import ServerConnection, serve
from werkzeug import Request, Response

from tests.support.supabase_storage import (
    FakeSupabaseStorage,
    RecordedRequest,
    TusUpload,
    record_request,
)

ANON_KEY = "stub-anon-key"
USER_ID = uuid.UUID("5b0f3c1e-8f7a-4c1d-9a64-2f7d0c9e4b11")
EMAIL = "ada@example.test"
PASSWORD = "correct horse battery staple"
JOB_ID = 4242
# What the database's job events carry (migration 20261201110000_create_job_broadcasts).
JOB_EVENT_FIELDS = (
    "id",
    "video_id",
    "status",
    "current_stage",
    "progress",
    "error_code",
    "updated_at",
)


def fake_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (unsigned): the clients pass it along without verifying it."""

    def part(doc: dict[str, Any]) -> str:
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c3R1Yi1zaWduYXR1cmU"


def job_record(
    status: str, *, progress: float = 0.0, stage: str | None = None, second: int = 0, **extra: Any
) -> dict[str, Any]:
    """A public.video_jobs row as PostgREST and Realtime serialise it."""
    return {
        "id": JOB_ID,
        "video_id": "9d7c2a4e-58b1-4f0e-8d3a-6c1e2b7f9a10",
        "owner_id": str(USER_ID),
        "status": status,
        "priority": 0,
        "attempts": 1 if status != "PENDING" else 0,
        "max_attempts": 3,
        "current_stage": stage,
        "progress": progress,
        "error_code": None,
        "error_message": None,
        "updated_at": f"2026-11-27T10:00:{second:02d}.000000+00:00",
        **extra,
    }


class SupabaseHttpStub:
    """GoTrue, Storage and PostgREST of one project with one user, on a pytest-httpserver."""

    def __init__(
        self,
        httpserver: HTTPServer,
        *,
        job: dict[str, Any] | None = None,
        insert_error: tuple[int, dict[str, Any]] | None = None,
        expires_in: int = 3600,
    ) -> None:
        self.server = httpserver
        self.user_id = USER_ID
        self.access_token = fake_jwt(
            {
                "sub": str(USER_ID),
                "role": "authenticated",
                "aud": "authenticated",
                "email": EMAIL,
                "exp": int(time.time()) + 3600,
            }
        )
        self.job = job or job_record("PENDING")
        self.insert_error = insert_error
        self.expires_in = expires_in
        self.refreshed_tokens: list[str] = []
        self.requests: list[RecordedRequest] = []
        self.inserted_videos: list[dict[str, Any]] = []
        httpserver.expect_request(
            "/auth/v1/token", method="POST", query_string={"grant_type": "password"}
        ).respond_with_handler(self._token)
        httpserver.expect_request(
            "/auth/v1/token", method="POST", query_string={"grant_type": "refresh_token"}
        ).respond_with_handler(self._refresh)
        self.storage = FakeSupabaseStorage(
            httpserver, authorise=self._authorise_user, requests=self.requests
        )
        httpserver.expect_request("/rest/v1/videos", method="POST").respond_with_handler(
            self._insert_video
        )
        httpserver.expect_request("/rest/v1/video_jobs", method="GET").respond_with_handler(
            self._select_jobs
        )

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    @property
    def tus_uploads(self) -> dict[str, TusUpload]:
        return self.storage.tus_uploads

    @property
    def interrupt_patches(self) -> set[int]:
        return self.storage.interrupt_patches

    @interrupt_patches.setter
    def interrupt_patches(self, numbers: set[int]) -> None:
        self.storage.interrupt_patches = numbers

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def _authorise_user(self, headers: dict[str, str]) -> Response | None:
        """Storage as the signed-in user: their access token (or a refreshed one) and the key."""
        tokens = {self.access_token, *self.refreshed_tokens}
        if headers.get("authorization", "").removeprefix("Bearer ") not in tokens:
            return _json(403, {"statusCode": "403", "error": "Unauthorized", "message": "jwt"})
        if headers.get("apikey") != ANON_KEY:
            return _json(401, {"message": "Invalid API key"})
        return None

    # --- routes ------------------------------------------------------------------------------

    def _record(self, request: Request) -> RecordedRequest:
        recorded = record_request(request)
        self.requests.append(recorded)
        return recorded

    def _token(self, request: Request) -> Response:
        body = self._record(request).json or {}
        if body.get("email") != EMAIL or body.get("password") != PASSWORD:
            return _json(
                400,
                {"code": "invalid_credentials", "message": "Invalid login credentials"},
                headers={"X-Supabase-Api-Version": "2024-01-01"},
            )
        return self._session(self.access_token)

    def _refresh(self, request: Request) -> Response:
        body = self._record(request).json or {}
        if body.get("refresh_token") != "stub-refresh-token":
            return _json(
                400, {"code": "refresh_token_not_found", "message": "Invalid Refresh Token"}
            )
        token = fake_jwt(
            {
                "sub": str(USER_ID),
                "role": "authenticated",
                "aud": "authenticated",
                "email": EMAIL,
                "exp": int(time.time()) + 3600,
                "session_id": str(uuid.uuid4()),
            }
        )
        self.refreshed_tokens.append(token)
        return self._session(token, expires_in=3600)

    def _session(self, access_token: str, *, expires_in: int | None = None) -> Response:
        expires_in = self.expires_in if expires_in is None else expires_in
        now = int(time.time())
        return _json(
            200,
            {
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": expires_in,
                "expires_at": now + expires_in,
                "refresh_token": "stub-refresh-token",
                "user": {
                    "id": str(USER_ID),
                    "aud": "authenticated",
                    "role": "authenticated",
                    "email": EMAIL,
                    "email_confirmed_at": "2026-11-01T09:00:00Z",
                    "app_metadata": {"provider": "email", "providers": ["email"]},
                    "user_metadata": {},
                    "created_at": "2026-11-01T09:00:00Z",
                    "updated_at": "2026-11-27T09:59:00Z",
                },
            },
            headers={"X-Supabase-Api-Version": "2024-01-01"},
        )

    def _insert_video(self, request: Request) -> Response:
        recorded = self._record(request)
        if self.insert_error is not None:
            status, body = self.insert_error
            return _json(status, body)
        self.inserted_videos.append(recorded.json)
        return Response(status=201, headers={"Content-Range": "*/*"})

    def _select_jobs(self, request: Request) -> Response:
        recorded = self._record(request)
        if "video_id" in recorded.query:
            video_ids = {f"eq.{v['id']}" for v in self.inserted_videos}
            rows = [{"id": JOB_ID}] if recorded.query["video_id"] in video_ids else []
        elif recorded.query.get("id") == f"eq.{self.job['id']}":
            columns = recorded.query.get("select", "*")
            wanted = None if columns == "*" else columns.split(",")
            rows = [self.job if wanted is None else {k: self.job.get(k) for k in wanted}]
        else:
            rows = []
        return _json(200, rows, headers={"Content-Range": f"0-{len(rows) - 1}/*"})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


# --- Realtime ------------------------------------------------------------------------------


def job_event(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The `job_updated` broadcast the database sends for a job row (its public fields only)."""
    return "job_updated", {k: record.get(k) for k in JOB_EVENT_FIELDS}


def job_deleted_event(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "job_deleted", {"id": record["id"], "video_id": record["video_id"]}


REPLICATION_READY = "Replication connection established"


class RealtimeStub:
    """Realtime's websocket for private Broadcast channels, as Realtime 2.x answers them.

    A join asking `private: true` with an `access_token` is authorized only for the topic
    `realtime:jobs:<USER_ID>` (the database policy); it is answered `ok` (Realtime replies
    only after the authorization check and the subscription) and, when the join's
    config.broadcast asks `replication_ready`, followed by the system message "Replication
    connection established" (held until `release_ready()` with `hold_ready`). `events`, as
    (event, payload) pairs, are then pushed as broadcasts: at once, or once
    `release_changes()` is called with `hold_changes`. Each further join pushes `events_after
    _rejoin` instead. `drop_after_events` closes the socket after the first connection's
    events (after calling `on_drop`), as a network drop would. `join_error` makes every join fail with that response.
    `access_token` frames are recorded.
    """

    def __init__(
        self,
        events: list[tuple[str, dict[str, Any]]] | None = None,
        *,
        hold_changes: bool = False,
        hold_ready: bool = False,
        join_error: dict[str, Any] | None = None,
        drop_after_events: bool = False,
        events_after_rejoin: list[tuple[str, dict[str, Any]]] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.on_drop = on_drop
        self.events = list(events or [])
        self.events_after_rejoin = list(events_after_rejoin or [])
        self.join_error = join_error
        self.drop_after_events = drop_after_events
        self.frames: list[dict[str, Any]] = []
        self.connections: list[dict[str, str]] = []
        self.joins = 0
        self._hold_changes = hold_changes
        self._hold_ready = hold_ready
        self._release: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def frames_of(self, event: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("event") == event]

    def release_changes(self) -> None:
        """Let a held stub push its events (callable from any thread)."""
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def release_ready(self) -> None:
        """Let a held stub confirm the replication connection (callable from any thread)."""
        assert self._loop is not None and self._ready is not None
        self._loop.call_soon_threadsafe(self._ready.set)

    async def handle(self, connection: ServerConnection) -> None:
        self._loop = asyncio.get_running_loop()
        if self._release is None:
            self._release = asyncio.Event()
            if not self._hold_changes:
                self._release.set()
        if self._ready is None:
            self._ready = asyncio.Event()
            if not self._hold_ready:
                self._ready.set()
        request = connection.request
        assert request is not None
        url = urlsplit(request.path)
        self.connections.append({"path": url.path, **dict(parse_qsl(url.query))})
        async for raw in connection:
            frame = json.loads(raw)
            self.frames.append(frame)
            event, topic, ref = frame.get("event"), frame.get("topic"), frame.get("ref")
            if event == "heartbeat":
                await _send(
                    connection, "phx_reply", "phoenix", {"status": "ok", "response": {}}, ref
                )
            elif event == "phx_join":
                await self._join(connection, frame)
            elif event == "phx_leave":
                await _send(connection, "phx_reply", topic, {"status": "ok", "response": {}}, ref)
            # access_token frames need no answer.

    async def _join(self, connection: ServerConnection, frame: dict[str, Any]) -> None:
        topic, ref, payload = frame["topic"], frame["ref"], frame["payload"]
        config = payload.get("config", {})
        error = self.join_error
        if error is None and not (config.get("private") and payload.get("access_token")):
            error = {"reason": "PrivateOnly: This project only allows private channels"}
        if error is None and topic != f"realtime:jobs:{USER_ID}":
            error = {
                "reason": "Unauthorized: You do not have permissions to read from this "
                f"Channel topic: {topic.removeprefix('realtime:')}"
            }
        if error is not None:
            await _send(connection, "phx_reply", topic, {"status": "error", "response": error}, ref)
            return
        self.joins += 1
        first = self.joins == 1
        await _send(
            connection,
            "phx_reply",
            topic,
            {"status": "ok", "response": {"postgres_changes": []}},
            ref,
        )
        wants_ready = bool((config.get("broadcast") or {}).get("replication_ready"))
        task = asyncio.create_task(self._push(connection, topic, first=first, ready=wants_ready))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(
        self, connection: ServerConnection, topic: str, *, first: bool, ready: bool
    ) -> None:
        assert self._release is not None and self._ready is not None
        if ready:
            await self._ready.wait()
            await _send(
                connection,
                "system",
                topic,
                {
                    "channel": topic.removeprefix("realtime:"),
                    "extension": "system",
                    "message": REPLICATION_READY,
                    "status": "ok",
                },
                None,
            )
        await self._release.wait()
        for name, payload in self.events if first else self.events_after_rejoin:
            await _send(
                connection,
                "broadcast",
                topic,
                {
                    "type": "broadcast",
                    "event": name,
                    "payload": payload,
                    "meta": {"id": str(uuid.uuid4())},
                },
                None,
            )
        if first and self.drop_after_events:
            if self.on_drop is not None:
                self.on_drop()
            await connection.close()


async def _send(
    connection: ServerConnection,
    event: str,
    topic: str | None,
    payload: dict[str, Any],
    ref: str | None,
) -> None:
    await connection.send(
        json.dumps({"event": event, "topic": topic, "payload": payload, "ref": ref})
    )


# --- one origin ----------------------------------------------------------------------------


class ProjectGateway:
    """Routes `/realtime/v1/…` to the websocket stub and everything else to the HTTP stub.

    It only looks at the first request line of each connection and then pipes bytes both ways;
    a connection is either an upgraded websocket or keep-alive HTTP to one backend.
    """

    def __init__(self, http_port: int, realtime_port: int) -> None:
        self.http_port = http_port
        self.realtime_port = realtime_port
        self.port: int | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._route, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        target = head.split(b" ")[1] if head.count(b" ") >= 2 else b"/"
        port = self.realtime_port if target.startswith(b"/realtime/v1/") else self.http_port
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


@contextlib.contextmanager
def serve_project(http: SupabaseHttpStub, realtime: RealtimeStub) -> Iterator[str]:
    """Run the Realtime stub and the gateway on a loop thread; yield the project's URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="supabase-stub", daemon=True)
    thread.start()

    def call(factory: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(factory(), loop).result(timeout=10)

    async def start() -> tuple[Any, ProjectGateway]:
        ws_server = await serve(realtime.handle, "127.0.0.1", 0)
        ws_port = next(iter(ws_server.sockets)).getsockname()[1]
        gateway = ProjectGateway(http.server.port, ws_port)
        await gateway.start()
        return ws_server, gateway

    ws_server, gateway = call(start)
    try:
        yield f"http://127.0.0.1:{gateway.port}"
    finally:

        async def stop() -> None:
            await gateway.stop()
            ws_server.close()
            await ws_server.wait_closed()
            leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        call(stop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
