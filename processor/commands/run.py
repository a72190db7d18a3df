"""`vproc run`: the worker daemon."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from processor.metrics import serve
from processor.queue.assembly import build_worker
from processor.queue.worker import Worker, WorkerOptions, default_worker_id
from processor.services import Services

logger = logging.getLogger(__name__)


def run_worker(
    services: Services,
    *,
    concurrency: int | None,
    until_empty: bool,
    worker_id: str | None,
    shutdown_timeout: float,
    poll_interval: float,
    metrics_port: int | None,
    pipeline_spec: str,
    metrics_host: str = "127.0.0.1",
    listen: bool,
    install_signal_handlers: bool = True,
    on_started: Callable[[Worker], None] | None = None,
) -> None:
    """Run a worker until stopped (SIGTERM/SIGINT), or with until_empty until the queue drains.

    With `metrics_port`, /metrics and /healthz are served on `metrics_host:metrics_port`.
    """
    settings = services.settings
    options = WorkerOptions(
        worker_id=worker_id or default_worker_id(),
        concurrency=concurrency or settings.worker_concurrency,
        lease_seconds=settings.job_lease_seconds,
        max_attempts=settings.job_max_attempts,
        poll_interval=poll_interval,
        shutdown_timeout=shutdown_timeout,
        until_empty=until_empty,
        listen=listen,
    )
    worker = build_worker(services, options, pipeline_spec=pipeline_spec)
    server = (
        serve(worker.metrics, metrics_port, worker.health, host=metrics_host)
        if metrics_port is not None
        else None
    )
    if install_signal_handlers and threading.current_thread() is threading.main_thread():
        _install_signal_handlers(worker, shutdown_timeout)
    if on_started:
        on_started(worker)
    try:
        worker.run()
    finally:
        if server is not None:
            server.shutdown()


def _install_signal_handlers(worker: Worker, shutdown_timeout: float) -> None:
    received: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            logger.warning(
                "%s: finishing running jobs (up to %.0fs); send again to stop now",
                signal.Signals(signum).name,
                shutdown_timeout,
                extra={"event": "worker.stopping"},
            )
            worker.stop()
        else:
            logger.warning(
                "stopping now; unfinished jobs go back to the queue",
                extra={"event": "worker.stopping"},
            )
            worker.stop(immediate=True)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
