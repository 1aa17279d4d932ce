"""The guide's three endpoints, under /api/desenvolvimento (logic in ``api/lookup.py``).

Routes are thin: input validated by the declared patterns, one use case called, the
answer encoded once (pydantic's encoder; no second validation by ``response_model``,
which here only documents). Domain errors become HTTP in ``api/errors.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from registro.api import lookup
from registro.api.deps import ServicesDep
from registro.api.schemas import (
    BuscarOSResponse,
    ErrorBody,
    FallbackError,
    QueueStatus,
    ScrapingStatus,
)
from registro.api.security import Authorized
from registro.queue import NUMERO_OS_PATTERN, TASK_ID_PATTERN

router = APIRouter(prefix="/api/desenvolvimento", tags=["desenvolvimento"])

NumeroOS = Annotated[str, PathParam(description="OS number: 1 to 12 digits.",
                                    pattern=NUMERO_OS_PATTERN, examples=["12345"])]
TaskId = Annotated[str, PathParam(description="The task_id of a queued answer: "
                                  "'scraping_' and the OS number.",
                                  pattern=TASK_ID_PATTERN, examples=["scraping_12345"])]

JSON = "application/json"


def _error(description: str, model: type = ErrorBody, *, headers: dict | None = None
           ) -> dict[str, Any]:
    response: dict[str, Any] = {"model": model, "description": description}
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                "schema": {"type": "integer"}}}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "Always 'Bearer'.",
                                          "schema": {"type": "string"}}}
# What every authenticated route can answer besides its own statuses.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing, malformed or unknown 'Authorization: Bearer <key>'.",
                headers=_WWW_AUTHENTICATE),
    413: _error("Request body larger than REGISTRO_API_MAX_BODY_BYTES."),
    422: _error("A path or query parameter does not match its declared pattern or type; "
                "'detail' says which, as one line of text."),
    429: _error("More than REGISTRO_API_RATE_LIMIT_PER_MINUTE requests this minute for "
                "this key.", headers=_RETRY_AFTER),
}


def _json(body: bytes | str) -> Response:
    return Response(content=body, media_type=JSON)


@router.post(
    "/buscar-os-async/{numero_os}",
    operation_id="buscar_os_async",
    response_model=BuscarOSResponse,
    summary="Look up an OS: from the local database, else queue a scrape",
    responses={
        **COMMON_ERRORS,
        404: _error("Synchronous fallback only: the legacy system has no such OS "
                    "(reason not_found).", FallbackError),
        502: _error("Synchronous fallback only: the scrape failed for a permanent reason "
                    "(login_failed, profile_mismatch, invalid_data).", FallbackError),
        503: _error("Synchronous fallback only: every fallback slot busy (status 'busy'), or "
                    "a transient scrape failure.", FallbackError, headers=_RETRY_AFTER),
    },
)
async def buscar_os_async(
    numero_os: NumeroOS, caller: Authorized, services: ServicesDep,
    forcar: Annotated[bool, Query(description="Scrape again even if the OS is stored.")] = False,
) -> Response:
    await services.limiter.admit_or_skip(caller)
    return _json(await run_in_threadpool(
        lookup.lookup_os, services.stored_records, services.redis, services.celery,
        services.settings, services.fallback, numero_os, forcar=forcar))


@router.get(
    "/scraping-status/{task_id}",
    operation_id="scraping_status",
    response_model=ScrapingStatus,
    summary="Status of a scrape task created by this API",
    responses={
        **COMMON_ERRORS,
        404: _error("No task with this id was created by this API (or its record expired)."),
        503: _error("Redis, which holds task records and results, is unreachable.",
                    headers=_RETRY_AFTER),
    },
)
async def scraping_status(task_id: TaskId, caller: Authorized, services: ServicesDep
                          ) -> Response:
    status = await lookup.task_status(services.limiter, services.celery, caller, task_id)
    return _json(status.model_dump_json(exclude_none=True))


@router.get(
    "/queue-status",
    operation_id="queue_status",
    response_model=QueueStatus,
    summary="Tasks waiting and running, workers online",
    responses={401: COMMON_ERRORS[401], 413: COMMON_ERRORS[413], 429: COMMON_ERRORS[429]},
)
async def queue_status(caller: Authorized, services: ServicesDep) -> Response:
    status = await lookup.queue_status(services.limiter, caller,
                                       refresh_enabled=services.settings.refresh_enabled)
    return _json(status.model_dump_json(exclude_none=True))
