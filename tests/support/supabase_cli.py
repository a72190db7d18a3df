"""Run the real Supabase CLI (npm package `supabase`, pinned in package.json) against a database."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]


def cli_path() -> Path | None:
    """The CLI from SUPABASE_CLI, the project's node_modules, or PATH."""
    configured = os.environ.get("SUPABASE_CLI")
    candidates = [Path(configured)] if configured else []
    candidates.append(ROOT / "node_modules" / ".bin" / "supabase")
    found = shutil.which("supabase")
    if found:
        candidates.append(Path(found))
    return next((c for c in candidates if c.exists()), None)


def cli_url(conninfo: str) -> str:
    """A postgresql:// URL the CLI accepts (it needs sslmode=disable for a local server)."""
    p = conninfo_to_dict(conninfo)
    user = quote(str(p.get("user") or "postgres"))
    password = f":{quote(str(p['password']))}" if p.get("password") else ""
    host = str(p.get("host") or "127.0.0.1")
    port = str(p.get("port") or 5432)
    db = quote(str(p["dbname"]))
    if host.startswith("/"):
        # A Unix socket (the embedded server): the CLI needs a host in the authority; the
        # `host` parameter then points it at the socket directory.
        return (
            f"postgresql://{user}{password}@localhost:{port}/{db}"
            f"?host={quote(host)}&sslmode=disable"
        )
    return f"postgresql://{user}{password}@{host}:{port}/{db}?sslmode=disable"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `supabase ARGS` in the project root (its supabase/ directory), without telemetry."""
    cli = cli_path()
    assert cli is not None, "Supabase CLI not installed (npm ci)"
    env = {
        **os.environ,
        "SUPABASE_TELEMETRY_DISABLED": "1",
        "DO_NOT_TRACK": "1",
        "SUPABASE_NO_UPDATE_NOTIFIER": "1",
    }
    return subprocess.run(
        [str(cli), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
