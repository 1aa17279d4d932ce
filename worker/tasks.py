"""The scrape task: one OS, one browser session per worker process, progress as state.

``ScrapeTask`` is the Celery ``Task`` subclass (the shape Celery's task guide
recommends): the task body is the happy path, and the handlers do the bookkeeping.

- ``TransientScrapeError`` is retried by Celery (``autoretry_for``) with exponential
  backoff and jitter, at most ``task_max_retries`` times (``on_retry`` counts it); the
  last one fails with reason ``retries_exhausted``.
- ``PermanentScrapeError`` fails at once with its reason (``not_found``...).
- The soft time limit closes the browser session (the next task gets a fresh one)
  and fails with reason ``time_limit``.
- ``on_success``/``on_failure`` record the outcome's metrics, release the OS's claim and
  close the task record (see ``reconciler``); the final reason is written next to the
  task record in Redis for the API. The worker's runtime beside it: ``runtime.py``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import redis
from celery import Task, signals
from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded, TimeLimitExceeded

from registro import pipeline_state as state
from registro.errors import PermanentScrapeError, Reason, ScrapeError, TransientScrapeError
from registro.queue import TASK_NAME
from registro.records import scrape_result
from registro.settings import get_settings
from registro.worker import metrics, task_runs, webdriver_sessions
from registro.worker.celery_app import app
from registro.worker.ratelimit import legacy_limiter, refresh_limiter
from registro.worker.reconciler import FINAL_STATES
from registro.worker.runtime import redis_client  # and connects the runtime's signals

log = logging.getLogger("registro.worker.tasks")

# Custom state while a task runs; meta: progress (0-100), message, numero_os, step.
PROGRESS = "PROGRESS"

def _session_id(scraper: Any) -> str | None:
    browser = getattr(scraper, "browser", None)
    return getattr(getattr(browser, "driver", None), "session_id", None)


def _close_task(client: redis.Redis, task_id: str, numero_os: str,
                claim_token: str | None) -> None:
    """The task ended for good: release the OS's claim and close the task record."""
    state.release_claim(client, numero_os, claim_token)
    state.finish_task(client, task_id)


def _failure_reason(exc: BaseException, max_retries: int) -> tuple[str, str]:
    """(reason, message) of a task's final failure, from the Reason taxonomy."""
    if isinstance(exc, TransientScrapeError):  # autoretry gave up: every try failed
        return Reason.RETRIES_EXHAUSTED.value, f"{max_retries + 1} tries failed, last: {exc}"
    if isinstance(exc, ScrapeError):
        return exc.reason.value, exc.message
    if isinstance(exc, TimeLimitExceeded):  # the hard limit, seen by the main process
        limit = exc.args[0] if exc.args else get_settings().task_time_limit_s
        return Reason.TIME_LIMIT.value, f"hard time limit of {limit}s reached"
    return Reason.INTERNAL_ERROR.value, f"{type(exc).__name__}: {exc}"


