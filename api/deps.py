"""Dependencies injected into the routes: settings, DB session, Redis, Celery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from registro.db import session_factory
from registro.settings import Settings, get_settings

# Dependencies that do no I/O are ``async def``: FastAPI runs them on the event loop
# instead of one threadpool hop each.


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


async def celery_dep(request: Request) -> Celery:
    return request.app.state.celery


def make_redis(settings: Settings) -> redis.Redis:
    """Bounded timeouts everywhere: a dead Redis costs one timeout, never a hang."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=2,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
    )
    return redis.Redis(connection_pool=pool)


SettingsDep = Annotated[Settings, Depends(settings_dep)]
SessionDep = Annotated[Session, Depends(db_session)]
RedisDep = Annotated[redis.Redis, Depends(redis_dep)]
CeleryDep = Annotated[Celery, Depends(celery_dep)]

__all__ = ["CeleryDep", "RedisDep", "SessionDep", "SettingsDep", "get_settings", "make_redis"]
