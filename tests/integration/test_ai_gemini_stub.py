"""The real google-genai client against a local Gemini stand-in: requests sent, outcomes mapped."""

from __future__ import annotations

import socket
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from processor.ai.contract import (
    GeneratedMetadata,
    MetadataContext,
    MetadataGenerator,
    Segment,
    Transcript,
)
from processor.ai.gemini.client import RetryPolicy
from processor.ai.gemini.metadata import GeminiMetadataGenerator
from processor.ai.gemini.transcriber import GeminiTranscriber
from processor.ai.local import LocalMetadataGenerator
from processor.errors import (
    AIBlockedError,
    AIModelUnavailableError,
    AINoResponseError,
    AIRequestRejectedError,
    ConfigurationError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from tests.support.gemini_stub import (
    API_KEY,
    FILE_PATH,
    GENERATE_PATH,
    MODEL,
    UPLOAD_SESSION_PATH,
    UPLOAD_START_PATH,
    GeminiStub,
    Reply,
    blocked_prompt_response,
    camel_keys,
    candidate_response,
    empty_response,
    error_body,
    rate_limited,
    safety_finish_response,
    server_error,
)

TALK = Transcript(
    language="en",
    segments=(
        Segment("Today we build a job queue on Postgres.", 0.0, 3.5),
        Segment("Workers claim jobs with skip locked.", 3.8, 7.0),
        Segment("Leases expire when a worker dies.", 12.0, 15.0),
    ),
    duration_seconds=16.0,
)
CONTEXT = MetadataContext(original_filename="queue.mp4", duration_seconds=16.0, language="en")
ANSWER = {
    "title": "Build a Postgres Job Queue with SKIP LOCKED",
    "description": "How workers share a Postgres queue safely.",
    "tags": ["postgres", "job queue", "skip locked", "leases", "workers"],
    "show_notes": "## Summary\n\nA queue on Postgres.\n\n## Chapters\n\n- 00:00 Queue\n- 00:12 Leases",
    "chapters": [{"start_time": 0, "title": "Queue"}, {"start_time": 12, "title": "Leases"}],
}


@pytest.fixture
def stub(httpserver: HTTPServer) -> GeminiStub:
    return GeminiStub(httpserver)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def generator(stub: GeminiStub, sleeps: list[float]) -> Iterator[GeminiMetadataGenerator]:
    generator = GeminiMetadataGenerator(
        API_KEY,
        MODEL,
        base_url=stub.base_url,
        timeout_seconds=10,
        retry=RetryPolicy(max_attempts=3, initial_backoff_seconds=1.0, budget_seconds=30, jitter=0),
        sleep=sleeps.append,
    )
    yield generator
    generator.close()


# ---- metadata -----------------------------------------------------------------------------


def test_success_sends_one_structured_request_with_the_transcript(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(candidate_response(ANSWER))
    metadata = generator.generate_metadata(TALK, CONTEXT)

    assert metadata == GeneratedMetadata.model_validate(ANSWER)
    [request] = stub.requests
    assert request.method == "POST"
    assert GENERATE_PATH.match(request.path)["model"] == MODEL
    assert request.headers["x-goog-api-key"] == API_KEY
    body = request.json()
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    assert set(schema["properties"]) == {"title", "description", "tags", "show_notes", "chapters"}
    assert schema["properties"]["chapters"]["items"]["properties"].keys() == {"start_time", "title"}
    prompt = body["contents"][0]["parts"][0]["text"]
    for segment in TALK.segments:
        assert segment.text in prompt
    assert "[00:12] Leases expire when a worker dies." in prompt
    assert "File name: queue.mp4" in prompt
    assert "5 to 15" in body["systemInstruction"]["parts"][0]["text"]
    # Gemini 3 models take a thinking level (no budget) and keep their default temperature.
    assert camel_keys(config["thinkingConfig"]) == {"thinkingLevel": "LOW"}
    assert "temperature" not in config


def test_a_retired_model_fails_at_once_naming_gemini_model(
    stub: GeminiStub, sleeps: list[float]
) -> None:
    generator = GeminiMetadataGenerator(
        API_KEY,
        "gemini-2.5-flash",
        base_url=stub.base_url,
        retry=RetryPolicy(jitter=0),
        sleep=sleeps.append,
    )
    stub.reply(candidate_response(ANSWER))
    try:
        with pytest.raises(AIModelUnavailableError) as caught:
            generator.generate_metadata(TALK, CONTEXT)
    finally:
        generator.close()
    assert caught.value.error_code == "ai_model_unavailable"
    assert not caught.value.retryable
    assert "GEMINI_MODEL" in caught.value.message
    assert "gemini-2.5-flash" in caught.value.message
    assert "gemini-3.5-flash" in caught.value.message  # what to use instead
    assert len(stub.generate_requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"Model {MODEL} is no longer available. Use another model.", AIModelUnavailableError),
        (f"models/{MODEL} is not supported for generateContent.", AIModelUnavailableError),
        ('Invalid JSON payload received. Unknown name "foo".', AIRequestRejectedError),
    ],
)
def test_a_400_about_the_model_is_model_unavailable_and_others_are_rejections(
    stub: GeminiStub, generator: GeminiMetadataGenerator, message: str, expected: type
) -> None:
    stub.reply(Reply(error_body(400, "INVALID_ARGUMENT", message), 400))
    with pytest.raises(expected) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert type(caught.value) is expected
    assert not caught.value.retryable
    assert len(stub.generate_requests) == 1


