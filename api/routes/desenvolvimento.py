"""The guide's three endpoints, under /api/desenvolvimento (logic in ``api/lookup.py``,
``api/task_status.py`` and ``api/queue_status.py``).

Routes are thin: input validated by the declared patterns, one use case called, the
answer encoded once (pydantic's encoder; no second validation by ``response_model``,
which here only documents). Domain errors become HTTP in ``api/errors.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from registro import evidence as bundles
from registro.api import evidence, history, lookup, queue_status, task_status
from registro.api.deps import ApiCallDep
from registro.api.schemas import (
    BuscarOSResponse,
    ErrorBody,
    Evidencia,
    FallbackError,
    HistoricoOS,
    QueueStatus,
    ScrapingStatus,
)
from registro.queue import NUMERO_OS_PATTERN, TASK_ID_PATTERN

router = APIRouter(prefix="/api/desenvolvimento", tags=["desenvolvimento"])

NumeroOS = Annotated[str, PathParam(description="OS number: 1 to 12 digits.",
                                    pattern=NUMERO_OS_PATTERN, examples=["12345"])]
TaskId = Annotated[str, PathParam(description="The task_id of a queued answer: "
                                  "'scraping_' and the OS number.",
                                  pattern=TASK_ID_PATTERN, examples=["scraping_12345"])]
EvidenciaId = Annotated[str, PathParam(description="The evidencia_id of a FAILURE answer: "
                                       "32 lowercase hex digits.",
                                       pattern=bundles.ID_PATTERN,
                                       examples=["3f2b9c0e8d7a4b1c9e6f5a4b3c2d1e0f"])]

JSON = "application/json"
MAX_AGE_S = 10 * 366 * 24 * 3600  # ten years: any bigger max_idade means the same


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
    numero_os: NumeroOS, call: ApiCallDep,
    forcar: Annotated[bool, Query(description="Scrape again even if the OS is stored.")] = False,
    max_idade: Annotated[int | None, Query(
        ge=0, le=MAX_AGE_S, description="Oldest stored record acceptable, in seconds since "
        "it was read (lido_em). An older stored OS is still answered at once, with "
        "desatualizado true and the task_id of its refresh (queued like any lookup: "
        "concurrent callers share one task). Absent: any stored record is fresh enough.",
        examples=[3600])] = None,
) -> Response:
    return _json(await lookup.buscar_os(call.services, call.caller, numero_os, forcar=forcar,
                                        max_idade=max_idade))


@router.get(
    "/historico/{numero_os}",
    operation_id="historico_os",
    response_model=HistoricoOS,
    summary="Changes later reads found in a stored OS, newest first",
    responses={
        **COMMON_ERRORS,
        404: _error("The OS is not stored in the local database (look it up first)."),
    },
)
async def historico_os(
    numero_os: NumeroOS, call: ApiCallDep,
    limite: Annotated[int, Query(ge=1, le=100, description="Changes per page.")] = 20,
    antes_de: Annotated[int | None, Query(
        ge=1, le=2**63 - 1, description="Only changes older than this id: the next page "
        "(proxima_pagina of the previous answer gives it).")] = None,
) -> Response:
    services = call.services
    await services.limiter.admit_or_skip(call.caller)
    page = await run_in_threadpool(history.history, services.settings.database_url,
                                   numero_os, limite, antes_de)
    return _json(page.model_dump_json())


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
async def scraping_status(task_id: TaskId, call: ApiCallDep) -> Response:
    services = call.services
    return _json(await task_status.task_status(services.limiter, services.celery,
                                               services.status_answers, call.caller, task_id))


@router.get(
    "/queue-status",
    operation_id="queue_status",
    response_model=QueueStatus,
    summary="Tasks waiting and running, workers online",
    responses={401: COMMON_ERRORS[401], 413: COMMON_ERRORS[413], 429: COMMON_ERRORS[429]},
)
async def get_queue_status(call: ApiCallDep) -> Response:
    services = call.services
    status = await queue_status.queue_status(services.limiter, call.caller,
                                             refresh_enabled=services.settings.refresh_enabled)
    return _json(status.model_dump_json(exclude_none=True))


# --- failure evidence (registro/evidence.py) -------------------------------------------

_EVIDENCE_404 = _error("No evidence with this id (never kept, or older than "
                       "REGISTRO_EVIDENCE_RETENTION_DAYS), or it lacks this part.")
_EVIDENCE_ERRORS = {**COMMON_ERRORS, 404: _EVIDENCE_404}
# A part is never rendered on the API's origin: stored pages are hostile input.
_PART_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "sandbox"}


def _binary(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}}},
        **_EVIDENCE_ERRORS}


@router.get(
    "/evidencias/{evidencia_id}",
    operation_id="evidencia",
    response_model=Evidencia,
    summary="The evidence of a failed scrape: reason, URL, title, step log, console, parts",
    responses=_EVIDENCE_ERRORS,
)
async def evidencia(evidencia_id: EvidenciaId, call: ApiCallDep) -> Response:
    services = call.services
    await services.limiter.admit_or_skip(call.caller)
    found = await run_in_threadpool(evidence.describe, services.settings.database_url,
                                    evidencia_id)
    return _json(found.model_dump_json())


@router.get(
    "/evidencias/{evidencia_id}/screenshot.png",
    operation_id="evidencia_screenshot",
    summary="The screenshot of the page the scrape failed on (password fields blanked)",
    response_class=Response,
    responses=_binary("image/png", "The PNG as captured."),
)
async def evidencia_screenshot(evidencia_id: EvidenciaId, call: ApiCallDep) -> Response:
    services = call.services
    await services.limiter.admit_or_skip(call.caller)
    data = await run_in_threadpool(evidence.part, services.settings.database_url,
                                   evidencia_id, bundles.SCREENSHOT)
    return Response(data, media_type="image/png", headers={
        **_PART_HEADERS,
        "Content-Disposition": f'inline; filename="evidencia-{evidencia_id}.png"'})


@router.get(
    "/evidencias/{evidencia_id}/page.html",
    operation_id="evidencia_html",
    summary="The HTML of the page the scrape failed on (and of its same-origin frames), "
            "redacted; as text, to download",
    response_class=Response,
    responses=_binary("text/plain", "The page's HTML as plain text (UTF-8), an attachment "
                      "under Content-Security-Policy: sandbox: never rendered here."),
)
async def evidencia_html(evidencia_id: EvidenciaId, call: ApiCallDep) -> Response:
    services = call.services
    await services.limiter.admit_or_skip(call.caller)
    data = await run_in_threadpool(evidence.part, services.settings.database_url,
                                   evidencia_id, bundles.PAGE)
    return Response(data, media_type="text/plain; charset=utf-8", headers={
        **_PART_HEADERS,
        "Content-Disposition": f'attachment; filename="evidencia-{evidencia_id}.html"'})
