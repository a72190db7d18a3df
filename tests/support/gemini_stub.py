"""A stand-in for the Gemini API on a local HTTP server, for running the real google-genai client.

Responses have the service's shapes (generateContent candidates, prompt feedback, google.rpc
errors, the resumable Files API upload, models.get). Every request is recorded for assertions.
generateContent requests are checked against what the API accepts for the model's generation
(thinkingLevel from Gemini 3 on, thinkingBudget before it; one response schema form), and
retired model ids answer 404 NOT_FOUND as the service does.
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

MODEL = "gemini-3.5-flash"
API_KEY = "stub-api-key"
# Served by models.get and generateContent, with the methods each supports. Anything else,
# such as the shut-down gemini-2.0-flash / gemini-2.5-flash ids, answers 404.
MODELS: dict[str, tuple[str, ...]] = {
    MODEL: ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent"),
    "gemini-3.1-flash-lite": ("generateContent", "countTokens"),
    "gemini-embedding-001": ("embedContent", "countTextTokens", "countTokens"),
}

GENERATE_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/models/(?P<model>[^/:]+):generateContent$")
UPLOAD_START_PATH = re.compile(r"^/upload/(?P<version>v1[a-z0-9]*)/files$")
UPLOAD_SESSION_PATH = re.compile(r"^/upload-session/(?P<session>\d+)$")
FILE_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/files/(?P<file>[a-z0-9-]+)$")
MODEL_PATH = re.compile(r"^/(?P<version>v1[a-z0-9]*)/models/(?P<model>[^/:]+)$")


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


def model_not_found(model: str) -> Reply:
    """The service's answer for a model id it does not serve (unknown or shut down)."""
    message = (
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )
    return Reply(error_body(404, "NOT_FOUND", message), 404)


def invalid_argument(message: str) -> Reply:
    return Reply(error_body(400, "INVALID_ARGUMENT", message), 400)


def model_generation(model: str) -> int:
    """The major version of a `gemini-<major>[.<minor>]-…` id (0 when it has none)."""
    match = re.match(r"gemini-(\d+)", model)
    return int(match.group(1)) if match else 0


def camel_keys(value: dict[str, Any]) -> dict[str, Any]:
    """Proto3 JSON accepts snake_case and lowerCamelCase field names alike (one level)."""
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in value.items()}


def request_problem(model: str, body: dict[str, Any]) -> str | None:
    """Why the API would refuse this generateContent body for `model`, or None."""
    config = camel_keys(body.get("generationConfig") or body.get("generation_config") or {})
    thinking = camel_keys(config.get("thinkingConfig") or {})
    if "thinkingLevel" in thinking and "thinkingBudget" in thinking:
        return "thinking_level and thinking_budget cannot both be set."
    if model_generation(model) >= 3 and "thinkingBudget" in thinking:
        return f"thinking_budget is not supported by {model}; use thinking_level."
    if model_generation(model) < 3 and "thinkingLevel" in thinking:
        return f"Thinking level is not supported for {model}."
    if "responseSchema" in config and "responseJsonSchema" in config:
        return "response_schema and response_json_schema cannot both be set."
    has_schema = "responseSchema" in config or "responseJsonSchema" in config
    if has_schema and config.get("responseMimeType") != "application/json":
        return "A response schema needs responseMimeType application/json."
    return None


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
    API accepts resumable uploads, reports `file_states` in turn, and deletes; models.get
    describes MODELS.

    A generateContent call for a retired or unknown model gets the service's 404, one the API
    would refuse gets its 400 (neither uses up a reply), and one with no reply left gets a 500;
    all are recorded. `model_reply`, when set, answers every models.get.
    """

    def __init__(
        self,
        server: HTTPServer,
        *,
        file_states: tuple[str, ...] = ("ACTIVE",),
        models: dict[str, tuple[str, ...]] | None = None,
    ):
        self.server = server
        self.base_url = server.url_for("/").rstrip("/")
        self.requests: list[Recorded] = []
        self.uploads: dict[str, bytes] = {}
        self._replies: deque[Reply] = deque()
        self._file_states = file_states
        self._polls: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.model_reply: Reply | None = None
        self.models = dict(MODELS if models is None else models)
        server.expect_request(GENERATE_PATH, method="POST").respond_with_handler(self._generate)
        server.expect_request(UPLOAD_START_PATH, method="POST").respond_with_handler(
            self._upload_start
        )
        server.expect_request(UPLOAD_SESSION_PATH, method="POST").respond_with_handler(
            self._upload_chunk
        )
        server.expect_request(FILE_PATH, method="GET").respond_with_handler(self._file_get)
        server.expect_request(FILE_PATH, method="DELETE").respond_with_handler(self._file_delete)
        server.expect_request(MODEL_PATH, method="GET").respond_with_handler(self._model_get)

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

    @property
    def model_requests(self) -> list[Recorded]:
        return self.requests_matching("GET", MODEL_PATH)

    def _generate(self, request: Request) -> Response:
        recorded = self._record(request)
        model = GENERATE_PATH.match(request.path)["model"]
        if model not in self.models:
            return _response(model_not_found(model))
        if (problem := request_problem(model, recorded.json())) is not None:
            return _response(invalid_argument(problem))
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

    def _model_get(self, request: Request) -> Response:
        self._record(request)
        model = MODEL_PATH.match(request.path)["model"]
        if self.model_reply is not None:
            return _response(self.model_reply)
        if model not in self.models:
            return _response(model_not_found(model))
        return _response(Reply(model_resource(model, self.models[model])))

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


def model_resource(model: str, methods: tuple[str, ...]) -> dict[str, Any]:
    """A models.get answer in the v1beta Model shape."""
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model.replace("-", " ").title(),
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": list(methods),
        "temperature": 1.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": True,
    }


def _response(reply: Reply) -> Response:
    body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
    return Response(body, status=reply.status, headers=reply.headers, mimetype="application/json")
