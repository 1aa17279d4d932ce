"""The lookup use cases behind the routes: database, queue claim, or bounded fallback.

No HTTP here: functions take injected clients, return the guide's answer models (or the
encoded ``found_existing`` answer) and raise the domain errors of ``api/errors.py``,
which ``install_error_handlers`` maps to statuses in one place.

The stored answer is read on the loop (SQLite) or in one threadpool hop; publishing a
task and the synchronous fallback stay synchronous (Celery's publisher, Selenium) and
run in the threadpool. The other two routes' hot reads, each one pipelined round trip
with the caller's limit, are ``api/task_status.py`` and ``api/queue_status.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

import redis
from anyio import to_thread
from celery import Celery
from redis.exceptions import RedisError

from registro import pipeline_state as state
from registro import publishing
from registro.api import metrics
from registro.api.errors import FallbackFailed, FallbackRejected
from registro.api.fallback import FallbackBusy, FallbackScrapers
from registro.api.schemas import (
    BuscarOSQueued,
    BuscarOSSyncScraped,
    Instructions,
)
from registro.api.security import Caller
from registro.api.stored_records import StoredAnswer
from registro.errors import ScrapeError
from registro.queue import (
    read_queue_depth,
    task_id_for,
)
from registro.records import scrape_result
from registro.settings import Settings

if TYPE_CHECKING:
    from registro.api.deps import Services

log = logging.getLogger("registro.api")

STATUS_PATH = "/api/desenvolvimento/scraping-status/{task_id}"


# --- POST buscar-os-async: the queue path (stored OS: api/stored_records.py) -----------

def estimated_time(client: redis.Redis, slots: int) -> str:
    depth = read_queue_depth(client).total
    best, worst = state.estimate_seconds(depth, slots, state.recent_mean_duration(client))
    return state.humanize_range(best, worst)


def _queued(numero_os: str, task_id: str, eta: str, *, already: bool) -> BuscarOSQueued:
    message = (f"OS {numero_os} já está na fila de processamento" if already
               else f"OS {numero_os} adicionada à fila de processamento")
    return BuscarOSQueued(message=message, task_id=task_id, estimated_time=eta, already_queued=already,
                  instructions=Instructions(check_status=STATUS_PATH.format(task_id=task_id)))


def enqueue(client: redis.Redis, celery: Celery, settings: Settings, numero_os: str,
            slots: int) -> BuscarOSQueued:
    """Claim the OS atomically (SET NX) and publish one task; a second caller gets the
    same task. Raises on Redis/broker errors (the caller falls back)."""
    task_id = task_id_for(numero_os)
    token = publishing.claim(client, settings, numero_os)
    if token is None:  # a lookup or a background refresh holds it: the same task
        metrics.DEDUPE_HITS.inc()
        return _queued(numero_os, task_id, estimated_time(client, slots), already=True)
    eta = estimated_time(client, slots)
    publishing.publish_claimed(client, celery, numero_os, token,
                               priority=publishing.USER_PRIORITY)
    metrics.ENQUEUED.inc()
    log.info("queued numero_os=%s task_id=%s", numero_os, task_id)
    return _queued(numero_os, task_id, eta, already=False)


def fallback(scrapers: FallbackScrapers, numero_os: str, cause: str) -> BuscarOSSyncScraped:
    """Scrape in this process (bounded), same answer shapes, ``via: sincrono``.

    Raises ``FallbackRejected`` beyond the bound or the legacy budget and
    ``FallbackFailed`` when the scrape ends in a classified error."""
    started = time.monotonic()
    try:
        # Redis just failed: no token to take (and no second timeout to wait for).
        scraped, ids = scrapers.run(numero_os, budget=cause != "redis_unavailable")
    except FallbackBusy as busy:
        metrics.FALLBACKS.labels(cause, "rate_limited" if busy.rate_limited
                                 else "rejected").inc()
        raise FallbackRejected(cause, busy.retry_after_s, rate_limited=busy.rate_limited
                               ) from None
    except ScrapeError as exc:
        metrics.FALLBACKS.labels(cause, "failure").inc()
        raise FallbackFailed(cause, exc) from exc
    finally:
        metrics.FALLBACK_IN_USE.inc(time.monotonic() - started)
    metrics.FALLBACKS.labels(cause, "success").inc()
    return BuscarOSSyncScraped(
        **dict(scrape_result(scraped, ids)), fallback_reason=cause,
        message=f"OS {numero_os} obtida diretamente do sistema legado",
    )


def queue_or_fallback(client: redis.Redis, celery: Celery, settings: Settings,
                      scrapers: FallbackScrapers, numero_os: str) -> BuscarOSQueued | BuscarOSSyncScraped:
    """The queue path when Redis and a worker are up; otherwise the bounded fallback."""
    try:
        n_workers, slots = state.workers_online(client)
    except RedisError as exc:
        log.warning("redis unavailable, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        return fallback(scrapers, numero_os, "redis_unavailable")
    if n_workers == 0:
        return fallback(scrapers, numero_os, "no_worker")
    try:
        return enqueue(client, celery, settings, numero_os, slots)
    except Exception as exc:  # noqa: BLE001 - Redis lost mid-way or publishing failed
        log.warning("enqueue failed, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        return fallback(scrapers, numero_os, "publish_failed")


def refresh(client: redis.Redis, celery: Celery, settings: Settings,
            numero_os: str) -> BuscarOSQueued | None:
    """Queue the refresh of a stale record through the same claim as any lookup (100
    stale callers, one task); None when the queue cannot take it (Redis down, no worker
    online): the stale record is answered anyway, never scraped synchronously."""
    try:
        n_workers, slots = state.workers_online(client)
        if n_workers == 0:
            return None
        return enqueue(client, celery, settings, numero_os, slots)
    except Exception as exc:  # noqa: BLE001 - Redis lost or publishing failed
        log.warning("refresh not queued numero_os=%s error=%s", numero_os, type(exc).__name__)
        return None


def queued_or_fallback_json(client: redis.Redis, celery: Celery, settings: Settings,
                            scrapers: FallbackScrapers, numero_os: str) -> bytes:
    return queue_or_fallback(client, celery, settings, scrapers, numero_os
                             ).model_dump_json().encode()


def _is_fresh(found: StoredAnswer, now: dt.datetime, max_idade: int | None) -> bool:
    return max_idade is None or found.age_s(now) <= max_idade


def stale_json(found: StoredAnswer, client: redis.Redis, celery: Celery, settings: Settings,
               numero_os: str, now: dt.datetime) -> bytes:
    """The stored record, ``desatualizado``, with the task refreshing it."""
    metrics.STALE_ANSWERS.inc()
    return found.encode(now, stale=True, refresh=refresh(client, celery, settings, numero_os))


async def buscar_os(services: Services, caller: Caller, numero_os: str, *, forcar: bool,
                    max_idade: int | None = None) -> bytes:
    """POST buscar-os-async: count the caller's request, then the one decision for every
    database: the stored OS (fresh: answered; older than ``max_idade`` seconds: answered
    at once, ``desatualizado``, with the task refreshing it), else a queued task or the
    fallback.

    Only where the stored read runs depends on the database. SQLite (a local file in WAL
    mode: readers never wait for the writer) is read on the event loop: a threadpool hop
    costs more than the whole read (measured in-process: 0.79 ms of CPU per
    found_existing through the threadpool, 0.42 ms on the loop). A networked database
    must not block the loop: its read takes a hop. Publishing and the fallback are
    synchronous (Celery's publisher, Selenium): always a hop."""
    await services.limiter.admit_or_skip(caller)
    stored, client, celery, settings = (services.stored_records, services.redis,
                                        services.celery, services.settings)
    if not forcar:
        found = (stored.found_existing(numero_os) if stored.reads_on_loop
                 else await to_thread.run_sync(stored.found_existing, numero_os))
        if found is not None:
            metrics.FOUND_EXISTING.inc()
            now = dt.datetime.now(dt.UTC)
            if _is_fresh(found, now, max_idade):
                return found.encode(now)
            return await to_thread.run_sync(stale_json, found, client, celery, settings,
                                            numero_os, now)
    return await to_thread.run_sync(queued_or_fallback_json, client, celery, settings,
                                    services.fallback, numero_os)
