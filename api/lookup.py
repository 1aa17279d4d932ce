"""The lookup use cases behind the routes: database, queue claim, or bounded fallback.

No HTTP here: functions take injected clients, return the guide's answer models (or the
encoded ``found_existing`` answer) and raise the domain errors of ``api/errors.py``,
which ``install_error_handlers`` maps to statuses in one place.

The stored answer is read on the loop (SQLite) or in one threadpool hop. Queueing is one
Lua script on the event loop (``registro.publishing.new_task_call``: the caller's count,
workers online, claim, record, push and the estimate's reads in one round trip); only
the synchronous fallback (Selenium) runs in the threadpool. The other two routes' hot reads, each one
round trip with the caller's limit, are ``api/task_status.py`` and
``api/queue_status.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import TYPE_CHECKING

from anyio import to_thread
from redis.exceptions import RedisError, ResponseError

from registro import pipeline_state as state
from registro import publishing
from registro.api import metrics
from registro.api.errors import FallbackFailed, FallbackRejected, RateLimited
from registro.api.fallback import FallbackBusy, FallbackScrapers
from registro.api.schemas import (
    BuscarOSQueued,
    BuscarOSSyncScraped,
    Instructions,
)
from registro.api.security import Caller
from registro.api.stored_records import DatabaseBusy, StoredAnswer, StoredRecords
from registro.errors import ScrapeError
from registro.queue import task_id_for
from registro.records import scrape_result

if TYPE_CHECKING:
    from registro.api.deps import Services

log = logging.getLogger("registro.api")

STATUS_PATH = "/api/desenvolvimento/scraping-status/{task_id}"


# --- POST buscar-os-async: the queue path (stored OS: api/stored_records.py) -----------

def estimate_seconds(depth: int, slots: int, mean_duration_s: float) -> tuple[float, float]:
    """Best and worst case until a new task finishes: it waits for ``depth`` tasks
    spread over ``slots`` parallel scrapes, then runs for one duration."""
    slots = max(slots, 1)
    rounds_ahead = depth / slots
    best = mean_duration_s * (1 + math.floor(rounds_ahead))
    worst = mean_duration_s * (1 + math.ceil(rounds_ahead)) * 1.5
    return best, worst


def humanize_range(best_s: float, worst_s: float) -> str:
    """Portuguese, like the guide's "2-5 minutos"."""
    if worst_s < 90:
        return f"{max(1, round(best_s))}-{max(2, round(worst_s))} segundos"
    lo, hi = max(1, round(best_s / 60)), max(2, math.ceil(worst_s / 60))
    return f"{lo}-{max(hi, lo + 1)} minutos"


def _queued(numero_os: str, done: state.Enqueued) -> BuscarOSQueued:
    task_id = task_id_for(numero_os)
    already = done.outcome == "already"
    if already:  # a lookup or a background refresh holds the claim: the same task
        metrics.DEDUPE_HITS.inc()
        message = f"OS {numero_os} já está na fila de processamento"
    else:
        metrics.ENQUEUED.inc()
        log.info("queued numero_os=%s task_id=%s", numero_os, task_id)
        message = f"OS {numero_os} adicionada à fila de processamento"
    best, worst = estimate_seconds(done.depth.total, done.slots, done.mean_duration_s)
    return BuscarOSQueued(message=message, task_id=task_id, already_queued=already,
                          estimated_time=humanize_range(best, worst),
                          instructions=Instructions(
                              check_status=STATUS_PATH.format(task_id=task_id)))


async def enqueue(services: Services, numero_os: str, caller: Caller | None = None, *,
                  replaces_read_at: dt.datetime | None = None) -> BuscarOSQueued | None:
    """Claim the OS and publish its one task in one round trip on the event loop, with
    the ``caller``'s count when given (``RateLimited`` beyond it); a second caller gets
    the same task. None when no worker is online; raises on Redis errors (the caller
    falls back)."""
    call = publishing.new_task_call(services.celery, services.settings, numero_os,
                                    replaces_read_at=replaces_read_at)
    limiter = services.limiter
    done = (await limiter.admit_enqueue(caller, call) if caller is not None
            else await call.run_async(limiter.client))
    return None if done.outcome == "no_worker" else _queued(numero_os, done)


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


