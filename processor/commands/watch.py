"""`vproc watch [JOB]`: a live view of jobs, redrawn on NOTIFY vproc_job_changes.

Notifications only trigger a re-read (the payload is not trusted); a redraw also happens every
couple of seconds so nothing is missed while the listener reconnects. Watching one job ends
when it reaches COMPLETED, FAILED or CANCELLED (exit 1 unless COMPLETED), or with exit 1 when
its timeout passes first.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime

from rich.console import Group
from rich.live import Live
from rich.table import Table

from processor.commands.output import err, jobs_table, out, status_text, to_jsonable
from processor.db import queries
from processor.db.listener import Listener, listen_unsupported_reason
from processor.errors import NotFoundError
from processor.services import Services
from processor.status import TERMINAL_STATUSES, JobStatus

CHANNEL = "vproc_job_changes"


def _table(jobs: list[queries.JobSummary]) -> Table:
    now = datetime.now(UTC)
    return jobs_table(
        jobs, now, bar_width=16, error_messages=True, title=f"vproc jobs — {now:%H:%M:%S}"
    )


def watch_jobs(
    services: Services,
    job_id: int | None,
    *,
    limit: int,
    as_json: bool,
    timeout: float | None = None,
    refresh_seconds: float = 2.0,
) -> int:
    """Watch until interrupted (or until the one watched job ends); return the exit code.

    `timeout` seconds (None: no limit) end the watch: exit 0 when watching all jobs, exit 1
    (and a line on stderr) when the one watched job has not ended by then.
    """
    db = services.database(application_name="vproc-watch")
    stop = threading.Event()
    wake = threading.Event()
    listener_thread = _start_listener(services.database_url, wake, stop)
    deadline = None if timeout is None else time.monotonic() + timeout

    def snapshot() -> list[queries.JobSummary]:
        with db.connection() as conn:
            if job_id is None:
                return queries.list_jobs(conn, status=None, limit=limit)
            job = queries.get_job(conn, job_id=job_id)
            if job is None:
                raise NotFoundError(f"job {job_id} not found")
            return [job.summary()]

    last_seen: dict[int, tuple[object, ...]] = {}
    live: Live | None = None
    if not as_json and out.is_terminal:
        live = Live(console=out, refresh_per_second=4, transient=False)
        live.start()
    try:
        while True:
            jobs = snapshot()
            _render(jobs, as_json=as_json, live=live, last_seen=last_seen)
            code = _exit_code(jobs, job_id, deadline=deadline, timeout=timeout)
            if code is not None:
                return code
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wake.wait(refresh_seconds if remaining is None else min(refresh_seconds, remaining))
            wake.clear()
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if live is not None:
            live.stop()
        if listener_thread is not None:
            listener_thread.join(2)


def _start_listener(
    database_url: str, wake: threading.Event, stop: threading.Event
) -> threading.Thread | None:
    """LISTEN for job changes in a thread that sets `wake`; None where LISTEN cannot work."""
    if listen_unsupported_reason(database_url) is not None:
        return None
    listener = Listener(
        database_url, wake.set, stop, application_name="vproc-watch", channel=CHANNEL
    )
    thread = threading.Thread(target=listener.run, name="vproc-watch-listener", daemon=True)
    thread.start()
    return thread


def _render(
    jobs: list[queries.JobSummary],
    *,
    as_json: bool,
    live: Live | None,
    last_seen: dict[int, tuple[object, ...]],
) -> None:
    """Draw the table, or print each job whose state changed since `last_seen` (updated)."""
    if live is not None:
        live.update(Group(_table(jobs)))
        return
    for j in jobs:
        if as_json:
            state: tuple[object, ...] = (
                j.status,
                j.current_stage,
                round(j.progress, 3),
                j.error_code,
            )
        else:
            state = (j.status, j.current_stage, round(j.progress, 2))
        if last_seen.get(j.id) == state:
            continue
        last_seen[j.id] = state
        if as_json:
            print_json_line(j)
        else:
            out.print(
                f"job {j.id} {status_text(j.status)} {j.current_stage or '-'} "
                f"{j.progress * 100:.0f}%"
                + (f" {j.error_code}: {j.error_message}" if j.error_code else "")
            )


def _exit_code(
    jobs: list[queries.JobSummary],
    job_id: int | None,
    *,
    deadline: float | None,
    timeout: float | None,
) -> int | None:
    """The watch's exit code once it is over (the job ended, or time ran out), else None."""
    if job_id is not None and jobs and jobs[0].status in TERMINAL_STATUSES:
        return 0 if jobs[0].status == JobStatus.COMPLETED else 1
    if deadline is None or time.monotonic() < deadline:
        return None
    if job_id is None:
        return 0
    status = jobs[0].status if jobs else "unknown"
    err.print(
        f"[red]error:[/] job {job_id} did not end within {timeout:g} s (still {status})",
        highlight=False,
    )
    return 1


def print_json_line(job: queries.JobSummary) -> None:
    """One JSON object per line (NDJSON) for each change."""
    sys.stdout.write(json.dumps(to_jsonable(job), ensure_ascii=False) + "\n")
    sys.stdout.flush()
