"""API keys (Bearer) and the per-key request limit."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Request, status

from registro.api import metrics
from registro.api.deps import RedisDep, SettingsDep

RATE_PREFIX = "registro:apirate:"


def key_id(key: str) -> str:
    """A non-reversible name for a key (for Redis keys; keys themselves are never logged)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _unauthorized(message: str) -> HTTPException:
    metrics.AUTH_FAILURES.inc()
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message,
                         headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(request: Request, settings: SettingsDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("missing 'Authorization: Bearer <key>' header")
    presented_b = presented.strip().encode()
    matched = None
    for key in request.app.state.api_keys:  # compare with every key, in constant time
        if hmac.compare_digest(presented_b, key.encode()) and matched is None:
            matched = key
    if matched is None:
        raise _unauthorized("invalid API key")
    return key_id(matched)


def rate_limit(client: RedisDep, settings: SettingsDep,
               caller: Annotated[str, Depends(require_api_key)]) -> str:
    """Fixed one-minute window per key in Redis. If Redis is unreachable the limit is
    not enforced (the synchronous fallback has its own hard bound)."""
    window = int(time.time() // 60)
    key = f"{RATE_PREFIX}{caller}:{window}"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 61)
        count, _ = pipe.execute()
    except redis.RedisError:
        return caller
    if count > settings.api_rate_limit_per_minute:
        metrics.RATE_LIMITED.inc()
        retry_after = max(1, int(60 - time.time() % 60))
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            detail=f"rate limit of {settings.api_rate_limit_per_minute} "
                                   "requests per minute exceeded",
                            headers={"Retry-After": str(retry_after)})
    return caller


Authorized = Annotated[str, Depends(rate_limit)]
