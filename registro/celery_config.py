"""The Celery configuration and app factory shared by the worker and the API: Redis as
broker and result backend, the guide's settings.

The worker's app (``worker/celery_app.py``) loads the task module; the API builds its
own app here only to publish tasks and read results, so importing it builds nothing and
reads no settings.
"""

from __future__ import annotations

import logging

from celery import Celery

from registro import redis_clients
from registro.queue import QUEUE_NAME, TASK_NAME
from registro.settings import Settings, get_settings

log = logging.getLogger(__name__)

# key=value lines; task_id/numero_os are filled in by the worker's log filter on every
# line logged while a task runs, "-" otherwise.
LOG_FORMAT = ("ts=%(asctime)s level=%(levelname)s proc=%(processName)s "
              "task_id=%(task_id)s numero_os=%(numero_os)s logger=%(name)s msg=%(message)s")


def _broker_options(settings: Settings, sentinel: dict) -> dict:
    return {
        **sentinel,
        # Unacknowledged messages of a dead worker come back after this.
        "visibility_timeout": settings.broker_visibility_timeout_s,
        # kombu sweeps for such tasks every interval x throttle seconds (default 10 x
        # 10); throttle 1 makes the interval the only knob. A worker killed while
        # holding the sweep mutex blocks sweeps until the mutex expires.
        "unacked_restore_interval": settings.broker_restore_interval_s,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 60,
        "socket_connect_timeout": max(settings.redis_socket_timeout_s, 1.0),
    }


def celery_config(settings: Settings) -> dict:
    if settings.broker_visibility_timeout_s <= settings.task_time_limit_s:
        log.warning(
            "broker_visibility_timeout_s=%s is not above task_time_limit_s=%s: a long task "
            "may be redelivered while it still runs",
            settings.broker_visibility_timeout_s, settings.task_time_limit_s,
        )
    timeout = settings.redis_socket_timeout_s
    broker_url, result_backend = redis_clients.celery_urls(settings)
    sentinel = redis_clients.celery_sentinel_options(settings, max(timeout, 1.0))
    return {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "result_backend_transport_options": sentinel,
        "broker_transport_options": _broker_options(settings, sentinel),
        "broker_connection_retry_on_startup": True,
        "redis_socket_connect_timeout": max(timeout, 1.0),
        "redis_socket_timeout": 30.0,
        "result_expires": 7 * 24 * 3600,
        # A result (or a PROGRESS update) written while Redis restarts is retried
        # instead of failing the task: up to ~20 s of back-off (Celery's defaults).
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "result_extended": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": QUEUE_NAME,
        "task_routes": {TASK_NAME: {"queue": QUEUE_NAME}},
        "task_time_limit": settings.task_time_limit_s,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        # Nothing lost, nothing prefetched: ack after the task, requeue if the
        # process running it dies, take one long task at a time.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        "task_track_started": True,
        # Events for Flower (the guide's monitoring).
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # Publishing must not hang an API request when Redis is gone.
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 1, "interval_start": 0,
                                      "interval_step": 0.1, "interval_max": 0.2},
        "worker_hijack_root_logger": True,
        "worker_log_format": LOG_FORMAT,
        "worker_task_log_format": LOG_FORMAT,
    }


def make_celery(settings: Settings | None = None, *, include_tasks: bool = False) -> Celery:
    settings = settings or get_settings()
    app = Celery("registro", include=["registro.worker.tasks"] if include_tasks else [])
    app.conf.update(celery_config(settings))
    return app
