"""Dependencies injected into the routes: settings, Redis clients, Celery, stored records.

All of them are built once in ``create_app`` and handed out from ``app.state``; they do
no I/O, so they are ``async def`` (run on the event loop, not one threadpool hop each).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import redis
import redis.asyncio as aioredis
from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from registro import redis_clients
from registro.api.fallback import FallbackScrapers
from registro.api.security import Caller, RateLimiter
from registro.api.stored_records import StoredRecords
from registro.api.task_status import StatusAnswers
from registro.db import session_factory
from registro.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything the guide's routes use, built once in ``create_app``: one dependency
    per request instead of six (each resolved dependency costs time on every call)."""

    settings: Settings
    redis: redis.Redis  # sync: publishing and the fallback (threadpool)
    limiter: RateLimiter  # asyncio client: the hot reads and the per-key limit
    celery: Celery
    stored_records: StoredRecords
    fallback: FallbackScrapers
    status_answers: StatusAnswers


@dataclass(frozen=True)
class ApiCall:
    """The authenticated caller and the services: the one dependency of the guide's
    routes (each dependency FastAPI resolves costs about 50 us per request; see
    ``security.document_bearer`` for how the scheme is still documented)."""

    caller: Caller
    services: Services


async def api_call(request: Request) -> ApiCall:
    """No I/O, so it runs on the event loop. Every malformed or unknown key gets the
    same 401 (``Unauthorized``)."""
    state = request.app.state
    return ApiCall(state.api_keys.caller(request.headers.get("authorization", "")),
                   state.services)


async def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def db_session(settings: Annotated[Settings, Depends(settings_dep)]
                     ) -> AsyncIterator[Session]:
    """A session; it connects lazily, on the route's first query (in the threadpool)."""
    session = session_factory(settings.database_url)()
    try:
        yield session
    finally:
        session.close()


async def redis_dep(request: Request) -> redis.Redis:
    return request.app.state.redis


def make_redis(settings: Settings) -> redis.Redis:
    """Bounded timeouts everywhere: a dead Redis costs one timeout, never a hang."""
    return redis_clients.sync_client(
        settings, max_connections=settings.redis_max_connections, wait_s=2,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
    )


def make_async_redis(settings: Settings) -> aioredis.Redis:
    """The hot paths' client (event loop, no threadpool hop). An asyncio read timeout
    also counts the time the loop takes to get back to the reading task: at 1,000
    connections on the loaded 2-core machine, 0.5 s turned 953 of ~1,000 status reads
    into false 503s, hence its own, longer read timeout (1 s: queue-status stays under 2 s when Redis
    accepts connections but never answers)."""
    # A bounded pool: a burst of requests waits for a connection instead of opening
    # hundreds of new ones, each a connect under the 0.5 s connect timeout (paced
    # 500-user bursts: 754 false 503s with an unbounded pool). The wait is queueing, not
    # a Redis failure: with a 2 s wait, 1,000 wrk connections got 1,396 false 503s; each
    # connection is held at most one read timeout, so the wait stays bounded. No CLIENT
    # SETINFO on connect: two fewer round trips per new connection.
    return redis_clients.async_client(
        settings, max_connections=settings.api_redis_async_connections, wait_s=30,
        socket_timeout=settings.api_redis_read_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        lib_name=None, lib_version=None,
    )


async def open_async_pool(client: aioredis.Redis, connections: int) -> int:
    """Open the asyncio pool's connections at start (one PING each, at once): the first
    burst after a start or a rollout then finds them, instead of opening them on the
    event loop (bench_e2e's opening 100 posts waited 110-165 ms for that). How many
    opened; 0 when Redis is down (the requests open them later)."""
    results = await asyncio.gather(*(client.ping() for _ in range(connections)),
                                   return_exceptions=True)
    return sum(1 for r in results if r is True)


ApiCallDep = Annotated[ApiCall, Depends(api_call)]
SessionDep = Annotated[Session, Depends(db_session)]
RedisDep = Annotated[redis.Redis, Depends(redis_dep)]

__all__ = ["ApiCall", "ApiCallDep", "RedisDep", "Services", "SessionDep", "make_async_redis",
           "make_redis", "open_async_pool"]