class ScrapeTask(Task):
    """One browser session per pool process, reused across tasks; outcome bookkeeping
    in the handlers."""

    autoretry_for = (TransientScrapeError,)
    retry_backoff = True
    retry_backoff_max = 120
    retry_jitter = True

    @property
    def max_retries(self) -> int:
        """Read when a retry is decided (Task.retry), not when this module is imported."""
        return get_settings().task_max_retries

    def __init__(self) -> None:
        self._scraper: Any = None  # created on first use, in the pool process
        self._scraper_lock = threading.Lock()
        self._started = 0.0

    # --- the browser session ----------------------------------------------------
    def scraper(self) -> Any:
        with self._scraper_lock:
            if self._scraper is None:
                from registro.worker.scraper import Scraper

                self._scraper = Scraper(get_settings())
            return self._scraper

    def close_scraper(self) -> None:
        """Close this process's browser session (the next task starts a fresh one)."""
        with self._scraper_lock:
            scraper, self._scraper = self._scraper, None
        if scraper is None:
            return
        self._count_sessions(scraper)
        session_id = _session_id(scraper)
        try:
            scraper.close()
            webdriver_sessions.forget(webdriver_sessions.current_slot(), session_id)
        except Exception:
            log.warning("closing the browser session failed", exc_info=True)

    def _record_session(self) -> None:
        """As soon as the scraper has its session ("connected"), before any page: the
        process that replaces this one deletes it if this one is killed."""
        scraper = self._scraper
        session_id = _session_id(scraper)
        if not session_id:
            return
        slot = webdriver_sessions.current_slot()
        if webdriver_sessions.recorded_session(slot) != session_id:
            try:
                webdriver_sessions.record(slot, scraper.browser, get_settings().selenium_url)
            except OSError:
                log.warning("could not record the WebDriver session in %s", slot,
                            exc_info=True)

    def _count_sessions(self, scraper: Any) -> None:
        """Turn the scraper's new sessions since the last call into metric increments."""
        started, recycled = scraper.take_session_counts()
        metrics.BROWSER_SESSIONS_STARTED.inc(started)
        metrics.BROWSER_SESSIONS_RECYCLED.inc(recycled)

    # --- progress ------------------------------------------------------------------
    def report(self, numero_os: str, step: str, percent: float, message: str) -> None:
        if step == "connected":
            self._record_session()
        self.update_state(state=PROGRESS, meta={
            "progress": max(0, min(100, int(percent))), "message": message,
            "numero_os": numero_os, "step": step})

    def wait_for_budget(self, numero_os: str, *, refresh: bool = False) -> None:
        """One token of the global legacy budget. A refresh's first try got its refresh
        token from the scheduler; its retries take one more from the refresh bucket too,
        so refreshes stay within their share however often they retry."""
        settings = get_settings()
        limiters = [legacy_limiter(redis_client(), settings)]
        if refresh and self.request.retries > 0:
            limiters.insert(0, refresh_limiter(
                redis_client(), settings.legacy_rate_per_minute, settings.legacy_rate_burst,
                settings.refresh_budget_share))

        def on_wait(seconds: float) -> None:
            metrics.RATELIMIT_WAITS.inc()
            metrics.RATELIMIT_WAIT_SECONDS.inc(seconds)
            self.update_state(state=PROGRESS, meta={
                "progress": 1, "numero_os": numero_os, "step": "waiting_budget",
                "message": f"Aguardando limite de requisições ao sistema legado ({seconds:.1f}s)"})

        try:
            for limiter in limiters:
                limiter.acquire(max_wait_s=max(1.0, settings.task_soft_time_limit_s * 0.5),
                                on_wait=on_wait)
        except TimeoutError as exc:
            raise TransientScrapeError(Reason.RATE_LIMITED, str(exc)) from exc
        except redis.RedisError as exc:
            raise TransientScrapeError(Reason.RATE_LIMITED,
                                       f"rate limiter unavailable: {exc}") from exc

    def finished_before(self) -> bool:
        """Whether this task id already ended. Celery keeps a stored SUCCESS, but stores
        STARTED over a FAILURE before this run's body starts (``task_track_started``):
        the failure record (written before FAILURE, forgotten with it when the OS is
        published again) tells, and FAILURE is stored back for the callers."""
        if self.AsyncResult(self.request.id).state in FINAL_STATES:
            return True
        failure = state.read_failure(redis_client(), self.request.id)
        if failure is None:
            return False
        self.backend.mark_as_failure(
            self.request.id, PermanentScrapeError(Reason(failure["reason"]), failure["message"]),
            request=self.request, call_errbacks=False)
        return True

    # --- outcome handlers ---------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._started = time.monotonic()
        try:
            return super().__call__(*args, **kwargs)
        except (Retry, Ignore):
            raise
        except BaseException as exc:
            # Written here, before Celery stores FAILURE (it calls on_failure only
            # after): a caller that sees FAILURE always finds its reason.
            reason, message = _failure_reason(exc, self.max_retries)
            try:
                state.record_failure(redis_client(), self.request.id, reason, message,
                                     evidencia_id=getattr(exc, "evidence_id", None))
            except redis.RedisError:
                log.warning("could not record the failure reason of %s", self.request.id)
            raise
        finally:
            with contextlib.suppress(redis.RedisError):  # else it expires with the limit
                task_runs.run_ended(redis_client(), self.request.id, self.request.hostname)

    def _finish(self, outcome: str, reason: str) -> None:
        metrics.TASK_OUTCOMES.labels(outcome, reason).inc()
        if not self._started:  # the main process, after the hard limit killed the try
            log.info("scrape finished outcome=%s reason=%s", outcome, reason)
            return
        elapsed = time.monotonic() - self._started
        metrics.TASK_DURATION.labels(outcome).observe(elapsed)
        log.info("scrape finished outcome=%s reason=%s seconds=%.2f", outcome, reason, elapsed)

    def _end(self, task_id: str, kwargs: dict) -> None:
        try:
            _close_task(redis_client(), task_id, kwargs.get("numero_os", ""),
                        kwargs.get("claim_token"))
        except redis.RedisError as exc:
            # A Redis restart must not change the outcome; the reconciler closes the
            # task and releases its claim once it sees the stored result.
            log.warning("closing the task failed (%s); the reconciler will", exc)

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        self._finish("success", "ok")
        if kwargs.get("refresh"):
            metrics.REFRESH_COMPLETED.labels("success").inc()
        try:
            client = redis_client()
            state.record_duration(client, time.monotonic() - self._started)
            state.clear_failure(client, task_id)
        except redis.RedisError:
            log.warning("could not record the duration of %s", task_id)
        self._end(task_id, kwargs)

    def on_retry(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                 einfo: Any) -> None:
        reason = exc.reason.value if isinstance(exc, ScrapeError) else Reason.INTERNAL_ERROR.value
        metrics.LEGACY_ERRORS.labels(reason).inc()
        metrics.TASK_RETRIES.labels(reason).inc()
        self._finish("retry", reason)

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                   einfo: Any) -> None:
        reason, _message = _failure_reason(exc, self.max_retries)
        if isinstance(exc, ScrapeError) and exc.reason != Reason.TIME_LIMIT:
            metrics.LEGACY_ERRORS.labels(exc.reason.value).inc()
        if reason == Reason.INTERNAL_ERROR:
            log.error("unexpected error: %s", exc, exc_info=exc)
        self._finish("failure", reason)
        if kwargs.get("refresh"):
            metrics.REFRESH_COMPLETED.labels("failure").inc()
        self._end(task_id, kwargs)


