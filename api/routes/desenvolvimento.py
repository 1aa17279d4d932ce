"""The guide's three endpoints, under /api/desenvolvimento."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Annotated

import redis
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from registro.api import metrics
from registro.api.deps import CeleryDep, RedisDep, SessionDep, SettingsDep
from registro.api.fallback import FallbackBusy
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
from registro.api.security import Authorized
from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.queue import NUMERO_OS_RE, TASK_ID_PREFIX, TASK_NAME, read_queue_depth, task_id_for
from registro.records import find_os, public_data, to_scraped
from registro.worker import progress as state

log = logging.getLogger("registro.api")
router = APIRouter(prefix="/api/desenvolvimento", tags=["desenvolvimento"])

TASK_ID_RE = re.compile(rf"^{TASK_ID_PREFIX}[0-9]{{1,12}}$")
STATUS_PATH = "/api/desenvolvimento/scraping-status/{task_id}"

NumeroOS = Annotated[str, PathParam(description="OS number: 1 to 12 digits.", max_length=64)]


def check_numero_os(numero_os: str) -> str:
    if not NUMERO_OS_RE.fullmatch(numero_os):
        raise HTTPException(422,
                            detail="numero_os must be 1 to 12 digits (0-9)")
    return numero_os


def estimated_time(client: redis.Redis, slots: int) -> str:
    depth = read_queue_depth(client).total
    best, worst = state.estimate_seconds(depth, slots, state.recent_mean_duration(client))
    return state.humanize_range(best, worst)


def _fallback(request: Request, numero_os: str, cause: str):
    """Scrape in this process (bounded), same answer shapes, ``via: sincrono``."""
    scrapers = request.app.state.fallback
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


@router.post(
    "/buscar-os-async/{numero_os}",
    response_model=FoundExisting | Queued | SyncScraped,
    summary="Look up an OS: from the local database, else queue a scrape",
    responses={503: {"description": "Queue unavailable and fallback bound reached"}},
)
def buscar_os_async(
    numero_os: NumeroOS, request: Request, settings: SettingsDep, session: SessionDep,
    client: RedisDep, celery: CeleryDep, _caller: Authorized,
    forcar: Annotated[bool, Query(description="Scrape again even if the OS is stored.")] = False,
):
    check_numero_os(numero_os)
    try:
        row = None if forcar else find_os(session, numero_os)
        found = None if row is None else FoundExisting(
            message=f"OS {numero_os} já existe no sistema", data=public_data(to_scraped(row)))
    finally:
        # Give the connection back now, not after the response is sent: under
        # heavy load that would starve the pool. Nothing below needs the DB.
        session.close()
    if found is not None:
        metrics.FOUND_EXISTING.inc()
        return found

    task_id = task_id_for(numero_os)
    try:
        n_workers, slots = state.workers_online(client)
    except redis.RedisError as exc:
        log.warning("redis unavailable, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        return _fallback(request, numero_os, "redis_unavailable")
    if n_workers == 0:
        return _fallback(request, numero_os, "no_worker")

    try:
        token = secrets.token_hex(16)
        ttl = state.claim_ttl_s(settings.task_time_limit_s, settings.task_max_retries)
        if not state.try_claim(client, numero_os, token, ttl):
            metrics.DEDUPE_HITS.inc()
            return Queued(
                message=f"OS {numero_os} já está na fila de processamento", task_id=task_id,
                estimated_time=estimated_time(client, slots), already_queued=True,
                instructions=Instructions(check_status=STATUS_PATH.format(task_id=task_id)))
        eta = estimated_time(client, slots)
        celery.AsyncResult(task_id).forget()  # a previous run's result must not show
        state.clear_failure(client, task_id)
        state.record_task(client, task_id, numero_os)
        try:
            celery.send_task(TASK_NAME, kwargs={"numero_os": numero_os, "claim_token": token},
                             task_id=task_id)
        except Exception:
            state.release_claim(client, numero_os, token)
            raise
    except Exception as exc:  # noqa: BLE001 - Redis lost mid-way or publishing failed
        log.warning("enqueue failed, synchronous fallback numero_os=%s error=%s",
                    numero_os, type(exc).__name__)
        return _fallback(request, numero_os, "publish_failed")
    metrics.ENQUEUED.inc()
    log.info("queued numero_os=%s task_id=%s", numero_os, task_id)
    return Queued(message=f"OS {numero_os} adicionada à fila de processamento",
                  task_id=task_id, estimated_time=eta,
                  instructions=Instructions(check_status=STATUS_PATH.format(task_id=task_id)))


def _read_result(celery, task_id: str) -> tuple[str, object]:
    result = celery.AsyncResult(task_id)
    task_state = result.state
    try:
        info = result.info
    except Exception:  # noqa: BLE001 - an exception that cannot be rebuilt here
        info = None
    return task_state, info


@router.get("/scraping-status/{task_id}", response_model=TaskStatus,
            response_model_exclude_none=True,
            summary="Status of a scrape task created by this API")
def scraping_status(task_id: Annotated[str, PathParam(max_length=64)], client: RedisDep,
                    celery: CeleryDep, _caller: Authorized):
    if not TASK_ID_RE.fullmatch(task_id):
        raise HTTPException(422,
                            detail=f"task_id must be '{TASK_ID_PREFIX}' followed by 1 to 12 digits")
    try:
        record = state.read_task(client, task_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown task_id {task_id}")
        task_state, info = _read_result(celery, task_id)
        failure = state.read_failure(client, task_id) if task_state == "FAILURE" else None
    except redis.RedisError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="Redis unavailable",
                            headers={"Retry-After": "5"}) from None
    numero_os = record["numero_os"]
    base = {"task_id": task_id, "numero_os": numero_os}
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


@router.get("/queue-status", response_model=QueueStatus, response_model_exclude_none=True,
            summary="Tasks waiting and running, workers online")
async def queue_status(client: RedisDep, _caller: Authorized):
    def read():
        depth = read_queue_depth(client)
        n_workers, _slots = state.workers_online(client)
        return depth, n_workers

    try:
        depth, n_workers = await run_in_threadpool(read)
    except redis.RedisError:
        return QueueStatus(status="unavailable", celery_available=False,
                           message="Redis indisponível: buscas usam o modo síncrono",
                           queue_info=QueueInfo(active_tasks=0, scheduled_tasks=0,
                                                total_queue=0, workers_online=0))
    return QueueStatus(
        status="success", celery_available=n_workers > 0,
        queue_info=QueueInfo(active_tasks=depth.in_progress, scheduled_tasks=depth.waiting,
                             total_queue=depth.total, workers_online=n_workers))
