"""Regenerate supabase/types/database.ts with the Supabase CLI's own type generator.

`supabase gen types typescript --db-url URL` runs the `supabase/postgres-meta` image
(`node dist/server/server.js` with PG_META_GENERATE_TYPES=typescript) and prints its stdout
unchanged. That image is the npm package @supabase/postgres-meta, which runs here on Node.js
without Docker; this script runs it the way the CLI does and writes what it prints.

    uv run --locked python scripts/typegen.py                  # a fresh migrated database
    uv run --locked python scripts/typegen.py --database-url URL [--output FILE | -]

Without --database-url it creates a scratch database on $TEST_DATABASE_URL's server (else on
the embedded Postgres the test suite uses), applies the stand-in and every migration, generates
and drops it. Needs Node.js and `npm ci` (package.json).

Pins: package.json holds "supabase" (the CLI) and "@supabase/postgres-meta" at the version
that CLI release runs (its pg-meta image tag: CLI 2.117.0 runs postgres-meta v0.99.0), and
"overrides" holds @supabase/postgrest-typegen at the version in that image (0.2.0; 0.2.1 already
renders some types differently). Bumping the CLI pin bumps both: read the new CLI's pg-meta
image tag (e.g. `strings node_modules/@supabase/cli-linux-x64/bin/supabase | grep
postgres-meta:v`), and the postgrest-typegen version that postgres-meta release locks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "supabase" / "types" / "database.ts"
SERVER_JS = ROOT / "node_modules" / "@supabase" / "postgres-meta" / "dist" / "server" / "server.js"
COMMAND = "uv run --locked python scripts/typegen.py"
# `supabase gen types`' --query-timeout default, passed as both pg-meta timeouts.
TIMEOUT_SECS = "15"


class GeneratorMissingError(RuntimeError):
    """Node.js or the npm package is not installed."""


def generator_command() -> list[str]:
    """`node …/server.js`, or GeneratorMissingError saying what to install."""
    node = shutil.which("node")
    if node is None:
        raise GeneratorMissingError("Node.js (node) is not on PATH")
    if not SERVER_JS.exists():
        raise GeneratorMissingError(f"{SERVER_JS.relative_to(ROOT)} is missing: run `npm ci`")
    return [node, str(SERVER_JS)]


def included_schemas() -> str:
    """What the CLI passes for --db-url: `public` plus supabase/config.toml's [api] schemas."""
    config = tomllib.loads((ROOT / "supabase" / "config.toml").read_text(encoding="utf-8"))
    schemas = ["public", *config.get("api", {}).get("schemas", [])]
    return ",".join(dict.fromkeys(schemas))


def pg_meta_url(conninfo: str) -> str:
    """A postgresql:// URL for node-postgres from any libpq connection string (or URL)."""
    p = conninfo_to_dict(conninfo)
    user = quote(str(p.get("user") or "postgres"))
    password = f":{quote(str(p['password']), safe='')}" if p.get("password") else ""
    host = str(p.get("host") or "127.0.0.1")
    port = str(p.get("port") or 5432)
    db = quote(str(p.get("dbname") or "postgres"))
    if host.startswith("/"):
        # A Unix socket directory (the embedded server) goes in the `host` parameter.
        return f"postgresql://{user}{password}@localhost:{port}/{db}?host={quote(host)}"
    return f"postgresql://{user}{password}@{host}:{port}/{db}?sslmode=disable"


def generate(database_url: str) -> str:
    """What `supabase gen types typescript --db-url database_url` prints, byte for byte."""
    command = generator_command()
    # Nothing from the caller's environment may steer pg-meta (e.g. PG_META_POSTGREST_VERSION).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG_")}
    env |= {
        "PG_META_DB_URL": pg_meta_url(database_url),
        "PG_CONN_TIMEOUT_SECS": TIMEOUT_SECS,
        "PG_QUERY_TIMEOUT_SECS": TIMEOUT_SECS,
        "PG_META_GENERATE_TYPES": "typescript",
        "PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS": included_schemas(),
        "PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS": "true",
    }
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"postgres-meta exited with {result.returncode}:\n{result.stderr}")
    return result.stdout


def default_server() -> str:
    """$TEST_DATABASE_URL, else the embedded server the test suite uses."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from processor.db.embedded import start_embedded

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return start_embedded(cache / "vproc-tests" / "pgdata")


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on `server` with the stand-in and every migration; dropped afterwards."""
    from processor.db.migrations import migrate

    name = f"vproc_typegen_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        url = make_conninfo(server, dbname=name)
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate supabase/types/database.ts with the Supabase CLI's generator."
    )
    parser.add_argument(
        "--database-url", help="an already migrated database (default: a fresh scratch one)"
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="file to write, or - for stdout (default: supabase/types/database.ts)",
    )
    args = parser.parse_args(argv)
    try:
        if args.database_url:
            text = generate(args.database_url)
        else:
            with fresh_database(default_server()) as url:
                text = generate(url)
    except (GeneratorMissingError, RuntimeError) as exc:
        print(f"typegen: {exc}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
