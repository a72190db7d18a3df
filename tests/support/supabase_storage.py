"""One fake Supabase Storage for every test: the object routes and the TUS resumable endpoint.

`FakeSupabaseStorage` keeps objects in a dict on a pytest-httpserver with Storage's routes,
status codes and key rules. Who may call it is the caller's rule (`authorise`): the service
role for SupabaseStorage's contract suite, the signed-in user for the client's road
(tests/support/supabase_stubs.py). Every request is recorded for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import FileStorage

OBJECT_PATH = r"/storage/v1/object/{}(?P<bucket>[^/]+)/(?P<key>.+)$"
UPLOAD_PATH = re.compile("^" + OBJECT_PATH.format(""))
TUS_PATH = "/storage/v1/upload/resumable"
TUS_UPLOAD_PATH = re.compile(r"^/storage/v1/upload/resumable/(?P<upload_id>[A-Za-z0-9_-]+)$")
# Supabase Storage's TUS server takes chunks of exactly this size (the last one shorter).
TUS_CHUNK_BYTES = 6 * 1024 * 1024
# Supabase Storage's isValidKey (supabase/storage src/storage/limits.ts, VALID_OBJECT_KEY).
STORAGE_VALID_KEY = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]+$")
# By default, uploads larger than this are kept by size and digest only, so that a test can
# measure the client's memory in the same process.
KEEP_UPLOAD_BYTES = 1024 * 1024

# Refuses a request (returns Storage's answer) or lets it through (None); gets lower-case headers.
Authorise = Callable[[dict[str, str]], Response | None]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, content_type="application/json", headers=headers or {}
    )


def invalid_key_response(key: str) -> Response:
    """Storage's answer to a key outside its character set."""
    return json_response(
        400, {"statusCode": "400", "error": "InvalidKey", "message": f"Invalid key: {key}"}
    )


def not_found_response() -> Response:
    """Storage answers a missing object on the object routes with HTTP 400 and 404 inside."""
    return json_response(
        400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}
    )


@dataclass
class UploadedFile:
    """One multipart file part: `data` is None past the server's keep limit."""

    filename: str | None
    content_type: str | None
    size_bytes: int
    sha256: str
    data: bytes | None


def read_upload(upload: FileStorage, keep_bytes: int | None) -> UploadedFile:
    digest, size, kept = hashlib.sha256(), 0, bytearray()
    while chunk := upload.stream.read(65536):
        digest.update(chunk)
        size += len(chunk)
        if keep_bytes is None or size <= keep_bytes:
            kept += chunk
    data = bytes(kept) if keep_bytes is None or size <= keep_bytes else None
    return UploadedFile(upload.filename, upload.content_type, size, digest.hexdigest(), data)


@dataclass
class TusUpload:
    """One resumable upload as the TUS endpoint holds it."""

    length: int
    metadata: dict[str, str]
    headers: dict[str, str]
    offset: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def decode_upload_metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (TUS 1.0.0)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = item.partition(" ")
        pairs[key] = base64.b64decode(value, validate=True).decode() if value else ""
    return pairs


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


def record_request(
    request: Request,
    *,
    multipart: bool = False,
    raw: bool = False,
    keep_bytes: int | None = KEEP_UPLOAD_BYTES,
) -> RecordedRequest:
    """The request as a test asserts on it; a multipart body is read here (once)."""
    recorded = RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.args.items()),
        headers={k.lower(): v for k, v in request.headers.items()},
    )
    if multipart:
        recorded.form = dict(request.form.items())
        recorded.files = {name: read_upload(f, keep_bytes) for name, f in request.files.items()}
    elif not raw:
        body = request.get_data()
        recorded.json = json.loads(body) if body else None
    return recorded