@app.task(bind=True, base=ScrapeTask, name=TASK_NAME)
def scrape_os(self: ScrapeTask, numero_os: str, claim_token: str | None = None,
              refresh: bool = False, replaces_read_at: str | None = None) -> dict:
    """``refresh``: published by the background refresh (priority 9), not by a user.
    ``replaces_read_at``: a stale record's lido_em; a record read since is not re-read."""
    from registro.worker.scraper import scrape_and_save, stored_since

    settings = get_settings()
    if self.finished_before():
        # A redelivery of a run that did finish (its acknowledgement was lost with a
        # Redis restart, its worker died after storing the result, or it outran the
        # visibility timeout): nothing to redo. A new lookup of the OS forgets the old
        # result before publishing, so it never lands here.
        log.info("task already finished; redelivered message dropped")
        _close_task(redis_client(), self.request.id, numero_os, claim_token)
        raise Ignore()
    if holder := task_runs.running_elsewhere(
            redis_client(), self.request.id, self.request.hostname,
            ttl_s=settings.task_time_limit_s + 60, wait_live_s=2 * settings.worker_heartbeat_s):
        log.info("task running on %s; redelivered message dropped", holder)
        raise Ignore()
    if replaces_read_at and (since := stored_since(settings.database_url, numero_os,
                                                   replaces_read_at)):
        log.info("record read since the stale read it replaces; not scraped again")
        return {**since, "numero_os": numero_os}
    log.info("scrape started try=%s", self.request.retries + 1)

    def report(step: str, percent: float, message: str) -> None:
        self.report(numero_os, step, percent, message)

    try:
        report("queued", 1, "Aguardando vez no sistema legado...")
        self.wait_for_budget(numero_os, refresh=refresh)
        scraper = self.scraper()
        try:
            scraped, ids = scrape_and_save(scraper, settings.database_url, numero_os,
                                           progress=report, task_id=self.request.id)
        finally:
            self._count_sessions(scraper)
        for section, changed in ids.changes_by_section().items():
            metrics.RECORD_CHANGES.labels(section).inc(changed)
        metrics.FIELDS.count(scraped, scraper.profile.field_specs())
    except SoftTimeLimitExceeded:
        self.close_scraper()
        raise PermanentScrapeError(
            Reason.TIME_LIMIT, f"time limit of {settings.task_soft_time_limit_s}s reached"
        ) from None
    # numero_os and os_id ride along for Flower and the logs; the API reads ScrapeResult.
    return {**scrape_result(scraped, ids).model_dump(mode="json"),
            "numero_os": numero_os, "os_id": ids.os_id}


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
        _close_task(client, task_id, kwargs.get("numero_os", ""), kwargs.get("claim_token"))
    except redis.RedisError:
        log.warning("could not record the hard time limit of %s", task_id)


@signals.worker_process_shutdown.connect
def _on_process_shutdown(pid=None, **_kwargs):
    scrape_os.close_scraper()
    if pid:
        metrics.process_exited(pid)


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_kwargs):
    scrape_os.close_scraper()  # solo pool: the scraper lives in the main process