async def queue_or_fallback(services: Services, caller: Caller, numero_os: str) -> bytes:
    """The queue path when Redis and a worker are up; otherwise the bounded fallback
    (synchronous Selenium: in the threadpool). The caller is counted by the queue's
    script (without Redis the limit is not enforced: the fallback has its own bound)."""
    try:
        queued = await enqueue(services, numero_os, caller)
    except RateLimited:
        raise
    except ResponseError as exc:  # Redis answered but refused: full (OOM), read-only
        log.warning("redis refused the task, synchronous fallback numero_os=%s error=%s",
                    numero_os, exc)
        cause = "publish_failed"
    except RedisError as exc:
        log.warning("redis unavailable, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        cause = "redis_unavailable"
    except Exception as exc:  # noqa: BLE001 - building or publishing the task failed
        log.warning("enqueue failed, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        cause = "publish_failed"
    else:
        if queued is not None:
            return queued.model_dump_json().encode()
        cause = "no_worker"
    answer = await to_thread.run_sync(fallback, services.fallback, numero_os, cause)
    return answer.model_dump_json().encode()


async def refresh(services: Services, numero_os: str, read_at: dt.datetime
                  ) -> BuscarOSQueued | None:
    """Queue the refresh of a stale record through the same claim as any lookup (100
    stale callers, one task); None when the queue cannot take it (Redis down, no worker
    online): the stale record is answered anyway, never scraped synchronously. A caller
    that read the record (its ``read_at``) just before a refresh saved it may claim once
    that refresh has ended: its task finds the record read since and does not scrape."""
    try:
        return await enqueue(services, numero_os, replaces_read_at=read_at)
    except Exception as exc:  # noqa: BLE001 - Redis lost or publishing failed
        log.warning("refresh not queued numero_os=%s error=%s", numero_os, type(exc).__name__)
        return None


async def _read_stored(stored: StoredRecords, numero_os: str) -> StoredAnswer | None:
    if stored.reads_on_loop:
        try:
            return stored.found_existing(numero_os, on_loop=True)
        except DatabaseBusy:  # locked (a checkpoint): wait off the loop, rarely
            metrics.DB_BUSY_READS.inc()
    return await to_thread.run_sync(stored.found_existing, numero_os)


def _is_fresh(found: StoredAnswer, now: dt.datetime, max_idade: int | None) -> bool:
    return max_idade is None or found.age_s(now) <= max_idade


async def buscar_os(services: Services, caller: Caller, numero_os: str, *, forcar: bool,
                    max_idade: int | None = None) -> bytes:
    """POST buscar-os-async: the one decision for every database: the stored OS (fresh:
    answered; older than ``max_idade`` seconds: answered at once, ``desatualizado``, with
    the task refreshing it), else a queued task or the fallback. The caller is counted
    in the same round trip as the rest: a stored OS's count after its read (a
    rate-limited caller costs one indexed read), a new OS's in the queue's script.

    Only where the stored read runs depends on the database. SQLite (a local file in WAL
    mode: readers never wait for the writer) is read on the event loop: a threadpool hop
    costs more than the whole read (measured in-process: 0.79 ms of CPU per
    found_existing through the threadpool, 0.42 ms on the loop). A networked database
    must not block the loop: its read takes a hop. Queueing runs on the loop; the
    fallback (Selenium) takes a hop."""
    stored = services.stored_records
    if not forcar:
        found = await _read_stored(stored, numero_os)
        if found is not None:
            await services.limiter.admit_or_skip(caller)
            metrics.FOUND_EXISTING.inc()
            now = dt.datetime.now(dt.UTC)
            if _is_fresh(found, now, max_idade):
                return found.encode(now)
            metrics.STALE_ANSWERS.inc()  # answered now, refreshed by the task
            return found.encode(now, stale=True, refresh=await refresh(services, numero_os, found.lido_em))
    return await queue_or_fallback(services, caller, numero_os)