class FakeSupabaseStorage:
    """Supabase Storage's object routes and TUS endpoint on `server`, backed by a dict.

    `keep_bytes` bounds what an upload keeps in memory (None: everything); `check_keys`
    refuses keys outside Storage's ASCII character set, as Storage does.
    """

    def __init__(
        self,
        server: HTTPServer,
        *,
        authorise: Authorise,
        requests: list[RecordedRequest] | None = None,
        keep_bytes: int | None = KEEP_UPLOAD_BYTES,
        check_keys: bool = True,
    ) -> None:
        self.server = server
        self.check_keys = check_keys
        self.authorise = authorise
        self.requests: list[RecordedRequest] = requests if requests is not None else []
        self.keep_bytes = keep_bytes
        self.objects: dict[tuple[str, str], UploadedFile] = {}
        self.tokens: dict[str, tuple[str, str]] = {}
        self.tus_uploads: dict[str, TusUpload] = {}
        # PATCH numbers (0-based, over the server's life) that store half their chunk, then
        # fail as a dropped upstream connection does at the gateway.
        self.interrupt_patches: set[int] = set()
        self._patches = 0
        # Order matters: the upload route's pattern also matches the sign and info routes.
        routes: list[tuple[str, str, Callable[..., Response]]] = [
            ("POST", OBJECT_PATH.format("sign/"), self._sign),
            ("GET", OBJECT_PATH.format("sign/"), self._read_signed),
            ("GET", OBJECT_PATH.format("info/"), self._info),
            ("POST", OBJECT_PATH.format(""), self._upload),
            ("GET", OBJECT_PATH.format(""), self._download),
            ("DELETE", r"/storage/v1/object/(?P<bucket>[^/]+)$", self._remove),
        ]
        for method, pattern, handler in routes:
            regex = re.compile("^" + pattern)
            server.expect_request(regex, method=method).respond_with_handler(
                lambda request, regex=regex, handler=handler: handler(
                    request, *regex.match(request.path).groups()
                )
            )
        server.expect_request(TUS_PATH, method="POST").respond_with_handler(self._tus_create)
        server.expect_request(TUS_UPLOAD_PATH, method="PATCH").respond_with_handler(self._tus_patch)
        server.expect_request(TUS_UPLOAD_PATH, method="HEAD").respond_with_handler(self._tus_head)

    def _record(self, request: Request, **how: bool) -> RecordedRequest:
        recorded = record_request(request, keep_bytes=self.keep_bytes, **how)
        self.requests.append(recorded)
        return recorded

    # --- objects ---------------------------------------------------------------------------

    def _upload(self, request: Request, bucket: str, key: str) -> Response:
        recorded = self._record(request, multipart=True)
        if (refused := self.authorise(recorded.headers)) is not None:
            return refused
        if self.check_keys and not STORAGE_VALID_KEY.fullmatch(key):
            return invalid_key_response(key)
        if (bucket, key) in self.objects and recorded.headers.get("x-upsert") != "true":
            return json_response(
                400, {"statusCode": "409", "error": "Duplicate", "message": "exists"}
            )
        self.objects[bucket, key] = recorded.files["file"]
        return json_response(200, {"Id": str(uuid.uuid4()), "Key": f"{bucket}/{key}"})

    def _download(self, request: Request, bucket: str, key: str) -> Response:
        recorded = self._record(request)
        if (refused := self.authorise(recorded.headers)) is not None:
            return refused
        stored = self.objects.get((bucket, key))
        if stored is None:
            return not_found_response()
        assert stored.data is not None, "the object was larger than the server keeps"
        return Response(stored.data, 200, content_type=stored.content_type)

    def _remove(self, request: Request, bucket: str) -> Response:
        recorded = self._record(request)
        if (refused := self.authorise(recorded.headers)) is not None:
            return refused
        removed = []
        for key in (recorded.json or {}).get("prefixes", []):
            if self.objects.pop((bucket, key), None) is not None:
                removed.append({"name": key, "bucket_id": bucket})
        return json_response(200, removed)

    def _info(self, request: Request, bucket: str, key: str) -> Response:
        recorded = self._record(request)
        if (refused := self.authorise(recorded.headers)) is not None:
            return refused
        stored = self.objects.get((bucket, key))
        if stored is None:
            return json_response(
                404, {"statusCode": "404", "error": "not_found", "message": "Object not found"}
            )
        return json_response(200, {"name": key, "size": stored.size_bytes})

    def _sign(self, request: Request, bucket: str, key: str) -> Response:
        recorded = self._record(request)
        if (refused := self.authorise(recorded.headers)) is not None:
            return refused
        if (bucket, key) not in self.objects:
            return not_found_response()
        token = uuid.uuid4().hex
        self.tokens[token] = (bucket, key)
        return json_response(200, {"signedURL": f"/object/sign/{bucket}/{key}?token={token}"})

    def _read_signed(self, request: Request, bucket: str, key: str) -> Response:
        self._record(request, raw=True)
        if self.tokens.get(request.args.get("token", "")) != (bucket, key):
            return json_response(400, {"error": "InvalidSignature"})
        stored = self.objects[bucket, key]
        assert stored.data is not None, "the object was larger than the server keeps"
        return Response(stored.data, 200, content_type=stored.content_type)

    # --- TUS (Supabase Storage's resumable upload endpoint) -------------------------------

    def _tus_refusal(self, headers: dict[str, str]) -> Response | None:
        if headers.get("tus-resumable") != "1.0.0":
            return Response("Unsupported TUS version", status=412, headers={"Tus-Version": "1.0.0"})
        return self.authorise(headers)

    def _tus_create(self, request: Request) -> Response:
        recorded = self._record(request, raw=True)
        if (refused := self._tus_refusal(recorded.headers)) is not None:
            return refused
        metadata = decode_upload_metadata(recorded.headers.get("upload-metadata", ""))
        if not {"bucketName", "objectName", "contentType"} <= metadata.keys():
            return Response("Upload-Metadata misses bucketName/objectName", status=400)
        if self.check_keys and not STORAGE_VALID_KEY.fullmatch(metadata["objectName"]):
            return invalid_key_response(metadata["objectName"])
        length = int(recorded.headers["upload-length"])
        upload_id = uuid.uuid4().hex
        self.tus_uploads[upload_id] = TusUpload(length, metadata, recorded.headers)
        location = self.server.url_for(f"{TUS_PATH}/{upload_id}")
        return Response(
            status=201,
            headers={"Location": location, "Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
        )

    def _tus_upload_of(self, request: Request) -> TusUpload | None:
        match = TUS_UPLOAD_PATH.match(request.path)
        return None if match is None else self.tus_uploads.get(match["upload_id"])

    def _tus_patch(self, request: Request) -> Response:
        recorded = self._record(request, raw=True)
        upload = self._tus_upload_of(request)
        if upload is None:
            return Response("Upload not found", status=404)
        if (refused := self._tus_refusal(recorded.headers)) is not None:
            return refused
        if recorded.headers.get("content-type") != "application/offset+octet-stream":
            return Response("Wrong Content-Type", status=415)
        if int(recorded.headers["upload-offset"]) != upload.offset:
            return Response("Upload-Offset does not match", status=409)
        chunk = request.get_data()
        recorded.json = {"offset": upload.offset, "size": len(chunk)}
        is_last = upload.offset + len(chunk) == upload.length
        if len(chunk) != TUS_CHUNK_BYTES and not is_last:
            return Response("chunk size must be 6MB", status=400)
        number, self._patches = self._patches, self._patches + 1
        if number in self.interrupt_patches:
            kept = chunk[: len(chunk) // 2]
            upload.digest.update(kept)
            upload.offset += len(kept)
            return Response("upstream connection lost", status=502)
        upload.digest.update(chunk)
        upload.offset += len(chunk)
        return Response(
            status=204, headers={"Tus-Resumable": "1.0.0", "Upload-Offset": str(upload.offset)}
        )

    def _tus_head(self, request: Request) -> Response:
        recorded = self._record(request, raw=True)
        upload = self._tus_upload_of(request)
        if upload is None:
            return Response(status=404)
        if (refused := self._tus_refusal(recorded.headers)) is not None:
            return refused
        return Response(
            status=200,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(upload.offset),
                "Upload-Length": str(upload.length),
                "Cache-Control": "no-store",
            },
        )
