"""Assemble a worker from Services: pool, metrics, AI cache, pipeline and the reaper's chores.

`vproc run` and `vproc demo` both build their worker here; running it (threads, signals, the
metrics server) is left to them.
"""

from __future__ import annotations

import importlib
from typing import Any

from processor.config import Settings
from processor.db.pool import Database
from processor.errors import ConfigurationError
from processor.metrics import Metrics
from processor.pipeline.contract import Pipeline
from processor.queue.chores import CACHE_PURGE_INTERVAL_SECONDS, CachePurge, Chores
from processor.queue.cleanup import StorageCleanup
from processor.queue.worker import Worker, WorkerOptions
from processor.services import Services

DEFAULT_PIPELINE = "processor.pipeline.build:make_pipeline"


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
    pipeline: Pipeline = target
    return pipeline


def build_worker(
    services: Services,
    options: WorkerOptions,
    *,
    db: Database | None = None,
    pipeline_spec: str = DEFAULT_PIPELINE,
    cache_purge_interval_seconds: float = CACHE_PURGE_INTERVAL_SECONDS,
) -> Worker:
    """Build a worker with its own Metrics; `db` defaults to a pool sized for its slots.

    The default pipeline answers AI calls from the AI cache and records stage durations; any
    pipeline's reaper works through the storage cleanup outbox and purges expired cache rows.
    Raises ConfigurationError when `pipeline_spec` cannot be loaded.
    """
    from processor.ai.cache import AICache

    settings = services.settings
    if db is None:
        db = services.database(
            application_name=f"vproc-worker:{options.worker_id}",
            max_size=min(options.concurrency, 8) + 2,
        )
    metrics = Metrics()
    cache = AICache(
        db.connection, ttl_seconds=settings.ai_cache_ttl_seconds, registry=metrics.registry
    )
    pipeline: Pipeline
    if pipeline_spec == DEFAULT_PIPELINE:
        from processor.pipeline.build import make_pipeline

        def observe_duration(stage: str, seconds: float) -> None:
            metrics.stage_duration.labels(stage=stage).observe(seconds)

        pipeline = make_pipeline(settings, cache=cache, observe_duration=observe_duration)
    else:
        pipeline = load_pipeline(pipeline_spec, settings)
    chores = Chores(
        StorageCleanup(
            db,
            services.storage,
            videos_bucket=settings.videos_bucket,
            artifacts_bucket=settings.artifacts_bucket,
        ),
        CachePurge(cache, interval_seconds=cache_purge_interval_seconds),
    )
    return Worker(db, pipeline, options, metrics=metrics, chores=chores)
