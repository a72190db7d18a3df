"""LISTEN for queue wake-ups on a dedicated autocommit connection, outside the pool.

A notification only says "look now"; its payload is never trusted and polling covers anything
missed (including while reconnecting). Behind a transaction pooler (Supabase's port 6543,
PgBouncer in transaction mode) LISTEN cannot work, so it is not attempted there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from processor.backoff import Backoff
from processor.db.connection import error_line

logger = logging.getLogger(__name__)

CHANNEL = "vproc_jobs"
# Reconnecting after the LISTEN connection dropped: 0.5 s doubling to 30 s, no jitter (one
# listener per worker; polling covers the gap meanwhile).
RECONNECT_BACKOFF = Backoff(initial_seconds=0.5, max_seconds=30.0)


def listen_unsupported_reason(url: str) -> str | None:
    """Why LISTEN won't work through `url`, or None when it should."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return None
    port = str(params.get("port") or "")
    host = str(params.get("host") or "")
    if port == "6543":
        return f"port 6543 on {host or 'the server'} is a transaction pooler"
    if str(params.get("options") or "").find("pgbouncer") >= 0 or "pgbouncer" in url.lower():
        return "the connection goes through PgBouncer"
    return None


# How often the listening thread looks at its stop event between notifications.
STOP_CHECK_SECONDS = 0.1


class Listener:
    """A thread that calls `on_wake` for every notification and after every reconnect."""

    def __init__(
        self,
        url: str,
        on_wake: Callable[[], None],
        stop: threading.Event,
        *,
        application_name: str = "vproc-listener",
        channel: str = CHANNEL,
    ) -> None:
        self.url = url
        self.on_wake = on_wake
        self.stop = stop
        self.application_name = application_name
        self.channel = channel
        self.connected = threading.Event()

    def run(self) -> None:
        """Listen until `stop` is set, reconnecting with backoff when the connection drops."""
        failures = 0
        ever_connected = False
        while not self.stop.is_set():
            try:
                with psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=10,
                    application_name=self.application_name[:63],
                ) as conn:
                    conn.execute(sql.SQL("listen {}").format(sql.Identifier(self.channel)))
                    self.connected.set()
                    if ever_connected:
                        logger.info("listener reconnected", extra={"event": "listener.reconnected"})
                    ever_connected = True
                    failures = 0
                    self.on_wake()  # anything that arrived while disconnected
                    while not self.stop.is_set():
                        # A short timeout: a stopping worker waits for this thread to end.
                        for _ in conn.notifies(timeout=STOP_CHECK_SECONDS):
                            self.on_wake()
            except psycopg.OperationalError as exc:
                self.connected.clear()
                failures += 1
                backoff = RECONNECT_BACKOFF.delay(failures)
                logger.warning(
                    "listener disconnected: %s; reconnecting in %.1fs",
                    error_line(exc),
                    backoff,
                    extra={"event": "listener.disconnected"},
                )
                self.stop.wait(backoff)
        self.connected.clear()
