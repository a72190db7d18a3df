"""`vproc run`: the worker daemon."""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from processor.config import Settings
from processor.errors import ConfigurationError
from processor.metrics import Metrics, serve
from processor.pipeline.contract import Pipeline
from processor.queue.worker import Worker, WorkerOptions, default_worker_id
from processor.services import Services

logger = logging.getLogger(__name__)

DEFAULT_PIPELINE = "processor.pipeline:make_pipeline"


def load_pipeline(spec: str, settings: Settings) -> Pipeline:
    """Import `module:attr`; call it with Settings if it is a factory, else use it as is."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--pipeline must look like module:attribute, not {spec!r}")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load pipeline {spec}: {exc}") from exc
    if isinstance(target, type) or not hasattr(target, "run"):
        target = target(settings)
    return target


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
    listen: bool,
    install_signal_handlers: bool = True,
    on_started: Callable[[Worker], None] | None = None,
) -> None:
    """Run a worker until stopped (SIGTERM/SIGINT), or with until_empty until the queue drains."""
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
    db = services.database(
        application_name=f"vproc-worker:{options.worker_id}",
        max_size=min(options.concurrency, 8) + 2,
    )
    metrics = Metrics()
    if pipeline_spec == DEFAULT_PIPELINE:
        from processor.ai.cache import AICache
        from processor.pipeline import make_pipeline

        cache = AICache(
            db.connection, ttl_seconds=settings.ai_cache_ttl_seconds, registry=metrics.registry
        )
        pipeline: Pipeline = make_pipeline(
            settings,
            cache=cache,
            observe_duration=lambda stage, seconds: metrics.stage_duration.labels(
                stage=stage
            ).observe(seconds),
        )
    else:
        pipeline = load_pipeline(pipeline_spec, settings)
    from processor.queue.cleanup import StorageCleanup

    cleanup = StorageCleanup(
        db,
        services.storage,
        videos_bucket=settings.videos_bucket,
        artifacts_bucket=settings.artifacts_bucket,
    )
    worker = Worker(db, pipeline, options, metrics=metrics, cleanup=cleanup)
    server = serve(metrics, metrics_port, worker.health) if metrics_port is not None else None
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
