"""One Storage contract, run against every backend that works offline.

local: a temporary directory. gcs: a real gcp-storage-emulator process on 127.0.0.1, reached
through STORAGE_EMULATOR_HOST. supabase: the fake Supabase Storage of tests/support/supabase_storage.py
(with the service-role key), served by pytest-httpserver (exact requests are checked in
test_storage_supabase.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from processor.errors import MediaTooLargeError, PermanentError, SourceMissingError
from processor.storage import Storage
from processor.storage.local import LocalStorage
from tests.support.supabase_storage import FakeSupabaseStorage, json_response
from tests.support.waiting import wait_until

SERVICE_KEY = "service-role-key-for-tests"


def service_role_only(headers: dict[str, str]) -> Response | None:
    """SupabaseStorage calls Storage with the service-role key."""
    if headers.get("authorization") == f"Bearer {SERVICE_KEY}":
        return None
    return json_response(403, {"statusCode": "403", "error": "Unauthorized", "message": "jwt"})


# --- the GCS emulator --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[str]:
    """A gcp-storage-emulator process (in memory) and STORAGE_EMULATOR_HOST pointing at it."""
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--in-memory", "--quiet"]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def healthy() -> bool:
        try:
            return httpx.get(host + "/", timeout=1).status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, "the GCS emulator exited"
            return False

    try:
        wait_until(healthy, timeout=30, what="the GCS emulator to answer", interval=0.05)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STORAGE_EMULATOR_HOST", host)
            yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def signing_credentials():
    """Service-account credentials with a throwaway key: V4 URLs are signed locally."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "project_id": "vproc-test",
            "client_email": "vproc-test@vproc-test.iam.gserviceaccount.com",
            "private_key": pem,
            "token_uri": "http://127.0.0.1:9/token",
        }
    )


# --- the parametrized backend ------------------------------------------------------------------


@pytest.fixture(params=["local", "gcs", "supabase"])
def storage(request, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
    elif request.param == "gcs":
        request.getfixturevalue("gcs_emulator")
        from google.cloud import storage as gcs

        from processor.storage.gcs import GcsStorage

        client = gcs.Client(project="vproc-test")
        bucket = client.create_bucket(f"vproc-{uuid.uuid4().hex[:12]}")
        yield GcsStorage(client, bucket.name, signing_credentials=signing_credentials())
    else:
        from processor.storage.supabase import SupabaseStorage

        server: HTTPServer = request.getfixturevalue("httpserver")
        # check_keys=False: the suite's unicode key is one Supabase Storage itself refuses.
        FakeSupabaseStorage(server, authorise=service_role_only, keep_bytes=None, check_keys=False)
        backend = SupabaseStorage(server.url_for("/").rstrip("/"), SERVICE_KEY)
        yield backend
        backend.close()


def read_url(url: str) -> bytes:
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path)).read_bytes()
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.content


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_put_then_download_round_trips_large_files(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    storage.put_file("videos", "owner/big.mp4", write(tmp_path / "src", data), "video/mp4")
    size = storage.download_to("videos", "owner/big.mp4", tmp_path / "dest")
    assert size == len(data)
    assert (tmp_path / "dest").read_bytes() == data


def test_download_refuses_an_object_over_max_bytes(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    storage.put_file("videos", "owner/huge.mp4", write(tmp_path / "src", data), "video/mp4")
    with pytest.raises(MediaTooLargeError):
        storage.download_to("videos", "owner/huge.mp4", tmp_path / "dest", max_bytes=len(data) - 1)
    assert not (tmp_path / "dest").exists()
    size = storage.download_to("videos", "owner/huge.mp4", tmp_path / "dest", max_bytes=len(data))
    assert size == len(data) and (tmp_path / "dest").read_bytes() == data


def test_put_is_an_upsert(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("video-artifacts", "o/1/transcript.txt", write(tmp_path / "a", b"first"))
    storage.put_file("video-artifacts", "o/1/transcript.txt", write(tmp_path / "b", b"second"))
    storage.download_to("video-artifacts", "o/1/transcript.txt", tmp_path / "dest")
    assert (tmp_path / "dest").read_bytes() == b"second"


def test_exists(storage: Storage, tmp_path: Path) -> None:
    assert storage.exists("videos", "owner/nothing.mp4") is False
    storage.put_file("videos", "owner/here.mp4", write(tmp_path / "src", b"x"))
    assert storage.exists("videos", "owner/here.mp4") is True
    assert storage.exists("video-artifacts", "owner/here.mp4") is False  # buckets are separate


def test_missing_object_is_source_missing_and_leaves_no_file(
    storage: Storage, tmp_path: Path
) -> None:
    with pytest.raises(SourceMissingError):
        storage.download_to("videos", "owner/missing.mp4", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_unicode_and_spaces_in_keys(storage: Storage, tmp_path: Path) -> None:
    key = "owner/vidéo ünïcode 📼 (final) #1.mp4"
    storage.put_file("videos", key, write(tmp_path / "src", b"unicode"))
    assert storage.exists("videos", key)
    storage.download_to("videos", key, tmp_path / "dest")
    assert (tmp_path / "dest").read_bytes() == b"unicode"


@pytest.mark.parametrize("key", ["../escape.mp4", "/abs.mp4", "a//b.mp4", ""])
def test_unsafe_keys_are_refused_everywhere(storage: Storage, tmp_path: Path, key: str) -> None:
    src = write(tmp_path / "src", b"x")
    with pytest.raises(PermanentError):
        storage.put_file("videos", key, src)
    with pytest.raises(PermanentError):
        storage.download_to("videos", key, tmp_path / "dest")
    with pytest.raises(PermanentError):
        storage.exists("videos", key)


def test_signed_url_reads_the_object(storage: Storage, tmp_path: Path) -> None:
    storage.put_file("video-artifacts", "o/1/thumbnail.jpg", write(tmp_path / "src", b"jpeg!"))
    url = storage.signed_url("video-artifacts", "o/1/thumbnail.jpg", 60)
    assert read_url(url) == b"jpeg!"


def test_delete_objects_removes_them_and_ignores_missing_keys(storage: Storage, tmp_path: Path):
    source = write(tmp_path / "a.txt", b"a")
    storage.put_file("video-artifacts", "owner/7/a.txt", source)
    storage.put_file("video-artifacts", "owner/7/b.txt", source)
    storage.put_file("video-artifacts", "owner/8/a.txt", source)
    storage.delete_objects("video-artifacts", ["owner/7/a.txt", "owner/7/b.txt", "owner/7/c.txt"])
    assert not storage.exists("video-artifacts", "owner/7/a.txt")
    assert not storage.exists("video-artifacts", "owner/7/b.txt")
    assert storage.exists("video-artifacts", "owner/8/a.txt")
    storage.delete_objects("video-artifacts", [])
    with pytest.raises(PermanentError):
        storage.delete_objects("video-artifacts", ["owner/../other/a.txt"])