def test_a_2x_model_still_gets_a_request_it_accepts(httpserver: HTTPServer) -> None:
    """Before Gemini 3 a thinking level is refused; the adapter sends the older shape."""
    stub = GeminiStub(httpserver, models={"gemini-2.5-flash-lite": ("generateContent",)})
    stub.reply(candidate_response(ANSWER))
    generator = GeminiMetadataGenerator(API_KEY, "gemini-2.5-flash-lite", base_url=stub.base_url)
    generator.generate_metadata(TALK, CONTEXT)
    generator.close()
    [request] = stub.generate_requests
    config = request.json()["generationConfig"]
    assert "thinkingConfig" not in config
    assert config["temperature"] == 0.4


def test_429_then_success_waits_as_told(
    stub: GeminiStub, generator: GeminiMetadataGenerator, sleeps: list[float]
) -> None:
    stub.reply(rate_limited(retry_after="3"), candidate_response(ANSWER))
    metadata = generator.generate_metadata(TALK, CONTEXT)
    assert metadata.title == ANSWER["title"]
    assert len(stub.generate_requests) == 2
    assert sleeps == [3.0]  # Retry-After, longer than the 1 s backoff


def test_retry_info_in_the_body_is_honoured_too(
    stub: GeminiStub, generator: GeminiMetadataGenerator, sleeps: list[float]
) -> None:
    stub.reply(rate_limited(retry_delay_seconds=5), candidate_response(ANSWER))
    generator.generate_metadata(TALK, CONTEXT)
    assert sleeps == [5.0]


def test_500s_until_give_up_raise_a_transient_error(
    stub: GeminiStub, generator: GeminiMetadataGenerator, sleeps: list[float]
) -> None:
    stub.reply(server_error(500), server_error(503), server_error(500), candidate_response(ANSWER))
    with pytest.raises(ProviderUnavailableError) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert caught.value.error_code == "ai_unavailable"
    assert caught.value.retryable
    assert caught.value.retry_after_seconds is None
    assert "500 INTERNAL" in caught.value.message
    assert len(stub.generate_requests) == 3  # max_attempts, and the fourth reply is never asked for
    assert sleeps == [1.0, 2.0]  # exponential backoff


def test_a_retry_after_beyond_the_budget_goes_to_the_queue(
    stub: GeminiStub, generator: GeminiMetadataGenerator, sleeps: list[float]
) -> None:
    stub.reply(rate_limited(retry_after="120"), candidate_response(ANSWER))
    with pytest.raises(ProviderRateLimitedError) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert caught.value.error_code == "ai_rate_limited"
    assert caught.value.retry_after_seconds == 120
    assert len(stub.generate_requests) == 1
    assert sleeps == []


