"""Prometheus metrics of the API, including the queue depth the operator scales on.

The queue gauges are read from Redis when /metrics is scraped (bounded timeouts),
so every API replica exports the same current figure.

Several API processes on one port (``registro up`` starts one per core) share their
counters through prometheus-client's multiprocess mode: ``registro up`` gives the API
its own ``PROMETHEUS_MULTIPROC_DIR``, and ``render`` then sums every process's samples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import redis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registro import pipeline_state as state
from registro.field_fill import FieldCounters
from registro.queue import read_queue_depth

disable_created_metrics()  # no *_created series: half the output, nothing lost
REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "registro_api_request_duration_seconds", "API request latency by route template.",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
ENQUEUED = Counter("registro_api_enqueued_total", "Scrape tasks published to the queue.",
                   registry=REGISTRY)
DEDUPE_HITS = Counter("registro_api_dedupe_hits_total",
                      "Lookups answered with an already queued or running task.",
                      registry=REGISTRY)
FOUND_EXISTING = Counter("registro_api_found_existing_total",
                         "Lookups answered from the local database.", registry=REGISTRY)
DB_BUSY_READS = Counter("registro_api_db_busy_reads_total",
                        "Stored-record reads that found SQLite locked on the event loop and "
                        "were read again in the threadpool.", registry=REGISTRY)
STALE_ANSWERS = Counter("registro_api_stale_answers_total",
                        "found_existing answers older than the caller's max_idade "
                        "(desatualizado: a refresh is queued when the queue can take it).",
                        registry=REGISTRY)
FALLBACKS = Counter(
    "registro_api_fallbacks_total",
    "Synchronous fallback scrapes by cause (redis_unavailable|no_worker|publish_failed) "
    "and outcome (success|rejected|rate_limited|failure).",
    ["cause", "outcome"], registry=REGISTRY,
)
FALLBACK_IN_USE = Counter("registro_api_fallback_seconds_total",
                          "Seconds spent in synchronous fallback scrapes.", registry=REGISTRY)
AUTH_FAILURES = Counter("registro_api_auth_failures_total", "Requests refused with 401.",
                        registry=REGISTRY)
RATE_LIMITED = Counter("registro_api_rate_limited_total", "Requests refused with 429.",
                       registry=REGISTRY)
# Filled schema fields of the fallback's saved reads (field drift, registro/field_fill.py).
FIELDS = FieldCounters(REGISTRY)


class QueueCollector(Collector):
    """registro_queue_depth, registro_queue_tasks{state}, registro_workers_online,
    registro_redis_up — read from Redis at scrape time."""

    def __init__(self) -> None:
        self.client_factory: Callable[[], redis.Redis] | None = None

    def collect(self):
        up = GaugeMetricFamily("registro_redis_up", "1 if the API reached Redis on this scrape.")
        depth = GaugeMetricFamily(
            "registro_queue_depth",
            "Scrape tasks waiting in Redis (every priority sub-queue) plus taken by a worker "
            "and not yet acknowledged. The operator scales on this.")
        tasks = GaugeMetricFamily("registro_queue_tasks", "Scrape tasks by state.",
                                  labels=["state"])
        workers = GaugeMetricFamily("registro_workers_online",
                                    "Workers with a live heartbeat in Redis.")
        slots = GaugeMetricFamily("registro_worker_slots_online",
                                  "Parallel scrapes the live workers can run.")
        scrape_time = GaugeMetricFamily("registro_queue_read_seconds",
                                        "Time to read the queue state from Redis.")
        started = time.perf_counter()
        try:
            if self.client_factory is None:
                raise redis.ConnectionError("no Redis client configured")
            client = self.client_factory()
            qd = read_queue_depth(client)
            n_workers, n_slots = state.workers_online(client)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        depth.add_metric([], qd.total)
        tasks.add_metric(["waiting"], qd.waiting)
        tasks.add_metric(["in_progress"], qd.in_progress)
        workers.add_metric([], n_workers)
        slots.add_metric([], n_slots)
        scrape_time.add_metric([], time.perf_counter() - started)
        yield from (up, depth, tasks, workers, slots, scrape_time)

    def describe(self):
        return []


QUEUE_COLLECTOR = QueueCollector()
REGISTRY.register(QUEUE_COLLECTOR)


def render() -> bytes:
    """The /metrics body: this process's registry, or every API process's samples."""
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not multiproc_dir:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    registry.register(QUEUE_COLLECTOR)
    return generate_latest(registry)
