"""Probes for Kubernetes: liveness needs nothing; readiness needs the database."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from registro.api.deps import RedisDep, SessionDep
from registro.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True, summary="Liveness (no auth)")
async def healthz():
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="Readiness: database reachable (no auth)",
            responses={503: {"model": Health}})
def readyz(session: SessionDep, client: RedisDep):
    """Ready when the database answers. Redis is reported but not required: without
    it lookups are served by the synchronous fallback."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - any DB failure means not ready
        database = "unavailable"
    finally:
        session.close()
    try:
        client.ping()
        redis_state = "ok"
    except redis.RedisError:
        redis_state = "unavailable"
    body = Health(status="ready" if database == "ok" else "not_ready",
                  database=database, redis=redis_state)
    return JSONResponse(status_code=200 if database == "ok" else 503, content=body.model_dump())
