"""The scrape task: one OS, one browser session per worker process, progress as state.

Failure handling:
- ``TransientScrapeError`` is retried by Celery (``autoretry_for``) with exponential
  backoff and jitter, at most ``task_max_retries`` times; the last one fails with
  reason ``retries_exhausted``.
- ``PermanentScrapeError`` fails at once with its reason (``not_found``...).
- The soft time limit closes the browser session (the next task gets a fresh one)
  and fails with reason ``time_limit``.
The final reason is written next to the task record in Redis for the API.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

import redis
from celery import signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from registro import pipeline_state as state
from registro.errors import PermanentScrapeError, Reason, ScrapeError, TransientScrapeError
from registro.queue import TASK_NAME
from registro.records import public_data
from registro.settings import get_settings
from registro.worker import metrics
from registro.worker.celery_app import app
from registro.worker.ratelimit import GlobalRateLimiter

log = logging.getLogger("registro.worker.tasks")

_scraper = None  # one per worker process, created on first use
_scraper_lock = threading.Lock()


@lru_cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=10,
                                socket_connect_timeout=5, health_check_interval=30)


def get_scraper():
    global _scraper
    with _scraper_lock:
        if _scraper is None:
            from registro.worker.scraper import Scraper

            _scraper = Scraper(get_settings())
        return _scraper


def close_scraper() -> None:
    """Close this process's browser session (the next task starts a fresh one)."""
    global _scraper
    with _scraper_lock:
        scraper, _scraper = _scraper, None
    if scraper is not None:
        _count_sessions(scraper)
        try:
            scraper.close()
        except Exception:
            log.warning("closing the browser session failed", exc_info=True)


_seen_sessions = {"started": 0, "recycled": 0}


def _count_sessions(scraper) -> None:
    """Turn the scraper's counters into metric increments."""
    started = getattr(scraper, "sessions_started", 0)
    recycled = getattr(scraper, "sessions_recycled", 0)
    if started > _seen_sessions["started"]:
        metrics.BROWSER_SESSIONS_STARTED.inc(started - _seen_sessions["started"])
    if recycled > _seen_sessions["recycled"]:
        metrics.BROWSER_SESSIONS_RECYCLED.inc(recycled - _seen_sessions["recycled"])
    _seen_sessions["started"], _seen_sessions["recycled"] = started, recycled


def _wait_for_budget(task, numero_os: str) -> None:
    settings = get_settings()
    limiter = GlobalRateLimiter(redis_client(), settings.legacy_rate_per_minute,
                                settings.legacy_rate_burst)

    def on_wait(seconds: float) -> None:
        metrics.RATELIMIT_WAITS.inc()
        metrics.RATELIMIT_WAIT_SECONDS.inc(seconds)
        task.update_state(state="PROGRESS", meta={
            "progress": 1, "numero_os": numero_os,
            "message": f"Aguardando limite de requisições ao sistema legado ({seconds:.1f}s)"})

    try:
        limiter.acquire(max_wait_s=max(1.0, settings.task_soft_time_limit_s * 0.5),
                        on_wait=on_wait)
    except TimeoutError as exc:
        raise TransientScrapeError(Reason.RATE_LIMITED, str(exc)) from exc
    except redis.RedisError as exc:
        raise TransientScrapeError(Reason.RATE_LIMITED, f"rate limiter unavailable: {exc}") from exc


@app.task(
    bind=True, name=TASK_NAME,
    autoretry_for=(TransientScrapeError,), retry_backoff=True, retry_backoff_max=120,
    retry_jitter=True, max_retries=get_settings().task_max_retries,
)
def scrape_os(self, numero_os: str, claim_token: str | None = None) -> dict:
    from registro.worker.scraper import scrape_and_save

    settings = get_settings()
    client = redis_client()
    task_id = self.request.id
    started = time.monotonic()
    log.info("scrape started try=%s", self.request.retries + 1)

    def report(step: str, percent: float, message: str) -> None:
        self.update_state(state="PROGRESS", meta={
            "progress": max(0, min(100, int(percent))), "message": message,
            "numero_os": numero_os, "step": step})

    def finish(outcome: str, reason: str) -> None:
        elapsed = time.monotonic() - started
        metrics.TASK_DURATION.labels(outcome).observe(elapsed)
        metrics.TASK_OUTCOMES.labels(outcome, reason).inc()
        log.info("scrape finished outcome=%s reason=%s seconds=%.2f", outcome, reason, elapsed)

    try:
        report("queued", 1, "Aguardando vez no sistema legado...")
        _wait_for_budget(self, numero_os)
        scraper = get_scraper()
        scraped, ids = scrape_and_save(scraper, settings.database_url, numero_os,
                                       progress=report)
        _count_sessions(scraper)
    except SoftTimeLimitExceeded:
        close_scraper()
        finish("failure", Reason.TIME_LIMIT.value)
        message = f"time limit of {settings.task_soft_time_limit_s}s reached"
        state.record_failure(client, task_id, Reason.TIME_LIMIT.value, message)
        state.release_claim(client, numero_os, claim_token)
        raise PermanentScrapeError(Reason.TIME_LIMIT, message) from None
    except TransientScrapeError as exc:
        metrics.LEGACY_ERRORS.labels(exc.reason.value).inc()
        if _scraper is not None:
            _count_sessions(_scraper)
        if self.request.retries >= self.max_retries:
            finish("failure", Reason.RETRIES_EXHAUSTED.value)
            state.record_failure(client, task_id, Reason.RETRIES_EXHAUSTED.value,
                           f"{self.max_retries + 1} tries failed, last: {exc}")
            state.release_claim(client, numero_os, claim_token)
        else:
            finish("retry", exc.reason.value)
            metrics.TASK_RETRIES.labels(exc.reason.value).inc()
        raise
    except ScrapeError as exc:
        metrics.LEGACY_ERRORS.labels(exc.reason.value).inc()
        finish("failure", exc.reason.value)
        state.record_failure(client, task_id, exc.reason.value, exc.message)
        state.release_claim(client, numero_os, claim_token)
        raise
    except Exception as exc:
        finish("failure", "internal_error")
        state.record_failure(client, task_id, "internal_error", f"{type(exc).__name__}: {exc}")
        state.release_claim(client, numero_os, claim_token)
        log.exception("unexpected error")
        raise

    elapsed = time.monotonic() - started
    finish("success", "ok")
    state.record_duration(client, elapsed)
    state.clear_failure(client, task_id)
    state.release_claim(client, numero_os, claim_token)
    return {
        "status": "success",
        "numero_os": numero_os,
        "data": public_data(scraped),
        "cliente_id": ids.cliente_id,
        "equipamento_id": ids.equipamento_id,
        "os_id": ids.os_id,
        "scraped_fields": scraped.field_count(),
    }


