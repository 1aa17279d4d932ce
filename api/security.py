"""API keys (Bearer) and the per-key request limit.

The keys are hashed once, at start: a request costs one SHA-256 of the presented key and
one dict lookup, whatever the number of keys (the previous constant-time comparison
with each configured key grew with their number). The lookup compares SHA-256 digests,
never the keys: its timing tells nothing usable about a key.

The limit is a fixed one-minute window per key in Redis. Its INCR (and EXPIRE, on the
window's first request) run in the same Lua script as the route's own reads: one round
trip and one command per request.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.security import HTTPBearer
from redis.exceptions import RedisError

from registro import pipeline_state as state
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


# The per-key count, then the route's reads, in one script: one command to pack and one
# reply to parse instead of a pipeline of four to seven (measured in-process:
# scraping-status 0.53 -> see api/README.md). KEYS[1] is the count; ARGV[1] its TTL.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
"""
# KEYS[2..]: values read with one MGET.
_COUNT_AND_MGET = _COUNT + """
return {n, redis.call('MGET', unpack(KEYS, 2))}
"""
# KEYS[2 .. ARGV[3]+1]: the priority lists of the queue; then the unacked hash (both
# from ``registro.queue.depth_keys``: this script only reads them, the depth itself is
# ``QueueDepth.from_reads``), the set of worker names, and any further keys, read with
# one MGET. ARGV[2]: the heartbeat key
# prefix. Heartbeat keys are built here from the set's members (one Redis, not a
# cluster: keys need not be declared); a name whose heartbeat expired is removed from
# the set, as ``workers_online`` does.
_COUNT_AND_QUEUE = _COUNT + """
local lists = tonumber(ARGV[3])
local lengths = {}
for i = 2, lists + 1 do lengths[#lengths + 1] = redis.call('LLEN', KEYS[i]) end
local unacked = redis.call('HVALS', KEYS[lists + 2])
local workers = KEYS[lists + 3]
local names = redis.call('SMEMBERS', workers)
local beats = {}
for i, name in ipairs(names) do
  beats[i] = redis.call('GET', ARGV[2] .. name)
  if not beats[i] then redis.call('SREM', workers, name) end  -- expired: gone
end
local extra = {}
if #KEYS > lists + 3 then extra = redis.call('MGET', unpack(KEYS, lists + 4)) end
return {n, lengths, unacked, names, beats, extra}
"""


# A new OS: the count, then (within the limit) the claim-and-publish script of
# ``registro.pipeline_state`` on the remaining keys and arguments. ARGV[2]: the limit.
_COUNT_AND_ENQUEUE = _COUNT + """
if n > tonumber(ARGV[2]) then return {'rate_limited', n} end
local K, A = {unpack(KEYS, 2)}, {unpack(ARGV, 3)}
""" + state.ENQUEUE_BODY


@dataclass(frozen=True)
class QueueReads:
    lengths: list[int]  # of each priority list
    unacked: list[Any]  # values of the unacked hash
    names: list[Any]  # worker names
    heartbeats: list[Any]  # of each name, None when expired
    extra: list[Any]  # values of the extra keys


class RateLimiter:
    """Counts the caller's request and runs the route's reads in the same Lua script:
    one round trip, one command."""

    def __init__(self, client: aioredis.Redis, limit_per_minute: int) -> None:
        self.client = client
        self.limit = limit_per_minute
        self._count = client.register_script(_COUNT + "return n")
        self._count_and_mget = client.register_script(_COUNT_AND_MGET)
        self._count_and_queue = client.register_script(_COUNT_AND_QUEUE)
        self._count_and_enqueue = client.register_script(_COUNT_AND_ENQUEUE)

    def _window_key(self, caller: Caller) -> tuple[str, float]:
        now = time.time()
        return f"{RATE_PREFIX}{caller.key_id}:{int(now // RATE_WINDOW_S)}", now

    def _check(self, count: int, now: float) -> None:
        if count > self.limit:
            raise RateLimited(self.limit, max(1, int(RATE_WINDOW_S - now % RATE_WINDOW_S)))

    async def admit(self, caller: Caller) -> None:
        """Count the request. Raises ``RateLimited`` beyond the limit, and
        ``redis.RedisError`` when Redis cannot be reached."""
        key, now = self._window_key(caller)
        self._check(int(await self._count(keys=[key], args=[RATE_WINDOW_S + 1])), now)

    async def admit_mget(self, caller: Caller, keys: list[str]) -> list[Any]:
        """Count the request and read ``keys`` (one MGET), in one round trip."""
        key, now = self._window_key(caller)
        count, values = await self._count_and_mget(keys=[key, *keys],
                                                   args=[RATE_WINDOW_S + 1])
        self._check(int(count), now)
        return values

    async def admit_queue(self, caller: Caller, queue_keys: list[str], unacked_key: str,
                          workers_key: str, heartbeat_prefix: str,
                          extra_keys: tuple[str, ...] = ()) -> QueueReads:
        """Count the request and read the queue, the workers' heartbeats and
        ``extra_keys``, in one round trip."""
        key, now = self._window_key(caller)
        count, lengths, unacked, names, beats, extra = await self._count_and_queue(
            keys=[key, *queue_keys, unacked_key, workers_key, *extra_keys],
            args=[RATE_WINDOW_S + 1, heartbeat_prefix, len(queue_keys)])
        self._check(int(count), now)
        return QueueReads(lengths=lengths, unacked=unacked, names=names,
                          heartbeats=[b or None for b in beats], extra=extra)

    async def admit_enqueue(self, caller: Caller, call: state.EnqueueCall) -> state.Enqueued:
        """Count the request and, within the limit, run ``call`` (claim and publish a
        new OS's task): one round trip. Raises ``RateLimited`` beyond the limit (nothing
        claimed), and ``redis.RedisError`` when Redis cannot be reached."""
        key, now = self._window_key(caller)
        reply = await self._count_and_enqueue(keys=[key, *call.keys],
                                              args=[RATE_WINDOW_S + 1, self.limit, *call.args])
        if reply[0] in (b"rate_limited", "rate_limited"):
            self._check(int(reply[1]), now)
        return state.enqueued(reply)

    async def admit_or_skip(self, caller: Caller) -> None:
        """Count the request; without Redis the limit is not enforced (by design: the
        synchronous fallback has its own hard bound)."""
        try:
            await self.admit(caller)
        except RedisError:
            return


BEARER = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="One of the keys in REGISTRO_API_KEYS.")


def document_bearer(app: FastAPI) -> None:
    """Declare the Bearer scheme on every ``/api/`` operation of the OpenAPI document.

    The key is checked by the routes' one dependency (``deps.api_call``), not by a
    ``Security(...)`` sub-dependency: each dependency FastAPI resolves costs about 50 us
    of CPU per request (measured in-process on scraping-status: 0.40 ms with auth,
    services and scheme as three dependencies, 0.35 ms with one).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER.scheme_name] = jsonable_encoder(BEARER.model, by_alias=True,
                                                       exclude_none=True)
        for path, operations in document.get("paths", {}).items():
            if path.startswith("/api/"):
                for operation in operations.values():
                    operation["security"] = [{BEARER.scheme_name: []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
