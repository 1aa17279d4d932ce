"""The lookup use cases behind the routes: database, queue claim, or bounded fallback.

No HTTP here: functions take injected clients, return the guide's answer models (or the
encoded ``found_existing`` answer) and raise the domain errors of ``api/errors.py``,
which ``install_error_handlers`` maps to statuses in one place.

The hot reads (task status, queue status, the per-key limit) use the asyncio Redis
client, each in one pipelined round trip with the caller's rate-limit count. Publishing
a task and the synchronous fallback stay synchronous (Celery's publisher, Selenium) and
run in the threadpool; they are the rare paths.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import redis
from anyio import to_thread
from celery import Celery
from redis.exceptions import RedisError

from registro import pipeline_state as state
from registro import publishing
from registro.api import metrics
from registro.api.errors import FallbackFailed, FallbackRejected, StateUnavailable, UnknownTask
from registro.api.fallback import FallbackBusy, FallbackScrapers
from registro.api.schemas import (
    ETAPA_PATTERN,
    AtualizacaoAutomatica,
    BuscarOSQueued,
    BuscarOSSyncScraped,
    Instructions,
    QueueInfo,
    QueueStatus,
    ScrapeResult,
    ScrapingStatus,
)
from registro.api.security import Caller, RateLimiter
from registro.api.stored_records import StoredAnswer, StoredRecords
from registro.errors import Reason, ScrapeError
from registro.queue import (
    QUEUE_NAME,
    QueueDepth,
    depth_keys,
    read_queue_depth,
    task_id_for,
)
from registro.records import public_data
from registro.refresh_state import LEASE_KEY, STATUS_KEY, SchedulerStatus, holder_of
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
        message=f"OS {numero_os} obtida diretamente do sistema legado",
        data=public_data(scraped), cliente_id=ids.cliente_id,
        equipamento_id=ids.equipamento_id, scraped_fields=scraped.field_count(),
        lido_em=ids.lido_em, fallback_reason=cause,
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


def lookup_os(stored: StoredRecords, client: redis.Redis, celery: Celery, settings: Settings,
              scrapers: FallbackScrapers, numero_os: str, *, forcar: bool,
              max_idade: int | None = None) -> bytes:
    """The encoded answer of POST buscar-os-async: the stored OS, else a queued task (or
    the fallback). Synchronous, run in one threadpool hop: a miss goes on to its claim
    without a second hop, so concurrent first askers reach the claim sooner.

    A stored OS older than ``max_idade`` seconds is answered at once, ``desatualizado``,
    with the task refreshing it (stale-while-revalidate)."""
    if not forcar:
        found = stored.found_existing(numero_os)
        if found is not None:
            metrics.FOUND_EXISTING.inc()
            now = dt.datetime.now(dt.UTC)
            if _is_fresh(found, now, max_idade):
                return found.encode(now)
            return stale_json(found, client, celery, settings, numero_os, now)
    return queued_or_fallback_json(client, celery, settings, scrapers, numero_os)


async def buscar_os(services: Services, caller: Caller, numero_os: str, *, forcar: bool,
                    max_idade: int | None = None) -> bytes:
    """POST buscar-os-async: count the caller's request, then ``lookup_os``.

    On SQLite (a local file in WAL mode: readers never wait for the writer) the stored
    answer is read on the event loop and only a miss or a stale record (publishing is
    synchronous) goes to the threadpool: a hop costs more than the whole read (measured
    in-process: 0.79 ms of CPU per found_existing through the threadpool, 0.42 ms on the
    loop). A networked database must not block the loop: there the whole lookup takes
    one hop, as before."""
    await services.limiter.admit_or_skip(caller)
    stored = services.stored_records
    if forcar or not stored.reads_on_loop:
        return await to_thread.run_sync(functools.partial(
            lookup_os, stored, services.redis, services.celery, services.settings,
            services.fallback, numero_os, forcar=forcar, max_idade=max_idade))
    found = stored.found_existing(numero_os)
    if found is None:
        return await to_thread.run_sync(
            queued_or_fallback_json, services.redis, services.celery, services.settings,
            services.fallback, numero_os)
    metrics.FOUND_EXISTING.inc()
    now = dt.datetime.now(dt.UTC)
    if _is_fresh(found, now, max_idade):
        return found.encode(now)
    return await to_thread.run_sync(
        stale_json, found, services.redis, services.celery, services.settings, numero_os,
        now)


# --- GET scraping-status -----------------------------------------------------------------

_ETAPA = re.compile(ETAPA_PATTERN)


def _exception_text(info: object) -> str:
    return str(info) if info is not None else ""


def status_from_result(task_id: str, numero_os: str, meta: dict[str, Any] | None,
                       failure: dict[str, str] | None) -> ScrapingStatus:
    """The guide's status from Celery's decoded result meta (None: nothing stored yet)."""
    task_state = meta.get("status", "PENDING") if meta else "PENDING"
    info = meta.get("result") if meta else None
    base = {"task_id": task_id, "numero_os": numero_os}
    if task_state == "SUCCESS" and isinstance(info, dict):
        return ScrapingStatus(**base, status="SUCCESS", progress=100,
                          message="Scraping concluído com sucesso",
                          result=ScrapeResult.model_validate(info))
    if task_state == "FAILURE":
        failure = failure or {"reason": Reason.INTERNAL_ERROR.value, "message": _exception_text(info)}
        return ScrapingStatus(**base, status="FAILURE", progress=100, reason=failure["reason"],
                          message=f"Scraping falhou ({failure['reason']}): {failure['message']}",
                          evidencia_id=failure.get("evidencia_id"))
    if task_state == "PROGRESS" and isinstance(info, dict):
        step = info.get("step")
        return ScrapingStatus(**base, status="PROGRESS", progress=int(info.get("progress", 0)),
                          message=str(info.get("message", "Executando scraping externo...")),
                          etapa=step if isinstance(step, str) and _ETAPA.match(step) else None)
    if task_state == "STARTED":
        return ScrapingStatus(**base, status="PROGRESS", progress=1,
                          message="Scraping iniciado pelo worker", etapa="started")
    if task_state == "RETRY":
        return ScrapingStatus(**base, status="PROGRESS", progress=0,
                          message="Falha temporária, nova tentativa agendada: "
                                  f"{_exception_text(info)}", etapa="retrying")
    return ScrapingStatus(**base, status="PENDING", progress=0, message="Aguardando na fila")


class StatusAnswers:
    """Per-process LRU: task id -> (the raw Redis values it was built from, encoded answer).

    A finished task is polled until its caller stops; its answer (48 fields decoded,
    validated and encoded again) is rebuilt only when one of the raw values it came from
    changes, compared byte for byte. Event-loop only, so no lock."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._answers: OrderedDict[str, tuple[tuple[Any, ...], bytes]] = OrderedDict()

    def get(self, task_id: str, raw: tuple[Any, ...]) -> bytes | None:
        cached = self._answers.get(task_id)
        if cached is None or cached[0] != raw:
            return None
        self._answers.move_to_end(task_id)
        return cached[1]

    def put(self, task_id: str, raw: tuple[Any, ...], answer: bytes) -> None:
        self._answers[task_id] = (raw, answer)
        self._answers.move_to_end(task_id)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)