@signals.task_failure.connect
def _on_hard_time_limit(sender=None, task_id=None, exception=None, kwargs=None, **_extra):
    """The hard limit kills the pool process: the main process records the failure
    and releases the claim, so the OS can be asked again at once."""
    if not isinstance(exception, TimeLimitExceeded) or not kwargs:
        return
    try:
        client = redis_client()
        state.record_failure(client, task_id, Reason.TIME_LIMIT.value,
                             f"hard time limit of {get_settings().task_time_limit_s}s reached")
        state.release_claim(client, kwargs.get("numero_os", ""), kwargs.get("claim_token"))
    except redis.RedisError:
        log.warning("could not record the hard time limit of %s", task_id)


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


def _add_filter(logger, **_kwargs):
    for handler in logger.handlers:
        if not any(isinstance(f, TaskContextFilter) for f in handler.filters):
            handler.addFilter(TaskContextFilter())


signals.after_setup_logger.connect(_add_filter)
signals.after_setup_task_logger.connect(_add_filter)


# --- worker life cycle: heartbeat, metrics port, browser shutdown -----------------------

_heartbeat_stop = threading.Event()
_last_heartbeat = 0.0  # time.monotonic() of the last heartbeat Redis accepted


def _heartbeat_loop(hostname: str, concurrency: int) -> None:
    global _last_heartbeat
    settings = get_settings()
    ttl = settings.worker_heartbeat_s * 3
    while not _heartbeat_stop.is_set():
        try:
            state.heartbeat(redis_client(), hostname, concurrency, ttl)
            _last_heartbeat = time.monotonic()
        except redis.RedisError:
            log.warning("heartbeat to Redis failed")
        _heartbeat_stop.wait(settings.worker_heartbeat_s)


def readiness() -> tuple[bool, str]:
    """Ready (the pod's /readyz) while the API counts this worker online: not draining,
    and Redis accepted a heartbeat within the heartbeat's TTL."""
    if _heartbeat_stop.is_set():
        return False, "draining"
    age = time.monotonic() - _last_heartbeat
    if age > get_settings().worker_heartbeat_s * 3:
        return False, f"no heartbeat accepted by Redis for {age:.0f} s"
    return True, "ready"


@signals.worker_ready.connect
def _on_worker_ready(sender=None, **_kwargs):
    settings = get_settings()
    hostname = getattr(sender, "hostname", "worker")
    concurrency = getattr(getattr(sender, "controller", None), "concurrency", None) \
        or settings.worker_concurrency
    _heartbeat_stop.clear()
    metrics.set_readiness(readiness)
    threading.Thread(target=_heartbeat_loop, args=(hostname, int(concurrency)),
                     name="registro-heartbeat", daemon=True).start()
    try:
        metrics.serve(settings.worker_metrics_port)
        log.info("worker ready hostname=%s concurrency=%s metrics_port=%s",
                 hostname, concurrency, settings.worker_metrics_port)
    except OSError as exc:
        log.warning("metrics port %s unavailable: %s", settings.worker_metrics_port, exc)


@signals.worker_shutting_down.connect
def _on_worker_shutting_down(sender=None, **_kwargs):
    # Stop advertising: the API stops counting this worker while it drains.
    _heartbeat_stop.set()
    try:
        state.forget_worker(redis_client(), str(sender))
    except redis.RedisError:
        pass


@signals.worker_process_shutdown.connect
def _on_process_shutdown(pid=None, **_kwargs):
    close_scraper()
    if pid:
        metrics.process_exited(pid)


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_kwargs):
    close_scraper()  # solo pool: the scraper lives in the main process
