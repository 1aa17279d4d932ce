"""The lookup use cases behind the routes: database, queue claim, or bounded fallback.

Functions here take injected clients and return the guide's answer models (or a
ready ``JSONResponse`` for the fallback's error answers); the routes stay thin.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

import redis
from celery import Celery
from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from registro import pipeline_state as state
from registro.api import metrics
from registro.api.fallback import FallbackBusy, FallbackScrapers
from registro.api.schemas import (
    FoundExisting,
    Instructions,
    Queued,
    QueueInfo,
    QueueStatus,
    ScrapeResult,
    SyncScraped,
    TaskStatus,
)
from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.queue import NUMERO_OS_RE, TASK_ID_PREFIX, TASK_NAME, read_queue_depth, task_id_for
from registro.records import find_os, public_data, to_scraped
from registro.settings import Settings

log = logging.getLogger("registro.api")

TASK_ID_RE = re.compile(rf"^{TASK_ID_PREFIX}[0-9]{{1,12}}$")
STATUS_PATH = "/api/desenvolvimento/scraping-status/{task_id}"


def check_numero_os(numero_os: str) -> str:
    if not NUMERO_OS_RE.fullmatch(numero_os):
        raise HTTPException(422, detail="numero_os must be 1 to 12 digits (0-9)")
    return numero_os


def check_task_id(task_id: str) -> str:
    if not TASK_ID_RE.fullmatch(task_id):
        raise HTTPException(
            422, detail=f"task_id must be '{TASK_ID_PREFIX}' followed by 1 to 12 digits")
    return task_id


def find_existing(session: Session, numero_os: str) -> FoundExisting | None:
    """The stored OS, if any. The connection goes back to the pool before returning:
    holding it until the response is sent starves the pool under heavy load."""
    try:
        row = find_os(session, numero_os)
        if row is None:
            return None
        return FoundExisting(message=f"OS {numero_os} já existe no sistema",
                             data=public_data(to_scraped(row)))
    finally:
        session.close()


def estimated_time(client: redis.Redis, slots: int) -> str:
    depth = read_queue_depth(client).total
    best, worst = state.estimate_seconds(depth, slots, state.recent_mean_duration(client))
    return state.humanize_range(best, worst)


def _queued(numero_os: str, task_id: str, eta: str, *, already: bool) -> Queued:
    message = (f"OS {numero_os} já está na fila de processamento" if already
               else f"OS {numero_os} adicionada à fila de processamento")
    return Queued(message=message, task_id=task_id, estimated_time=eta, already_queued=already,
                  instructions=Instructions(check_status=STATUS_PATH.format(task_id=task_id)))


def enqueue(client: redis.Redis, celery: Celery, settings: Settings, numero_os: str,
            slots: int) -> Queued:
    """Claim the OS atomically (SET NX) and publish one task; a second caller gets the
    same task. Raises on Redis/broker errors (the caller falls back)."""
    task_id = task_id_for(numero_os)
    token = secrets.token_hex(16)
    ttl = state.claim_ttl_s(settings.task_time_limit_s, settings.task_max_retries)
    if not state.try_claim(client, numero_os, token, ttl):
        metrics.DEDUPE_HITS.inc()
        return _queued(numero_os, task_id, estimated_time(client, slots), already=True)
    eta = estimated_time(client, slots)
    celery.AsyncResult(task_id).forget()  # a previous run's result must not show
    state.clear_failure(client, task_id)
    state.record_task(client, task_id, numero_os, token)
    try:
        celery.send_task(TASK_NAME, kwargs={"numero_os": numero_os, "claim_token": token},
                         task_id=task_id)
    except Exception:
        state.release_claim(client, numero_os, token)
        raise
    metrics.ENQUEUED.inc()
    log.info("queued numero_os=%s task_id=%s", numero_os, task_id)
    return _queued(numero_os, task_id, eta, already=False)


def fallback(scrapers: FallbackScrapers, numero_os: str, cause: str
             ) -> SyncScraped | JSONResponse:
    """Scrape in this process (bounded), same answer shapes, ``via: sincrono``."""
    started = time.monotonic()
    try:
        scraped, ids = scrapers.run(numero_os)
    except FallbackBusy:
        metrics.FALLBACKS.labels(cause, "rejected").inc()
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "10"},
            content={"status": "busy", "via": "sincrono", "fallback_reason": cause,
                     "message": "Fila indisponível e limite de scraping síncrono atingido; "
                                "tente novamente em instantes"})
    except PermanentScrapeError as exc:
        metrics.FALLBACKS.labels(cause, "failure").inc()
        code = 404 if exc.reason == Reason.NOT_FOUND else status.HTTP_502_BAD_GATEWAY
        return JSONResponse(status_code=code, content={
            "status": "error", "reason": exc.reason.value, "message": exc.message,
            "via": "sincrono", "fallback_reason": cause})
    except TransientScrapeError as exc:
        metrics.FALLBACKS.labels(cause, "failure").inc()
        return JSONResponse(status_code=503, headers={"Retry-After": "30"}, content={
            "status": "error", "reason": exc.reason.value, "message": exc.message,
            "via": "sincrono", "fallback_reason": cause})
    finally:
        metrics.FALLBACK_IN_USE.inc(time.monotonic() - started)
    metrics.FALLBACKS.labels(cause, "success").inc()
    return SyncScraped(
        message=f"OS {numero_os} obtida diretamente do sistema legado",
        data=public_data(scraped), cliente_id=ids.cliente_id,
        equipamento_id=ids.equipamento_id, scraped_fields=scraped.field_count(),
        fallback_reason=cause,
    )


def queue_or_fallback(client: redis.Redis, celery: Celery, settings: Settings,
                      scrapers: FallbackScrapers, numero_os: str
                      ) -> Queued | SyncScraped | JSONResponse:
    """The queue path when Redis and a worker are up; otherwise the bounded fallback."""
    try:
        n_workers, slots = state.workers_online(client)
    except redis.RedisError as exc:
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


def _read_result(celery: Celery, task_id: str) -> tuple[str, object]:
    result = celery.AsyncResult(task_id)
    task_state = result.state
    try:
        info = result.info
    except Exception:  # noqa: BLE001 - an exception that cannot be rebuilt here
        info = None
    return task_state, info


def task_status(client: redis.Redis, celery: Celery, task_id: str) -> TaskStatus:
    """PENDING / PROGRESS / SUCCESS / FAILURE of a task this API created (else 404)."""
    try:
        record = state.read_task(client, task_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown task_id {task_id}")
        task_state, info = _read_result(celery, task_id)
        failure = state.read_failure(client, task_id) if task_state == "FAILURE" else None
    except redis.RedisError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="Redis unavailable",
                            headers={"Retry-After": "5"}) from None
    base = {"task_id": task_id, "numero_os": record["numero_os"]}
    if task_state == "SUCCESS" and isinstance(info, dict):
        return TaskStatus(**base, status="SUCCESS", progress=100,
                          message="Scraping concluído com sucesso",
                          result=ScrapeResult.model_validate(info))
    if task_state == "FAILURE":
        failure = failure or {"reason": "internal_error", "message": str(info)}
        return TaskStatus(**base, status="FAILURE", progress=100, reason=failure["reason"],
                          message=f"Scraping falhou ({failure['reason']}): {failure['message']}")
    if task_state == "PROGRESS" and isinstance(info, dict):
        return TaskStatus(**base, status="PROGRESS", progress=int(info.get("progress", 0)),
                          message=str(info.get("message", "Executando scraping externo...")))
    if task_state == "STARTED":
        return TaskStatus(**base, status="PROGRESS", progress=1,
                          message="Scraping iniciado pelo worker")
    if task_state == "RETRY":
        return TaskStatus(**base, status="PROGRESS", progress=0,
                          message=f"Falha temporária, nova tentativa agendada: {info}")
    return TaskStatus(**base, status="PENDING", progress=0, message="Aguardando na fila")


def queue_status(client: redis.Redis) -> QueueStatus:
    """Waiting and running tasks and live workers, read from Redis (bounded timeouts)."""
    try:
        depth = read_queue_depth(client)
        n_workers, _slots = state.workers_online(client)
    except redis.RedisError:
        return QueueStatus(status="unavailable", celery_available=False,
                           message="Redis indisponível: buscas usam o modo síncrono",
                           queue_info=QueueInfo(active_tasks=0, scheduled_tasks=0,
                                                total_queue=0, workers_online=0))
    return QueueStatus(
        status="success", celery_available=n_workers > 0,
        queue_info=QueueInfo(active_tasks=depth.in_progress, scheduled_tasks=depth.waiting,
                             total_queue=depth.total, workers_online=n_workers))