def test_malformed_json_is_no_response(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(candidate_response('{"title": "Cut off", "tags": ['))
    with pytest.raises(AINoResponseError) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert caught.value.error_code == "ai_no_response"
    assert caught.value.retryable
    assert len(stub.generate_requests) == 1


def test_json_missing_required_fields_is_no_response(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(candidate_response({"description": "no title"}))
    with pytest.raises(AINoResponseError):
        generator.generate_metadata(TALK, CONTEXT)


def test_a_truncated_answer_is_no_response(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(candidate_response('{"title": "Cut', finish_reason="MAX_TOKENS"))
    with pytest.raises(AINoResponseError, match="token limit"):
        generator.generate_metadata(TALK, CONTEXT)


def test_empty_candidates_are_no_response(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(empty_response())
    with pytest.raises(AINoResponseError, match="no candidates"):
        generator.generate_metadata(TALK, CONTEXT)


@pytest.mark.parametrize("reply", [blocked_prompt_response("SAFETY"), safety_finish_response()])
def test_a_safety_block_is_permanent_and_not_retried(
    stub: GeminiStub, generator: GeminiMetadataGenerator, reply: dict, sleeps: list[float]
) -> None:
    stub.reply(reply, candidate_response(ANSWER))
    with pytest.raises(AIBlockedError) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert caught.value.error_code == "ai_blocked"
    assert not caught.value.retryable
    assert "SAFETY" in caught.value.message
    assert len(stub.generate_requests) == 1
    assert sleeps == []


def test_a_rejected_key_is_a_configuration_error(
    stub: GeminiStub, generator: GeminiMetadataGenerator
) -> None:
    stub.reply(Reply(error_body(403, "PERMISSION_DENIED", "API key not valid."), 403))
    with pytest.raises(ConfigurationError) as caught:
        generator.generate_metadata(TALK, CONTEXT)
    assert caught.value.error_code == "bad_config"
    assert API_KEY not in caught.value.message
    assert len(stub.generate_requests) == 1


def test_a_server_that_does_not_answer_in_time_is_unavailable(httpserver: HTTPServer) -> None:
    released = threading.Event()

    def hang(request: Request) -> Response:
        released.wait(10)
        return Response("{}", status=200, mimetype="application/json")

    httpserver.expect_request(GENERATE_PATH).respond_with_handler(hang)
    generator = GeminiMetadataGenerator(
        API_KEY,
        MODEL,
        base_url=httpserver.url_for("/").rstrip("/"),
        timeout_seconds=0.3,
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        with pytest.raises(ProviderUnavailableError, match="Timeout"):
            generator.generate_metadata(TALK, CONTEXT)
    finally:
        released.set()
        generator.close()


def test_a_refused_connection_is_retried_then_unavailable(sleeps: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = GeminiMetadataGenerator(
        API_KEY,
        MODEL,
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=2, jitter=0),
        sleep=sleeps.append,
    )
    with pytest.raises(ProviderUnavailableError, match="ConnectError"):
        generator.generate_metadata(TALK, CONTEXT)
    assert sleeps == [1.0]
    generator.close()


# ---- transcription ------------------------------------------------------------------------


def write_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\x01\x00" * int(16_000 * seconds))
    return path


def test_transcription_uploads_the_wav_and_asks_for_timed_segments(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    stub = GeminiStub(httpserver, file_states=("PROCESSING", "PROCESSING", "ACTIVE"))
    sleeps: list[float] = []
    audio = write_wav(tmp_path / "audio.wav", 1.5)
    stub.reply(
        candidate_response(
            {
                "language": "en",
                "segments": [
                    {"start_time": 0.0, "end_time": 0.7, "text": " Hello  there. "},
                    {"start_time": 0.8, "end_time": 9.0, "text": "General Kenobi."},
                    {"start_time": 1.0, "end_time": 1.2, "text": "   "},
                ],
            }
        )
    )
    progress: list[float] = []
    stops: list[bool] = []
    transcriber = GeminiTranscriber(
        API_KEY, MODEL, base_url=stub.base_url, file_poll_seconds=0.5, sleep=sleeps.append
    )
    transcript = transcriber.transcribe(
        audio, on_progress=progress.append, raise_if_interrupted=lambda: stops.append(True)
    )
    transcriber.close()

    assert transcript == Transcript(
        language="en",
        segments=(
            Segment("Hello there.", 0.0, 0.7),
            Segment("General Kenobi.", 0.8, 1.5),  # clamped to the audio's end
        ),
        duration_seconds=1.5,
    )
    assert progress == [0.0, 1.0]
    assert stops == [True]
    assert sleeps == [0.5, 0.5]  # polled until the upload was ACTIVE

    [start] = stub.requests_matching("POST", UPLOAD_START_PATH)
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-type"] == "audio/wav"
    [chunk] = stub.requests_matching("POST", UPLOAD_SESSION_PATH)
    assert chunk.headers["x-goog-upload-command"] == "upload, finalize"
    assert chunk.body == audio.read_bytes()
    assert len(stub.requests_matching("GET", FILE_PATH)) == 2

    [generate] = stub.generate_requests
    assert GENERATE_PATH.match(generate.path)["model"] == MODEL
    parts = generate.json()["contents"][0]["parts"]
    file_part = parts[0]["fileData"]
    assert file_part["file_uri"].endswith("/files/stub-file-1")
    assert file_part["mime_type"] == "audio/wav"
    assert "Transcribe" in parts[1]["text"]
    schema = generate.json()["generationConfig"]["responseSchema"]
    assert set(schema["properties"]) == {"language", "segments"}

    [delete] = stub.requests_matching("DELETE", FILE_PATH)
    assert delete.path.endswith("/files/stub-file-1")


def test_long_audio_goes_in_windows_on_one_timeline(httpserver: HTTPServer, tmp_path: Path) -> None:
    stub = GeminiStub(httpserver)
    audio = write_wav(tmp_path / "long.wav", 2.5)
    for word in ("one", "two", "three"):
        stub.reply(
            candidate_response(
                {"language": "en", "segments": [{"start_time": 0.2, "end_time": 0.6, "text": word}]}
            )
        )
    progress: list[float] = []
    transcriber = GeminiTranscriber(API_KEY, MODEL, base_url=stub.base_url, window_seconds=1.0)
    transcript = transcriber.transcribe(audio, language="en", on_progress=progress.append)
    transcriber.close()

    assert [(s.text, s.start_time, s.end_time) for s in transcript.segments] == [
        ("one", 0.2, 0.6),
        ("two", 1.2, 1.6),
        ("three", 2.2, 2.5),
    ]
    assert transcript.duration_seconds == 2.5
    assert progress == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    sizes = [len(b) for _, b in sorted(stub.uploads.items())]
    assert sizes == [44 + 32_000, 44 + 32_000, 44 + 16_000]  # header + 1 s, 1 s, 0.5 s
    assert len(stub.requests_matching("DELETE", FILE_PATH)) == 3
    prompt = stub.generate_requests[0].json()["contents"][0]["parts"][1]["text"]
    assert "The speech is in en." in prompt


def test_a_blocked_transcription_still_deletes_the_upload(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    stub = GeminiStub(httpserver)
    stub.reply(blocked_prompt_response("PROHIBITED_CONTENT"))
    transcriber = GeminiTranscriber(API_KEY, MODEL, base_url=stub.base_url)
    with pytest.raises(AIBlockedError, match="PROHIBITED_CONTENT"):
        transcriber.transcribe(write_wav(tmp_path / "a.wav", 0.5))
    transcriber.close()
    assert len(stub.requests_matching("DELETE", FILE_PATH)) == 1


# ---- the MetadataGenerator contract, for every backend that runs here ----------------------


@pytest.fixture(params=["local", "gemini"])
def backend(request: pytest.FixtureRequest, httpserver: HTTPServer) -> Iterator[MetadataGenerator]:
    if request.param == "local":
        yield LocalMetadataGenerator()
        return
    stub = GeminiStub(httpserver)
    stub.reply(candidate_response(ANSWER))
    generator = GeminiMetadataGenerator(API_KEY, MODEL, base_url=stub.base_url)
    yield generator
    generator.close()


def test_metadata_contract(backend: MetadataGenerator) -> None:
    metadata = backend.generate_metadata(TALK, CONTEXT)
    assert isinstance(metadata, GeneratedMetadata)
    assert backend.name in {"local", "gemini"} and backend.model
    assert 0 < len(metadata.title) <= 100
    assert metadata.description.strip()
    assert 5 <= len(metadata.tags) <= 15
    assert metadata.show_notes.strip()
    starts = [c.start_time for c in metadata.chapters]
    assert starts and starts[0] == 0.0 and starts == sorted(set(starts))
    assert all(s < TALK.duration_seconds for s in starts)


def test_the_stand_in_refuses_a_thinking_budget_for_gemini_3(stub: GeminiStub) -> None:
    """The shape check has teeth: a 2.5-style request to a 3.x model is a 400, as from the API."""
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

    client = genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=stub.base_url, retry_options=None)
    )
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=512))
    try:
        with pytest.raises(genai_errors.ClientError) as caught:
            client.models.generate_content(model=MODEL, contents="hi", config=config)
    finally:
        client.close()
    assert caught.value.code == 400
    assert "thinking_budget" in (caught.value.message or "")
