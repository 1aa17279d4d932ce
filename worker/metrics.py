"""Prometheus metrics of the worker, safe with Celery's prefork pool.

Each pool process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode); the worker's main process serves them
all on ``REGISTRO_WORKER_METRICS_PORT``, next to the Kubernetes probes: ``/healthz``
(liveness: the main process answers, nothing else is checked) and ``/readyz``
(readiness: the check set with ``set_readiness``).

The directory: one already set (the chart sets one) is used as is; otherwise
``start()`` makes a private one when the worker starts (``worker_init``, in the main
process before the pool forks, so the pool inherits it) and ``stop()`` removes it at
shutdown. Importing this module makes nothing: each sample opens its file at first use,
in the directory set by then, and stays in memory if none is (task code run outside a
worker). The API never imports this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
    multiprocess,
    values,
)
from prometheus_client.exposition import ThreadingWSGIServer

from registro.field_fill import FieldCounters

_ENV = "PROMETHEUS_MULTIPROC_DIR"
_own_dir: tuple[str, int] | None = None  # (path, pid of its maker) if start() made it
# One file set per process (the class tracks the pid and reopens after a fork).
_mmaped = values.MultiProcessValue()


def multiproc_dir() -> str | None:
    return os.environ.get(_ENV) or None


def start() -> str:
    """The directory the pool writes to: the one set, else a new private one."""
    global _own_dir
    path = multiproc_dir()
    if path is None:
        path = tempfile.mkdtemp(prefix="registro-worker-prom-")
        os.environ[_ENV] = path  # the pool processes, forked later, inherit it
        _own_dir = (path, os.getpid())
    os.makedirs(path, exist_ok=True)
    for value in _defined:  # so /metrics shows every unlabelled metric from the start, at 0
        value.open()
    return path


def stop() -> None:
    """Remove the directory ``start()`` made (only in the process that made it)."""
    global _own_dir
    if _own_dir is not None and _own_dir[1] == os.getpid():
        shutil.rmtree(_own_dir[0], ignore_errors=True)
        if os.environ.get(_ENV) == _own_dir[0]:
            del os.environ[_ENV]
        _own_dir = None


class _DeferredValue:
    """prometheus_client's value of one sample, opened at first use rather than when the
    metric is defined: mmapped in ``PROMETHEUS_MULTIPROC_DIR`` if one is set by then,
    else in memory. Unlabelled metrics make their values at import, before the worker
    has a directory."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._args, self._kwargs = args, kwargs
        self._value: Any = None
        _defined.append(self)

    def open(self) -> Any:
        if self._value is None:
            cls = _mmaped if multiproc_dir() else values.MutexValue
            self._value = cls(*self._args, **self._kwargs)
        return self._value

    def inc(self, amount: float) -> None:
        self.open().inc(amount)

    def set(self, value: float, timestamp: float | None = None) -> None:
        self.open().set(value, timestamp)

    def set_exemplar(self, exemplar: Any) -> None:
        self.open().set_exemplar(exemplar)

    def get(self) -> float:
        return float(self.open().get())

    def get_exemplar(self) -> Any:
        return self.open().get_exemplar()


_defined: list[_DeferredValue] = []
# Replaces what prometheus_client chose when first imported (Celery's CLI may import it
# before us: Flower's command plugin does), before any metric is defined.
values.ValueClass = _DeferredValue

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
RECORD_CHANGES = Counter(
    "registro_record_changes_total",
    "Fields a save found changed against the stored record (one os_alteracao row each), "
    "by section: ordem_servico|cliente|equipamento.", ["section"])
LEGACY_ERRORS = Counter("registro_legacy_errors_total",
                        "Failed scrape tries by reason (transient and permanent).", ["reason"])
# Filled schema fields of every saved read (field drift, registro/field_fill.py).
FIELDS = FieldCounters()

# The background refresh (worker/refresh.py). The gauges are set by each worker's main
# process: the lease holder's real values, 0 on the others ("livemax": a query takes
# max() over the pods).
REFRESH_ENQUEUED = Counter("registro_refresh_enqueued_total",
                           "Refreshes of open OS published by the scheduler.")
REFRESH_SKIPPED = Counter(
    "registro_refresh_skipped_total",
    "Refresh passes cut short or OS passed over: reason budget (no refresh token), "
    "max_in_flight, claimed (a lookup holds the OS), publish_failed.", ["reason"])
REFRESH_COMPLETED = Counter("registro_refresh_completed_total",
                            "Refresh tasks finished, by outcome success|failure.", ["outcome"])
OPEN_RECORDS = Gauge("registro_open_records",
                     "Stored OS whose status is not closed (set by the scheduler leader).",
                     multiprocess_mode="livemax")
OPEN_RECORDS_OLDEST_AGE = Gauge(
    "registro_open_records_oldest_age_seconds",
    "Seconds since the least recently read open OS was read (set by the scheduler leader).",
    multiprocess_mode="livemax")
REFRESH_LEADER = Gauge("registro_refresh_scheduler_leader",
                       "1 on the worker holding the refresh scheduler's lease.",
                       multiprocess_mode="livemax")


Readiness = Callable[[], tuple[bool, str]]
def _not_started() -> tuple[bool, str]:
    return False, "starting"


_readiness: Readiness = _not_started  # set when the worker starts


def set_readiness(check: Readiness) -> None:
    """What /readyz reports: (ready, detail); the worker sets it when it starts."""
    global _readiness
    _readiness = check


def probes_and_metrics_app(metrics_app: Callable) -> Callable:
    """WSGI app: /healthz and /readyz, every other path the metrics."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"alive\n"]
        if path == "/readyz":
            ready, detail = _readiness()
            start_response("200 OK" if ready else "503 Service Unavailable",
                           [("Content-Type", "text/plain")])
            return [detail.encode() + b"\n"]
        return metrics_app(environ, start_response)

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # probes every few seconds would flood the worker log


def serve(port: int) -> object | None:
    """Serve every pool process's samples and the probes from the main process (port 0:
    disabled)."""
    if port <= 0:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=start())
    # all interfaces: Prometheus and the kubelet probe the pod from outside it
    server = make_server("0.0.0.0", port,  # noqa: S104
                         probes_and_metrics_app(make_wsgi_app(registry)),
                         ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="registro-metrics",
                     daemon=True).start()
    return server


def process_exited(pid: int) -> None:
    path = multiproc_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)
