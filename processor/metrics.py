"""Prometheus metrics and the health endpoint of a worker.

Each Worker owns one Metrics (its own registry: no global state). Label values are bounded:
stage, status, error_code; never job or user ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest


class Metrics:
    """The worker's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs_claimed = Counter("vproc_jobs_claimed_total", "Jobs claimed.", registry=r)
        self.jobs_completed = Counter("vproc_jobs_completed_total", "Jobs completed.", registry=r)
        self.jobs_failed = Counter(
            "vproc_jobs_failed_total", "Jobs failed for good.", ["error_code"], registry=r
        )
        self.jobs_retried = Counter(
            "vproc_jobs_retried_total", "Attempts failed and retried.", ["error_code"], registry=r
        )
        self.jobs_cancelled = Counter("vproc_jobs_cancelled_total", "Jobs cancelled.", registry=r)
        self.jobs_released = Counter(
            "vproc_jobs_released_total", "Jobs handed back at shutdown.", registry=r
        )
        self.leases_lost = Counter("vproc_leases_lost_total", "Claims lost mid-job.", registry=r)
        self.jobs_running = Gauge("vproc_jobs_running", "Jobs running in this worker.", registry=r)
        self.queue_depth = Gauge(
            "vproc_queue_jobs", "Jobs in the queue by status.", ["status"], registry=r
        )
        self.job_duration = Histogram(
            "vproc_job_duration_seconds",
            "Wall time of a job attempt.",
            buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.stage_duration = Histogram(
            "vproc_stage_duration_seconds",
            "Wall time of a pipeline stage.",
            ["stage"],
            buckets=(0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class AICacheMetrics:
    """The AI response cache's hit and miss counters, by kind (metadata, transcript).

    Registered in the worker's registry when the cache serves a worker, else in a private one.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.hits = Counter(
            "vproc_ai_cache_hits_total",
            "AI calls answered from the response cache.",
            ["kind"],
            registry=registry,
        )
        self.misses = Counter(
            "vproc_ai_cache_misses_total",
            "AI calls the response cache could not answer.",
            ["kind"],
            registry=registry,
        )

    def count(self, name: str, kind: str) -> int:
        """The current value of counter `name` (a full sample name) for `kind`."""
        return int(self.registry.get_sample_value(name, {"kind": kind}) or 0)


def serve(
    metrics: Metrics, port: int, is_healthy: Callable[[], tuple[bool, str]], host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz on host:port in a daemon thread; return the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                healthy, detail = is_healthy()
                self._send(200 if healthy else 503, (detail + "\n").encode(), "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="vproc-metrics", daemon=True).start()
    return server
