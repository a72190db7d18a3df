"""A stand-in for the Gemini API on a local HTTP server, for running the real google-genai client.

Responses have the service's shapes (generateContent candidates, prompt feedback, google.rpc
errors, the resumable Files API upload). Every request is recorded for assertions.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

MODEL = "gemini-2.5-flash"
API_KEY = "stub-api-key"

GENERATE_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/models/(?P<model>[^/:]+):generateContent$")
UPLOAD_START_PATH = re.compile(r"^/upload/(?P<version>v1[a-z0-9]*)/files$")
UPLOAD_SESSION_PATH = re.compile(r"^/upload-session/(?P<session>\d+)$")
FILE_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/files/(?P<file>[a-z0-9-]+)$")


# ---- recorded-shape bodies ---------------------------------------------------------------


def candidate_response(payload: Any, *, finish_reason: str = "STOP") -> dict[str, Any]:
    """A generateContent answer whose single candidate's text is `payload` (JSON-encoded
    unless already a string)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 812,
            "candidatesTokenCount": 240,
            "totalTokenCount": 1052,
        },
        "modelVersion": MODEL,
        "responseId": "stub-response",
    }


def safety_finish_response() -> dict[str, Any]:
    """A candidate stopped by the safety filters (no text)."""
    return {
        "candidates": [
            {
                "finishReason": "SAFETY",
                "index": 0,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                ],
            }
        ],
        "modelVersion": MODEL,
    }


def blocked_prompt_response(reason: str = "SAFETY") -> dict[str, Any]:
    """The prompt itself was blocked: no candidates, only prompt feedback."""
    return {
        "promptFeedback": {
            "blockReason": reason,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
            ],
        },
        "usageMetadata": {"promptTokenCount": 812, "totalTokenCount": 812},
        "modelVersion": MODEL,
    }


def empty_response() -> dict[str, Any]:
    """No candidates and no prompt feedback."""
    return {"usageMetadata": {"promptTokenCount": 812, "totalTokenCount": 812}}


def error_body(
    code: int, status: str, message: str, *, retry_delay_seconds: int | None = None
) -> dict[str, Any]:
    """A google.rpc.Status error body, with RetryInfo when a delay is given."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if retry_delay_seconds is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_delay_seconds}s",
            }
        ]
    return {"error": error}


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def ok(body: dict[str, Any]) -> Reply:
    return Reply(body)


def rate_limited(
    *, retry_after: str | None = None, retry_delay_seconds: int | None = None
) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = error_body(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        retry_delay_seconds=retry_delay_seconds,
    )
    return Reply(body, 429, headers)


def server_error(code: int = 500) -> Reply:
    status = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(code, "INTERNAL")
    return Reply(error_body(code, status, "An internal error has occurred."), code)


# ---- the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class GeminiStub:
    """Routes on a pytest-httpserver: generateContent pops canned replies in order; the Files
    API accepts resumable uploads, reports `file_states` in turn, and deletes.

    A generateContent call with no reply left gets a 500 and is recorded like any other.
    """

    def __init__(self, server: HTTPServer, *, file_states: tuple[str, ...] = ("ACTIVE",)):
        self.server = server
        self.base_url = server.url_for("/").rstrip("/")
        self.requests: list[Recorded] = []
        self.uploads: dict[str, bytes] = {}
        self._replies: deque[Reply] = deque()
        self._file_states = file_states
        self._polls: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server.expect_request(GENERATE_PATH, method="POST").respond_with_handler(self._generate)
        server.expect_request(UPLOAD_START_PATH, method="POST").respond_with_handler(
            self._upload_start
        )
        server.expect_request(UPLOAD_SESSION_PATH, method="POST").respond_with_handler(
            self._upload_chunk
        )
        server.expect_request(FILE_PATH, method="GET").respond_with_handler(self._file_get)
        server.expect_request(FILE_PATH, method="DELETE").respond_with_handler(self._file_delete)

    def reply(self, *replies: Reply | dict[str, Any]) -> None:
        """Queue answers for the next generateContent calls."""
        for item in replies:
            self._replies.append(item if isinstance(item, Reply) else ok(item))

    @property
    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if GENERATE_PATH.match(r.path)]

    def requests_matching(self, method: str, pattern: re.Pattern[str]) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and pattern.match(r.path)]

    # -- handlers --

    def _record(self, request: Request) -> Recorded:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.get_data(),
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _generate(self, request: Request) -> Response:
        self._record(request)
        with self._lock:
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            reply = Reply(error_body(500, "INTERNAL", "stub: no reply queued"), 500)
        return _response(reply)

    def _upload_start(self, request: Request) -> Response:
        self._record(request)
        session = next(self._ids)
        headers = {
            "X-Goog-Upload-URL": f"{self.base_url}/upload-session/{session}",
            "X-Goog-Upload-Status": "active",
        }
        return _response(Reply({}, 200, headers))

    def _upload_chunk(self, request: Request) -> Response:
        recorded = self._record(request)
        name = f"stub-file-{UPLOAD_SESSION_PATH.match(request.path)['session']}"
        with self._lock:
            self.uploads[name] = self.uploads.get(name, b"") + recorded.body
        if "finalize" not in request.headers.get("X-Goog-Upload-Command", ""):
            return _response(Reply({}, 200, {"X-Goog-Upload-Status": "active"}))
        body = {"file": self._file(name, self._next_state(name))}
        return _response(Reply(body, 200, {"X-Goog-Upload-Status": "final"}))

    def _file_get(self, request: Request) -> Response:
        self._record(request)
        name = FILE_PATH.match(request.path)["file"]
        return _response(Reply(self._file(name, self._next_state(name))))

    def _file_delete(self, request: Request) -> Response:
        self._record(request)
        return _response(Reply({}))

    def _next_state(self, name: str) -> str:
        with self._lock:
            index = self._polls.get(name, 0)
            self._polls[name] = index + 1
        return self._file_states[min(index, len(self._file_states) - 1)]

    def _file(self, name: str, state: str) -> dict[str, Any]:
        return {
            "name": f"files/{name}",
            "displayName": name,
            "mimeType": "audio/wav",
            "sizeBytes": str(len(self.uploads.get(name, b""))),
            "uri": f"{self.base_url}/v1beta/files/{name}",
            "state": state,
            "source": "UPLOADED",
        }


def _response(reply: Reply) -> Response:
    body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
    return Response(body, status=reply.status, headers=reply.headers, mimetype="application/json")
