"""Domain errors of the API's use cases, and the one place that maps them to HTTP.

``lookup.py`` and ``security.py`` raise these; ``install_error_handlers`` turns each
into its status, headers and body. Every 4xx/5xx body of the guide's routes is one of
two shapes, both declared in the OpenAPI document: ``ErrorBody`` (``{"detail": "<text>"}``)
or, for the synchronous fallback, ``FallbackError``.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from registro.api import metrics
from registro.errors import Reason, ScrapeError


class ApiError(Exception):
    """A use-case failure with a plain-text ``detail``."""

    status_code: ClassVar[int] = 500
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or dict(self.default_headers)


class Unauthorized(ApiError):
    status_code = 401
    default_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class RateLimited(ApiError):
    status_code = 429

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(f"rate limit of {limit} requests per minute exceeded",
                         {"Retry-After": str(retry_after_s)})


class UnknownTask(ApiError):
    status_code = 404

    def __init__(self, task_id: str) -> None:
        super().__init__(f"unknown task_id {task_id}")


class UnknownOS(ApiError):
    """The OS is not stored in the local database (it may exist in the legacy system)."""

    status_code = 404

    def __init__(self, numero_os: str) -> None:
        super().__init__(f"OS {numero_os} is not stored")


class UnknownEvidence(ApiError):
    """No evidence bundle with this id (never kept, or past its retention), or the bundle
    lacks the part asked for."""

    status_code = 404

    def __init__(self, evidencia_id: str, part: str | None = None) -> None:
        super().__init__(f"evidence {evidencia_id} has no {part}" if part
                         else f"unknown evidence {evidencia_id}")


class StateUnavailable(ApiError):
    """Redis, which holds the task records and results, cannot be reached."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("Redis unavailable", {"Retry-After": "5"})


class FallbackFailed(Exception):
    """A synchronous fallback scrape ended in a classified scrape error."""

    def __init__(self, cause: str, error: ScrapeError) -> None:
        super().__init__(error.message)
        self.cause = cause
        self.error = error


class FallbackRejected(Exception):
    """Every fallback slot of this process is busy (the queue being unavailable), or
    (``rate_limited``) the global legacy budget has no token soon enough."""

    def __init__(self, cause: str, retry_after_s: int = 10, *,
                 rate_limited: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after_s = retry_after_s
        self.rate_limited = rate_limited


def validation_detail(exc: RequestValidationError) -> str:
    """FastAPI's error list as one line: ``path.numero_os: String should match ...``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, Unauthorized):
            metrics.AUTH_FAILURES.inc()
        elif isinstance(exc, RateLimited):
            metrics.RATE_LIMITED.inc()
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail},
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The API's 422 body has always been {"detail": "<text>"}; kept for its clients
        # and declared as such (ErrorBody) in the OpenAPI document.
        return JSONResponse(status_code=422, content={"detail": validation_detail(exc)})

    @app.exception_handler(FallbackRejected)
    async def fallback_rejected(_request: Request, exc: FallbackRejected) -> JSONResponse:
        message = ("Fila indisponível e limite global de requisições ao sistema legado "
                   "atingido; tente novamente em instantes" if exc.rate_limited else
                   "Fila indisponível e limite de scraping síncrono atingido; "
                   "tente novamente em instantes")
        return JSONResponse(
            status_code=503, headers={"Retry-After": str(exc.retry_after_s)},
            content={"status": "busy", "via": "sincrono", "fallback_reason": exc.cause,
                     "message": message})

    @app.exception_handler(FallbackFailed)
    async def fallback_failed(_request: Request, exc: FallbackFailed) -> JSONResponse:
        error = exc.error
        body = {"status": "error", "reason": error.reason.value, "message": error.message,
                "via": "sincrono", "fallback_reason": exc.cause}
        if error.evidence_id:
            body["evidencia_id"] = error.evidence_id
        if error.reason == Reason.NOT_FOUND:
            return JSONResponse(status_code=404, content=body)
        if error.transient:
            return JSONResponse(status_code=503, content=body, headers={"Retry-After": "30"})
        return JSONResponse(status_code=502, content=body)


__all__ = ["ApiError", "FallbackFailed", "FallbackRejected",
           "RateLimited", "StateUnavailable", "Unauthorized", "UnknownEvidence", "UnknownOS",
           "UnknownTask", "install_error_handlers"]
