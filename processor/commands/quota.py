"""`vproc quota show` and `vproc quota set`: the operator's view of processor.quotas.

Quotas are checked by the database when a user inserts a video or retries a job (SQLSTATE
PT429, HTTP 429 through PostgREST). The row with no user holds the defaults; a user's row
replaces it as a whole. A limit of `none` is unlimited. These commands need a connection that
may read and write processor.quotas: the database owner (postgres) or service_role.
"""

from __future__ import annotations

import uuid

from rich.table import Table

from processor.commands.output import out, print_json
from processor.db import queries
from processor.errors import NotFoundError
from processor.services import Services

LABELS = {
    "max_active_jobs": "active jobs (PENDING + PROCESSING)",
    "max_videos_per_day": "videos per UTC day",
    "max_bytes_per_day": "bytes per UTC day",
    "max_retries_per_job": "retries per job",
}


def parse_limit(text: str) -> int | None:
    """A limit from the command line: a non-negative integer, or `none` for unlimited."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    value = int(text.replace("_", ""))
    if value < 0:
        raise ValueError("a limit cannot be negative")
    return value


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def show_quota(services: Services, *, user_id: uuid.UUID | None, as_json: bool) -> None:
    db = services.database(application_name="vproc-cli")
    with db.connection() as conn:
        if user_id is None:
            rows = queries.list_quotas(conn)
            if as_json:
                print_json({"quotas": rows})
                return
            table = Table("user", *LABELS.values())
            for row in rows:
                table.add_row(
                    str(row.user_id) if row.user_id else "(defaults)",
                    *(_limit(getattr(row, name)) for name in LABELS),
                )
            out.print(table)
            return
        effective = queries.effective_quota(conn, user_id=user_id)
    if effective is None:
        raise NotFoundError("no quota applies: the defaults row is missing")
    if as_json:
        print_json({"user_id": user_id, "quota": effective})
        return
    source = "own row" if effective.user_id == user_id else "defaults"
    table = Table.grid(padding=(0, 2))
    table.add_row("user", f"{user_id}  ({source})")
    usage = {
        "max_active_jobs": effective.active_jobs,
        "max_videos_per_day": effective.videos_today,
        "max_bytes_per_day": effective.bytes_today,
    }
    for name, label in LABELS.items():
        used = f"  (now: {usage[name]:,})" if name in usage else ""
        table.add_row(label, _limit(getattr(effective, name)) + used)
    out.print(table)


def set_quota(
    services: Services,
    *,
    user_id: uuid.UUID | None,
    limits: dict[str, int | None],
    clear: bool,
    as_json: bool,
) -> None:
    db = services.database(application_name="vproc-cli")
    with db.transaction() as conn:
        if clear:
            if user_id is None:
                raise ValueError("--clear needs --user: the defaults row is always kept")
            if not queries.clear_quota(conn, user_id=user_id):
                raise NotFoundError(f"user {user_id} has no quota row of their own")
            row = None
        else:
            row = queries.set_quota(conn, user_id=user_id, limits=limits)
    if as_json:
        print_json({"user_id": user_id, "quota": row, "cleared": clear})
        return
    who = str(user_id) if user_id else "the defaults"
    if row is None:
        out.print(f"{who}: own quota removed; the defaults apply")
        return
    out.print(
        f"{who}: "
        + ", ".join(f"{name} {_limit(getattr(row, name))}" for name in queries.QUOTA_LIMITS)
    )
