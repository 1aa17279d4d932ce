"""API keys (Bearer) and the per-key request limit.

The keys are hashed once, at start: a request costs one SHA-256 of the presented key and
one dict lookup, whatever the number of keys (the previous constant-time comparison
with each configured key grew with their number). The lookup compares SHA-256 digests,
never the keys: its timing tells nothing usable about a key.

The limit is a fixed one-minute window per key in Redis. Its INCR and EXPIRE travel in
the same pipeline as the route's own reads (``admit``): one round trip per request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError

from registro.api.errors import RateLimited, Unauthorized

RATE_PREFIX = "registro:apirate:"
RATE_WINDOW_S = 60


def key_id(key: str) -> str:
    """A non-reversible name for a key (for Redis keys; keys themselves are never logged)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    key_id: str


class ApiKeys:
    """The configured keys, by SHA-256 digest."""

    def __init__(self, keys: list[str]) -> None:
        self._by_digest = {hashlib.sha256(k.encode()).digest(): Caller(key_id(k)) for k in keys}

    def caller(self, authorization: str) -> Caller:
        scheme, _, presented = authorization.partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("missing 'Authorization: Bearer <key>' header")
        digest = hashlib.sha256(presented.encode()).digest()
        caller = self._by_digest.get(digest)
        if caller is None:
            raise Unauthorized("invalid API key")
        return caller


class RateLimiter:
    """Counts the caller's request and runs ``reads`` in one Redis round trip."""

    def __init__(self, client: aioredis.Redis, limit_per_minute: int) -> None:
        self.client = client
        self.limit = limit_per_minute

    async def admit(self, caller: Caller,
                    reads: Callable[[Any], None] | None = None) -> list[Any]:
        """The results of ``reads`` (commands queued on the pipeline it is given).

        Raises ``RateLimited`` beyond the limit, and ``redis.RedisError`` when Redis
        cannot be reached (the caller decides: no limit without Redis, by design, since
        the synchronous fallback has its own hard bound)."""
        now = time.time()
        key = f"{RATE_PREFIX}{caller.key_id}:{int(now // RATE_WINDOW_S)}"
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, RATE_WINDOW_S + 1)
        if reads is not None:
            reads(pipe)
        count, _expire, *results = await pipe.execute()
        if count > self.limit:
            raise RateLimited(self.limit, max(1, int(RATE_WINDOW_S - now % RATE_WINDOW_S)))
        return results

    async def admit_or_skip(self, caller: Caller) -> None:
        """Count the request; without Redis the limit is not enforced."""
        try:
            await self.admit(caller)
        except RedisError:
            return


bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="One of the keys in REGISTRO_API_KEYS.")


async def authenticated(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Every guide route depends on this: no I/O, so it runs on the event loop.
    (``bearer`` declares the scheme in the OpenAPI document; the header is parsed here,
    so that every malformed form gets the same 401.)"""
    return request.app.state.api_keys.caller(request.headers.get("authorization", ""))


Authorized = Annotated[Caller, Depends(authenticated)]
