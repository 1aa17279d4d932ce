"""Prometheus metrics of the worker, safe with Celery's prefork pool.

Each pool process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode); the worker's main process serves them
all on ``REGISTRO_WORKER_METRICS_PORT``. prometheus_client picks its value class
when first imported, and Celery's CLI may import it before us (Flower's command
plugin does), so this module sets the directory, then re-selects the value class.
The API never imports this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="registro-worker-prom-")
MULTIPROC_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(MULTIPROC_DIR, exist_ok=True)

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
    values,
)

# Already imported by someone else (e.g. Flower's Celery command plugin)? Then it
# chose in-memory values: switch to the multiprocess ones before creating metrics.
values.ValueClass = values.get_value_class()

TASK_DURATION = Histogram(
    "registro_task_duration_seconds", "Wall time of one scrape task try, by outcome.",
    ["outcome"], buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 240, 300, 600),
)
TASK_OUTCOMES = Counter(
    "registro_task_outcomes_total",
    "Finished task tries: outcome success|failure|retry, reason from registro.errors.Reason.",
    ["outcome", "reason"],
)
TASK_RETRIES = Counter("registro_task_retries_total", "Tries scheduled again, by reason.",
                       ["reason"])
BROWSER_SESSIONS_STARTED = Counter("registro_browser_sessions_started_total",
                                   "WebDriver sessions started by workers.")
BROWSER_SESSIONS_RECYCLED = Counter("registro_browser_sessions_recycled_total",
                                    "WebDriver sessions closed and replaced by workers.")
RATELIMIT_WAITS = Counter("registro_ratelimit_waits_total",
                          "Times a worker waited for the global legacy-site budget.")
RATELIMIT_WAIT_SECONDS = Counter("registro_ratelimit_wait_seconds_total",
                                 "Seconds workers spent waiting for the global budget.")
LEGACY_ERRORS = Counter("registro_legacy_errors_total",
                        "Failed scrape tries by reason (transient and permanent).", ["reason"])


def serve(port: int) -> object | None:
    """Serve every pool process's samples from the main process (port 0: disabled)."""
    if port <= 0:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    # all interfaces: Prometheus scrapes the pod from outside it
    server, _thread = start_http_server(port, addr="0.0.0.0", registry=registry)  # noqa: S104
    return server


def process_exited(pid: int) -> None:
    multiprocess.mark_process_dead(pid, MULTIPROC_DIR)


def cleanup() -> None:
    """Remove the samples directory if we created it ourselves."""
    if os.path.basename(MULTIPROC_DIR).startswith("registro-worker-prom-"):
        shutil.rmtree(MULTIPROC_DIR, ignore_errors=True)
