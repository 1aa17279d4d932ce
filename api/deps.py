"""Dependencies injected into the routes: settings, DB session, Redis, Celery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from registro.db import session_factory
from registro.settings import Settings, get_settings


def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def db_session(settings: Annotated[Settings, Depends(settings_dep)]) -> Iterator[Session]:
    with session_factory(settings.database_url)() as session:
        yield session


def redis_dep(request: Request) -> redis.Redis:
    return request.app.state.redis


def celery_dep(request: Request) -> Celery:
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

__all__ = ["SettingsDep", "SessionDep", "RedisDep", "CeleryDep", "get_settings", "make_redis"]
