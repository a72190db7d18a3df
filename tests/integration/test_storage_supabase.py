"""SupabaseStorage against pytest-httpserver: the exact Storage API requests, and how each
kind of answer is translated into the error taxonomy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from processor.errors import (
    ConfigurationError,
    PermanentError,
    SourceMissingError,
    StorageUnavailableError,
)
from processor.storage.supabase import SupabaseStorage

KEY = "service-role-key-for-tests"
AUTH = {"apikey": KEY, "Authorization": f"Bearer {KEY}"}
OWNER_KEY = "0b5c/clip ü.mp4"


@pytest.fixture
def storage(httpserver: HTTPServer):
    backend = SupabaseStorage(httpserver.url_for("/"), KEY)
    yield backend
    backend.close()


def json_response(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def test_upload_is_one_upsert_post_with_the_service_key(
    storage: SupabaseStorage, httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return json_response({"Key": "video-artifacts/o/1/subtitles.vtt", "Id": "x"}, 200)

    httpserver.expect_ordered_request(
        "/storage/v1/object/video-artifacts/o/1/subtitles.vtt", method="POST", headers=AUTH
    ).respond_with_handler(handler)
    src = tmp_path / "subtitles.vtt"
    src.write_text("WEBVTT\n")
    storage.put_file("video-artifacts", "o/1/subtitles.vtt", src, "text/vtt; charset=utf-8")
    httpserver.check_assertions()
    (request,) = seen
    assert request.headers["x-upsert"] == "true"
    upload = request.files["file"]
    assert upload.filename == "subtitles.vtt"
    assert upload.mimetype == "text/vtt"
    assert upload.read() == b"WEBVTT\n"
    assert request.form["cacheControl"] == "3600"


def test_content_type_is_guessed_from_the_key(
    storage: SupabaseStorage, httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.files["file"].mimetype)
        return json_response({"Key": "k"}, 200)

    httpserver.expect_request(
        "/storage/v1/object/video-artifacts/o/1/thumbnail.jpg"
    ).respond_with_handler(handler)
    payload = tmp_path / "payload"
    payload.write_bytes(b"\xff\xd8\xff")
    storage.put_file("video-artifacts", "o/1/thumbnail.jpg", payload)
    assert seen == ["image/jpeg"]


def test_download_streams_the_authenticated_object_route(
    storage: SupabaseStorage, httpserver: HTTPServer, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: several chunks
    httpserver.expect_ordered_request(
        "/storage/v1/object/videos/0b5c/clip ü.mp4", method="GET", headers=AUTH
    ).respond_with_data(body, content_type="video/mp4")
    size = storage.download_to("videos", OWNER_KEY, tmp_path / "dest")
    httpserver.check_assertions()
    assert size == len(body)
    assert (tmp_path / "dest").read_bytes() == body
    ((request, _response),) = httpserver.log
    # The key's segments are percent-encoded on the wire.
    assert request.environ["REQUEST_URI"].endswith("/0b5c/clip%20%C3%BC.mp4")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"statusCode": "404", "error": "not_found", "message": "Object not found"},
            SourceMissingError,
        ),
        (
            404,
            {"statusCode": "404", "error": "not_found", "message": "Object not found"},
            SourceMissingError,
        ),
        (
            404,
            {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"},
            ConfigurationError,
        ),
        (
            403,
            {"statusCode": "403", "error": "Unauthorized", "message": "invalid signature"},
            ConfigurationError,
        ),
        (
            500,
            {"statusCode": "500", "error": "internal", "message": "boom"},
            StorageUnavailableError,
        ),
        (503, {}, StorageUnavailableError),
        (429, {}, StorageUnavailableError),
        (400, {"statusCode": "400", "error": "InvalidKey", "message": "bad"}, PermanentError),
    ],
)
def test_download_errors_are_translated_and_leave_no_file(
    storage: SupabaseStorage,
    httpserver: HTTPServer,
    tmp_path: Path,
    status: int,
    body: dict,
    error: type[Exception],
) -> None:
    httpserver.expect_request("/storage/v1/object/videos/o/v.mp4").respond_with_json(
        body, status=status
    )
    with pytest.raises(error) as info:
        storage.download_to("videos", "o/v.mp4", tmp_path / "dest")
    assert type(info.value) is error
    assert not (tmp_path / "dest").exists()
    assert KEY not in str(info.value)


def test_exists_reads_the_object_info_route(
    storage: SupabaseStorage, httpserver: HTTPServer
) -> None:
    httpserver.expect_ordered_request(
        "/storage/v1/object/info/videos/o/here.mp4", method="GET", headers=AUTH
    ).respond_with_json({"name": "o/here.mp4", "size": 3})
    httpserver.expect_ordered_request(
        "/storage/v1/object/info/videos/o/gone.mp4", method="GET", headers=AUTH
    ).respond_with_json(
        {"statusCode": "404", "error": "not_found", "message": "Object not found"}, status=404
    )
    assert storage.exists("videos", "o/here.mp4") is True
    assert storage.exists("videos", "o/gone.mp4") is False
    httpserver.check_assertions()


def test_exists_does_not_hide_server_errors(
    storage: SupabaseStorage, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/storage/v1/object/info/videos/o/x.mp4").respond_with_json(
        {"message": "down"}, status=502
    )
    with pytest.raises(StorageUnavailableError):
        storage.exists("videos", "o/x.mp4")


def test_signed_url_posts_the_expiry_and_returns_an_absolute_url(
    storage: SupabaseStorage, httpserver: HTTPServer
) -> None:
    httpserver.expect_ordered_request(
        "/storage/v1/object/sign/video-artifacts/o/1/thumbnail.jpg",
        method="POST",
        headers=AUTH,
        json={"expiresIn": "600"},
    ).respond_with_json({"signedURL": "/object/sign/video-artifacts/o/1/thumbnail.jpg?token=abc"})
    url = storage.signed_url("video-artifacts", "o/1/thumbnail.jpg", 600)
    httpserver.check_assertions()
    assert url == httpserver.url_for(
        "/storage/v1/object/sign/video-artifacts/o/1/thumbnail.jpg?token=abc"
    )


def test_unreachable_server_is_transient(tmp_path: Path) -> None:
    backend = SupabaseStorage("http://127.0.0.1:9", KEY, http_client=httpx.Client(timeout=2))
    with pytest.raises(StorageUnavailableError):
        backend.download_to("videos", "o/v.mp4", tmp_path / "dest")
    with pytest.raises(StorageUnavailableError):
        backend.exists("videos", "o/v.mp4")
    src = tmp_path / "src"
    src.write_bytes(b"x")
    with pytest.raises(StorageUnavailableError):
        backend.put_file("videos", "o/v.mp4", src)
    assert not (tmp_path / "dest").exists()
