"""The worker's runtime in its main process, beside the tasks: the heartbeat, the
reconciler, the refresh scheduler and the probe/metrics server. One ``WorkerRuntime``,
its settings injected, started by Celery's ``worker_ready`` signal and stopped by
``worker_shutting_down``; the metrics directory is made at ``worker_init`` and removed
at ``worker_shutdown``. Also this process's Redis client and the log filter that puts
the task id and OS number on every line.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any

import redis
from celery import Celery, signals
from celery.worker import state as worker_state

from registro import pipeline_state as state
from registro import publishing, redis_clients
from registro.queue import TASK_NAME, result_key
from registro.settings import Settings, get_settings
from registro.worker import metrics
from registro.worker.celery_app import app
from registro.worker.periodic import Periodic
from registro.worker.reconciler import Reconciler, held_ids
from registro.worker.refresh import RefreshScheduler

log = logging.getLogger("registro.worker.runtime")

# One client per process, never shared across a fork: a pool process forked while a
# thread of the main process (heartbeat, reconciler, refresh) held the client's pool lock
# inherits that lock held, and redis-py's reset after the fork then waits on it for ever
# (seen in CI: a replacement pool process hung until the hard time limit).
_clients: dict[int, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """This process's Redis client (the parent's stays referenced, never touched)."""
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients[os.getpid()] = redis_clients.sync_client(
            get_settings(), socket_timeout=10, socket_connect_timeout=5,
            health_check_interval=30)
    return client


def tasks_in_hand() -> list[str]:
    """Ids of the tasks this worker holds: reserved (prefetched) or running."""
    return sorted(set(held_ids(worker_state.reserved_requests))
                  | set(held_ids(worker_state.active_requests)))


class WorkerRuntime:
    """What runs beside the tasks in the worker's main process, for one worker."""

    def __init__(self, settings: Settings, app: Celery, client: redis.Redis, hostname: str,
                 concurrency: int) -> None:
        self.settings = settings
        self.app = app
        self.client = client
        self.hostname = hostname
        self.concurrency = concurrency
        self.last_heartbeat = 0.0  # time.monotonic() of the last heartbeat Redis accepted
        self.heartbeat = Periodic("heartbeat", self.beat, settings.worker_heartbeat_s, log)
        self.reconciler = Reconciler(
            client, self.republish, functools.partial(result_key, app.backend),
            interval_s=settings.reconcile_interval_s, grace_s=settings.reconcile_grace_s,
            claim_ttl_s=state.claim_ttl_s(settings.task_time_limit_s,
                                          settings.task_max_retries),
            holder=hostname)
        # every worker runs it; only the lease holder acts
        self.refresh = RefreshScheduler(client, settings, hostname, self.publish_refresh) \
            if settings.refresh_enabled else None

    def start(self) -> None:
        metrics.set_readiness(self.readiness)
        self.heartbeat.start()
        self.reconciler.start()
        if self.refresh is not None:
            self.refresh.start()
        port = self.settings.worker_metrics_port
        try:
            metrics.serve(port)
            log.info("worker ready hostname=%s concurrency=%s metrics_port=%s",
                     self.hostname, self.concurrency, port)
        except OSError as exc:
            log.warning("metrics port %s unavailable: %s", port, exc)

    def stop(self) -> None:
        """Stop advertising: the API stops counting this worker while it drains."""
        self.heartbeat.stop()
        self.reconciler.stop()
        if self.refresh is not None:
            self.refresh.stop()  # hands the lease over at once
        try:
            state.forget_worker(self.client, self.hostname)
        except redis.RedisError:
            pass

    def beat(self) -> None:
        try:
            state.heartbeat(self.client, self.hostname, self.concurrency,
                            self.settings.worker_heartbeat_s * 3, tasks_in_hand())
            self.last_heartbeat = time.monotonic()
        except redis.RedisError:
            log.warning("heartbeat to Redis failed")

    def readiness(self) -> tuple[bool, str]:
        """Ready (the pod's /readyz) while the API counts this worker online: not
        draining, and Redis accepted a heartbeat within the heartbeat's TTL."""
        if self.heartbeat.stopping:
            return False, "draining"
        age = time.monotonic() - self.last_heartbeat
        if age > self.settings.worker_heartbeat_s * 3:
            return False, f"no heartbeat accepted by Redis for {age:.0f} s"
        return True, "ready"

    def republish(self, task_id: str, numero_os: str, claim_token: str | None) -> None:
        record = state.read_task(self.client, task_id) or {}  # keeps a refresh's path
        self.app.send_task(TASK_NAME, kwargs=publishing.task_kwargs(
            numero_os, claim_token, refresh=bool(record.get("refresh"))),
            task_id=task_id, priority=int(record.get("priority") or 0))

    def publish_refresh(self, numero_os: str, claim_token: str) -> str:
        return publishing.publish_claimed(self.client, self.app, numero_os, claim_token,
                                          priority=publishing.REFRESH_PRIORITY, refresh=True)


_runtime: WorkerRuntime | None = None


@signals.worker_init.connect
def _on_worker_init(**_kwargs: Any) -> None:
    metrics.start()  # before the pool forks: its processes inherit the directory


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    global _runtime
    settings = get_settings()
    concurrency = getattr(getattr(sender, "controller", None), "concurrency", None) \
        or settings.worker_concurrency
    _runtime = WorkerRuntime(settings, app, redis_client(),
                             str(getattr(sender, "hostname", "worker")), int(concurrency))
    _runtime.start()


@signals.worker_shutting_down.connect
def _on_worker_shutting_down(**_kwargs: Any) -> None:
    if _runtime is not None:
        _runtime.stop()


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_kwargs: Any) -> None:
    metrics.stop()  # after the pool stopped: nothing writes there any more


# --- structured logs: task id and OS number on every line ----------------------------


class TaskContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from celery._state import get_current_task

        task = get_current_task()
        task_id, numero_os = "-", "-"
        if task is not None and task.request.id:
            task_id = task.request.id
            kwargs = task.request.kwargs or {}
            args = task.request.args or ()
            numero_os = kwargs.get("numero_os") or (args[0] if args else "-")
        if not hasattr(record, "task_id") or record.task_id in (None, "???"):
            record.task_id = task_id
        record.numero_os = numero_os
        return True


def _add_filter(logger: logging.Logger, **_kwargs: Any) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, TaskContextFilter) for f in handler.filters):
            handler.addFilter(TaskContextFilter())


signals.after_setup_logger.connect(_add_filter)
signals.after_setup_task_logger.connect(_add_filter)