async def task_status(limiter: RateLimiter, celery: Celery, answers: StatusAnswers,
                      caller: Caller, task_id: str) -> bytes:
    """The encoded PENDING / PROGRESS / SUCCESS / FAILURE of a task this API created.

    One round trip: the caller's limit, the API's task record, Celery's result meta
    (read at the key Celery's own backend names, decoded by it) and the failure record.
    """
    backend = celery.backend
    try:
        raw = tuple(await limiter.admit_mget(
            caller, [state.TASK_PREFIX + task_id, backend.get_key_for_task(task_id).decode(),
                     state.FAILURE_PREFIX + task_id]))
    except RedisError as exc:
        log.warning("redis unavailable for scraping-status task_id=%s error=%s: %s",
                    task_id, type(exc).__name__, exc)
        raise StateUnavailable() from None
    record_raw, meta_raw, failure_raw = raw
    if record_raw is None:
        raise UnknownTask(task_id)
    cached = answers.get(task_id, raw)
    if cached is not None:
        return cached
    try:
        meta = backend.decode_result(meta_raw) if meta_raw else None
    except Exception:  # noqa: BLE001 - a result this process cannot rebuild
        meta = None
    failure = json.loads(failure_raw) if failure_raw else None
    answer = status_from_result(task_id, json.loads(record_raw)["numero_os"], meta, failure
                                ).model_dump_json(exclude_none=True).encode()
    answers.put(task_id, raw, answer)
    return answer


# --- GET queue-status ---------------------------------------------------------------------

_UNAVAILABLE = QueueStatus(status="unavailable", celery_available=False,
                           message="Redis indisponível: buscas usam o modo síncrono",
                           queue_info=QueueInfo(active_tasks=0, scheduled_tasks=0,
                                                total_queue=0, workers_online=0))


def refresh_status(enabled: bool, lease_raw: bytes | None, status_raw: bytes | None,
                   now: float) -> AtualizacaoAutomatica:
    """``atualizacao_automatica`` from the scheduler's lease and last pass in Redis."""
    status = SchedulerStatus.decode(status_raw)
    if status is None:
        return AtualizacaoAutomatica(habilitada=enabled, lider=holder_of(lease_raw))
    return AtualizacaoAutomatica(
        habilitada=enabled, lider=holder_of(lease_raw), ultima_execucao=status.last_run_iso(),
        atualizacoes_em_andamento=status.in_flight, registros_abertos=status.open_records,
        idade_mais_antiga_segundos=status.oldest_age_s(now))


async def queue_status(limiter: RateLimiter, caller: Caller, *,
                       refresh_enabled: bool = True) -> QueueStatus:
    """Waiting and running tasks, live workers and the background refresh: the caller's
    limit, the queue, the workers' heartbeats and the refresh scheduler's state in one
    round trip."""
    try:
        lists, unacked_key = depth_keys(QUEUE_NAME)
        reads = await limiter.admit_queue(
            caller, lists, unacked_key, state.WORKERS_KEY,
            state.HEARTBEAT_PREFIX, extra_keys=(LEASE_KEY, STATUS_KEY))
    except RedisError:
        return _UNAVAILABLE
    n_workers, _slots, _dead = state.count_heartbeats(state.worker_names(reads.names),
                                                      reads.heartbeats)
    depth = QueueDepth.from_reads(reads.lengths, reads.unacked, QUEUE_NAME)
    return QueueStatus(
        status="success", celery_available=n_workers > 0,
        queue_info=QueueInfo(active_tasks=depth.in_progress, scheduled_tasks=depth.waiting,
                             total_queue=depth.total, workers_online=n_workers),
        atualizacao_automatica=refresh_status(refresh_enabled, reads.extra[0], reads.extra[1],
                                              time.time()))
