"""The guide's three endpoints, under /api/desenvolvimento (logic in ``api/lookup.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from registro.api import lookup, metrics
from registro.api.deps import CeleryDep, RedisDep, SessionDep, SettingsDep
from registro.api.schemas import FoundExisting, Queued, QueueStatus, SyncScraped, TaskStatus
from registro.api.security import Authorized

router = APIRouter(prefix="/api/desenvolvimento", tags=["desenvolvimento"])

NumeroOS = Annotated[str, PathParam(description="OS number: 1 to 12 digits.", max_length=64)]
TaskId = Annotated[str, PathParam(description="scraping_<numero_os>", max_length=64)]


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
    lookup.check_numero_os(numero_os)
    found = None if forcar else lookup.find_existing(session, numero_os)
    if found is not None:
        metrics.FOUND_EXISTING.inc()
        return found
    return lookup.queue_or_fallback(client, celery, settings, request.app.state.fallback,
                                    numero_os)


@router.get("/scraping-status/{task_id}", response_model=TaskStatus,
            response_model_exclude_none=True,
            summary="Status of a scrape task created by this API")
def scraping_status(task_id: TaskId, client: RedisDep, celery: CeleryDep, _caller: Authorized):
    lookup.check_task_id(task_id)
    return lookup.task_status(client, celery, task_id)


@router.get("/queue-status", response_model=QueueStatus, response_model_exclude_none=True,
            summary="Tasks waiting and running, workers online")
async def queue_status(client: RedisDep, _caller: Authorized):
    return await run_in_threadpool(lookup.queue_status, client)
