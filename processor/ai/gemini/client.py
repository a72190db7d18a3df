"""The Gemini API client (google-genai): one HTTP client, retries, and error translation.

Every call of the Gemini adapters (`metadata.py`, `transcriber.py`) goes through
GeminiClient.call, which retries rate limits, 5xx and transport failures within a small
budget and turns SDK errors into processor.errors. `check_model` is the adapter's health check.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from processor.ai.contract import Health
from processor.backoff import Backoff
from processor.config import DEFAULT_GEMINI_MODEL
from processor.errors import (
    AIBlockedError,
    AIModelUnavailableError,
    AINoResponseError,
    AIRequestRejectedError,
    ConfigurationError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    VprocError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Finish reasons that mean the model refused the content: asking again with the same input
# gets the same answer, so they are permanent. Any prompt block reason is permanent too.
_REFUSED_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
    }
)
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# How the API words a 400 about the model itself rather than the request.
_MODEL_GONE = re.compile(
    r"\bmodels?\b.*\b(not found|not supported|no longer (available|supported)|deprecated|"
    r"retired|shut ?down|unknown)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RetryPolicy:
    """In-call retries for 429/5xx/timeouts; past them the job queue's backoff takes over.

    The budget bounds the total sleep of one call so a stage never stalls for long; a
    Retry-After beyond what is left ends the call at once and travels with the error.
    """

    max_attempts: int = 4
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 16.0
    budget_seconds: float = 30.0
    jitter: float = 0.1  # fraction of the delay added at random


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and connection failures of whichever httpx flavour the SDK runs on."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        error = module.TransportError
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = _transport_errors()


def _retry_after_seconds(exc: genai_errors.APIError) -> float | None:
    """The provider's wait hint: a Retry-After header, else a google.rpc.RetryInfo delay."""
    headers = getattr(exc.response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value:
        value = str(value).strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
    details = exc.details if isinstance(exc.details, dict) else {}
    error = details.get("error", details)
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _describe(exc: genai_errors.APIError) -> str:
    message = (exc.message or "").strip().splitlines()
    text = f"{exc.code} {exc.status or ''}".strip()
    if message:
        text += f": {message[0][:200]}"
    return text


def _translate_api_error(exc: genai_errors.APIError, what: str, model: str) -> VprocError:
    """The processor.errors equivalent of an SDK error (not raised; the caller chains it)."""
    code = exc.code or 0
    if code == 429:
        return ProviderRateLimitedError(f"Gemini rate limited {what} ({_describe(exc)})")
    if code in _RETRYABLE_STATUS or code >= 500:
        return ProviderUnavailableError(f"Gemini failed {what} ({_describe(exc)})")
    if code in (401, 403):
        return ConfigurationError(f"Gemini refused the API key during {what} ({_describe(exc)})")
    message = exc.message or ""
    if (code == 404 and ("models/" in message or model in message)) or (
        code == 400 and model in message and _MODEL_GONE.search(message)
    ):
        return AIModelUnavailableError(
            f"GEMINI_MODEL {model} is not available from the Gemini API (retired or unknown); "
            f"set GEMINI_MODEL to a current model such as {DEFAULT_GEMINI_MODEL} ({_describe(exc)})"
        )
    if code == 404:
        return ConfigurationError(f"Gemini resource not found during {what} ({_describe(exc)})")
    return AIRequestRejectedError(f"Gemini rejected {what} ({_describe(exc)})")


class ConnectionOptions(TypedDict, total=False):
    """How an adapter reaches the API: the keyword options both Gemini adapters pass on."""

    base_url: str | None  # another endpoint (a proxy, a test stub)
    timeout_seconds: float  # per HTTP request
    retry: RetryPolicy | None
    sleep: Callable[[float], None]  # between retries (tests pass a fake)


class GeminiClient:
    """One google-genai Client plus the retry loop and error translation around each call."""

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        timeout_seconds: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ConfigurationError("GEMINI_API_KEY is not set")
        self.model = model
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self._random = random.Random()
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout_seconds * 1000),
            # The SDK must not retry on its own: this class owns retries and their budget.
            retry_options=None,
        )
        self.client = genai.Client(api_key=api_key, vertexai=False, http_options=options)

    def close(self) -> None:
        self.client.close()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying rate limits, 5xx and transport failures within the policy.

        Raises ProviderRateLimitedError / ProviderUnavailableError (with retry_after_seconds
        when the provider gave a hint) once the attempts or the sleep budget run out, and a
        permanent error at once for anything a retry cannot fix.
        """
        slept = 0.0
        attempt = 0
        while True:
            attempt += 1
            hint: float | None = None
            try:
                return fn()
            except genai_errors.APIError as exc:
                error = _translate_api_error(exc, what, self.model)
                cause: BaseException = exc
                if not error.retryable:
                    raise error from exc
                hint = _retry_after_seconds(exc)
            except TRANSPORT_ERRORS as exc:
                error = ProviderUnavailableError(
                    f"Gemini unreachable during {what} ({type(exc).__name__})"
                )
                cause = exc
            backoff = Backoff(
                initial_seconds=self.retry.initial_backoff_seconds,
                max_seconds=self.retry.max_backoff_seconds,
                jitter=(1.0, 1.0 + self.retry.jitter),
            ).delay(attempt, self._random)
            delay = max(hint or 0.0, backoff)
            if attempt >= self.retry.max_attempts or slept + delay > self.retry.budget_seconds:
                if hint is not None:
                    error.retry_after_seconds = max(1, math.ceil(hint))
                logger.warning(
                    "gemini gave up on %s after %d attempts: %s",
                    what,
                    attempt,
                    error.message,
                    extra={"event": "ai.gave_up", "error_code": error.error_code},
                )
                raise error from cause
            logger.warning(
                "gemini %s failed, retrying in %.1fs: %s",
                what,
                delay,
                error.message,
                extra={"event": "ai.retried", "error_code": error.error_code},
            )
            self.sleep(delay)
            slept += delay


class GeminiAdapter:
    """What both Gemini adapters share: the provider name, the model and one GeminiClient."""

    name = "gemini"

    def __init__(self, api_key: str, model: str, connection: ConnectionOptions) -> None:
        self.model = model
        self._client = GeminiClient(api_key, model, **connection)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def model_generation(model: str) -> int:
    """The major version of a `gemini-<major>[.<minor>]-…` id; 0 when it has none."""
    match = re.match(r"(?:models/)?gemini-(\d+)", model)
    return int(match.group(1)) if match else 0


def sampling_config(model: str, temperature: float) -> dict[str, Any]:
    """Sampling and thinking fields of GenerateContentConfig that `model` accepts.

    Gemini 3 models take `thinking_level` (a `thinking_budget` is refused from 3.5 on) and are
    tuned for their default temperature, which Google advises keeping; older models get the
    given temperature and their default thinking.
    """
    if model_generation(model) >= 3:
        return {"thinking_config": types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)}
    return {"temperature": temperature}


def response_text(response: types.GenerateContentResponse, what: str) -> str:
    """The text of the first candidate; AIBlockedError / AINoResponseError when there is none."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = getattr(feedback.block_reason, "value", str(feedback.block_reason))
        raise AIBlockedError(f"Gemini blocked the input of {what} ({reason})")
    if not response.candidates:
        raise AINoResponseError(f"Gemini returned no candidates for {what}")
    candidate = response.candidates[0]
    reason = candidate.finish_reason
    reason_name = getattr(reason, "value", str(reason)) if reason is not None else "STOP"
    if reason_name in _REFUSED_FINISH_REASONS:
        raise AIBlockedError(f"Gemini refused to complete {what} ({reason_name})")
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought).strip()
    if reason_name == "MAX_TOKENS":
        raise AINoResponseError(f"Gemini's answer to {what} was cut off at the token limit")
    if not text:
        raise AINoResponseError(f"Gemini returned an empty answer to {what} ({reason_name})")
    return text


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """Decode the model's JSON answer, tolerating a Markdown code fence around it."""
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AINoResponseError(f"Gemini's answer to {what} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise AINoResponseError(f"Gemini's answer to {what} is not a JSON object")
    return data


def check_model(
    api_key: str, model: str, *, base_url: str | None, timeout_seconds: float
) -> Health:
    """The health check: is the key accepted, and does `model` serve generateContent?

    One cheap call (models.get), not retried. The model must exist, be served under its own
    id (a retired id may be routed to another model) and support generateContent, which
    structured output runs on. An OK carries the call's elapsed_ms.
    """
    endpoint = base_url or "the Gemini API"
    client = GeminiClient(api_key, model, base_url=base_url, timeout_seconds=timeout_seconds)
    started = time.perf_counter()
    try:
        found = client.client.models.get(model=model)
    except genai_errors.APIError as exc:
        return _api_error_health(exc, model, endpoint)
    except TRANSPORT_ERRORS as exc:
        return Health(
            "WARN",
            f"cannot reach {endpoint}: {type(exc).__name__}",
            "check the network (or GEMINI_BASE_URL)",
        )
    finally:
        client.close()
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    actions = found.supported_actions or []
    if not actions:
        return Health(
            "WARN",
            f"{endpoint} does not list the methods of {model}; cannot tell if it can generate",
            _USE_INSTEAD,
        )
    if "generateContent" not in actions:
        return Health(
            "FAIL",
            f"GEMINI_MODEL {model} does not support generateContent "
            f"(it supports {', '.join(actions) or 'nothing listed'})",
            _USE_INSTEAD,
        )
    served = (found.name or "").removeprefix("models/")
    if served and served != model.removeprefix("models/"):
        return Health(
            "WARN",
            f"GEMINI_MODEL {model} is answered by {served}: requests are routed and billed there",
            _USE_INSTEAD,
        )
    return Health(
        "OK",
        f"key accepted, {found.name or model} available with generateContent",
        elapsed_ms=elapsed_ms,
    )


_USE_INSTEAD = f"set GEMINI_MODEL={DEFAULT_GEMINI_MODEL} (or another model listed for your key)"
_KEY_FIX = "set GEMINI_API_KEY to a valid key (Google AI Studio → API keys)"


def _api_error_health(exc: genai_errors.APIError, model: str, endpoint: str) -> Health:
    """What a failed models.get says about the key and the model (retryable answers: WARN)."""
    code = int(exc.code or 0)
    lines = (exc.message or exc.status or str(code)).strip().splitlines() or [str(code)]
    message = lines[0].strip()[:160]
    answered = f"{endpoint} answered {code} {exc.status or ''}".rstrip() + f": {message}"
    if code in (401, 403) or (code == 400 and "api key" in message.lower()):
        return Health("FAIL", f"key rejected ({answered})", _KEY_FIX)
    if code == 404:
        return Health(
            "FAIL",
            f"GEMINI_MODEL {model} is not available: retired or unknown ({answered})",
            _USE_INSTEAD,
        )
    if _translate_api_error(exc, "the model check", model).retryable:
        return Health("WARN", answered, "try again later; check the key's quota")
    return Health("FAIL", answered, _KEY_FIX)
