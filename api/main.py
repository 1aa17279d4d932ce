"""The FastAPI application: ``uvicorn registro.api.main:app`` or ``registro api``."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from registro import publishing
from registro.api import metrics
from registro.api.deps import Services, make_async_redis, make_redis, open_async_pool
from registro.api.errors import install_error_handlers
from registro.api.fallback import FallbackScrapers
from registro.api.routes import desenvolvimento, health
from registro.api.security import ApiKeys, RateLimiter, document_bearer
from registro.api.stored_records import StoredRecords
from registro.api.task_status import StatusAnswers
from registro.celery_config import make_celery
from registro.settings import Settings, get_settings

log = logging.getLogger("registro.api")


class MissingApiKeys(RuntimeError):
    pass


class BodyLimitAndMetrics:
    """ASGI middleware: refuse bodies over the limit (413) and time every request by
    its route template (``/api/.../{numero_os}``, never the raw path)."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status_holder = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["code"] = message["status"]
            await send(message)

        try:
            declared = next((v for k, v in scope.get("headers") or () if k == b"content-length"),
                            None)
            if declared is not None and (not declared.isdigit()
                                         or int(declared) > self.max_body):
                await _too_large(self.max_body)(scope, receive, send_wrapper)
                return
            received = 0

            async def limited_receive():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise _BodyTooLarge()
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _BodyTooLarge:
                await _too_large(self.max_body)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.REQUEST_LATENCY.labels(scope.get("method", ""), template,
                                           str(status_holder["code"])).observe(
                time.perf_counter() - started)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(status_code=413,
                        content={"detail": f"request body larger than {limit} bytes"})


DESCRIPTION = ("Looks up service orders (OS): from the local database, else by a queued "
               "scrape of the legacy system (synchronous fallback when the queue is down). "
               "Every endpoint but health, docs and metrics needs "
               "`Authorization: Bearer <key>`.")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    api_keys = settings.api_key_list()
    if not api_keys:
        raise MissingApiKeys(
            "no API key configured: set REGISTRO_API_KEYS (comma-separated), "
            "or run `registro up`, which generates a local one")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The ~115,000 objects built at start (FastAPI, pydantic, Celery, SQLAlchemy)
        # never die; a full collection scanning them paused the process for 80 ms
        # (measured), a p99 spike for every request arriving meanwhile. Frozen, they are
        # never scanned again (a full collection then costs microseconds).
        app.openapi()
        # The first new-OS lookup imported Celery's Redis backend and kombu's transport
        # on the event loop (measured: 104 ms in-process, 270 ms served, every request
        # arriving meanwhile waiting): build one task call now (nothing is sent), and
        # open the stored records' connection.
        publishing.new_task_call(app.state.celery, settings, "0")
        with contextlib.suppress(Exception):  # no schema yet: /readyz says so
            app.state.stored_records.current_version("", on_loop=True)
        await open_async_pool(app.state.async_redis, settings.api_redis_async_connections)
        gc.collect()
        gc.freeze()
        yield
        app.state.fallback.close()
        app.state.redis.close()
        await app.state.async_redis.aclose()

    app = FastAPI(title="Registro API", description=DESCRIPTION, version="0.1.0",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.api_keys = ApiKeys(api_keys)
    app.state.redis = make_redis(settings)
    app.state.async_redis = make_async_redis(settings)
    app.state.limiter = RateLimiter(app.state.async_redis, settings.api_rate_limit_per_minute)
    app.state.stored_records = StoredRecords(settings.database_url,
                                             settings.api_record_cache_entries)
    app.state.celery = make_celery(settings)
    app.state.fallback = FallbackScrapers(settings, app.state.redis)
    app.state.services = Services(
        settings=settings, redis=app.state.redis, limiter=app.state.limiter,
        celery=app.state.celery, stored_records=app.state.stored_records,
        fallback=app.state.fallback, status_answers=StatusAnswers())
    metrics.QUEUE_COLLECTOR.client_factory = lambda: app.state.redis

    install_error_handlers(app)
    document_bearer(app)
    app.include_router(health.router)
    app.include_router(desenvolvimento.router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics():
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimitAndMetrics, max_body=settings.api_max_body_bytes)
    _allow_origins(app, settings.cors_origin_list())
    return app


def _allow_origins(app: FastAPI, origins: list[str]) -> None:
    """CORS, outermost, so 401/413/429/503 answers carry its headers too and a page can
    read their Retry-After. No cookies: the key travels in Authorization."""
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Retry-After"], max_age=600)


def app_factory() -> FastAPI:
    """For ``uvicorn --factory registro.api.main:app_factory``."""
    return create_app()
