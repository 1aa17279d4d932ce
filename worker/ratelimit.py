"""One global budget of requests to the legacy system, shared by every reader.

Celery's ``rate_limit`` (the guide's ``10/h``) is enforced by each worker on its
own, so N workers make N times the traffic. This token bucket lives in Redis and
is updated by one Lua script (atomic on the server, clock from Redis ``TIME``),
so the budget holds however many workers the operator starts. The workers, the API's
synchronous fallback and ``registro scrape`` all take their token here
(``legacy_limiter``): this module is the only owner of the bucket's key and script.
"""

from __future__ import annotations

import math
import time

import redis

from registro import redis_clients
from registro.settings import Settings

BUCKET_KEY = "registro:ratelimit:legacy"

# KEYS[1] bucket hash; ARGV[1] tokens per second, ARGV[2] capacity.
# Returns 0 when a token was taken, else the milliseconds until one is available.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return wait_ms
"""


class BudgetExhausted(TimeoutError):
    """No token within the caller's bound; ``retry_after_s``: when one is expected."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GlobalRateLimiter:
    def __init__(self, client: redis.Redis, per_minute: float, burst: int,
                 key: str = BUCKET_KEY):
        self._script = client.register_script(_TOKEN_BUCKET)
        self.rate_per_s = per_minute / 60.0
        self.burst = burst
        self.key = key

    def try_acquire(self) -> float:
        """Take a token if one is there; else return the seconds to wait."""
        wait_ms = int(self._script(keys=[self.key], args=[self.rate_per_s, self.burst]))
        return wait_ms / 1000.0

    def acquire(self, max_wait_s: float, on_wait=None) -> float:
        """Block until a token is taken; returns the seconds waited.

        Raises ``BudgetExhausted`` (a ``TimeoutError``) if it would take longer than
        ``max_wait_s``. ``on_wait(seconds)`` is called before each sleep (metrics, progress).
        """
        started = time.monotonic()
        while True:
            wait_s = self.try_acquire()
            if wait_s <= 0:
                return time.monotonic() - started
            if time.monotonic() - started + wait_s > max_wait_s:
                raise BudgetExhausted(f"legacy rate limit: no token within {max_wait_s:.0f}s",
                                      retry_after_s=wait_s)
            if on_wait is not None:
                on_wait(wait_s)
            time.sleep(wait_s)


def legacy_limiter(client: redis.Redis, settings: Settings) -> GlobalRateLimiter:
    """The global bucket (``REGISTRO_LEGACY_RATE_PER_MINUTE``, ``_BURST``) that every
    reader of the legacy system draws one token from before each scrape."""
    return GlobalRateLimiter(client, settings.legacy_rate_per_minute,
                             settings.legacy_rate_burst)


def draw_if_reachable(settings: Settings, max_wait_s: float, on_wait=None) -> bool:
    """One token of the global budget for a process without a Redis client of its own
    (``registro scrape``): True once taken; False, at once, when Redis cannot be reached
    (no budget to draw from). Raises ``BudgetExhausted`` past ``max_wait_s``."""
    client = redis_clients.sync_client(settings, socket_timeout=2, socket_connect_timeout=2)
    try:
        legacy_limiter(client, settings).acquire(max_wait_s, on_wait)
        return True
    except redis.RedisError:
        return False
    finally:
        client.close()


def retry_after(seconds: float) -> int:
    """A Retry-After header's whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


REFRESH_BUCKET_KEY = "registro:ratelimit:legacy:refresh"


def refresh_limiter(client: redis.Redis, per_minute: float, burst: int,
                    share: float) -> GlobalRateLimiter:
    """The refreshes' own bucket: ``share`` of the global rate and of its burst (at least
    one token). A refresh takes a token here as well as from the global bucket, so
    refreshes together never use more than that share of the legacy budget."""
    return GlobalRateLimiter(client, per_minute * share, max(1, int(burst * share)),
                             key=REFRESH_BUCKET_KEY)
