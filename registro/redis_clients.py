"""Every Redis client Registro builds: the API's, the workers', the operator's and the
Celery broker and result backend's URLs and options.

``REDIS_URL`` alone: one Redis server. With ``REGISTRO_REDIS_SENTINELS`` set
(``host:port,host:port,...``) the master of ``REGISTRO_REDIS_MASTER_NAME`` is asked of
the Sentinels instead, on every new connection: after a failover the next command
reconnects to the promoted replica. ``REDIS_URL`` then still gives the password and the
database number; its host is not used. The Sentinels take the same password (the chart
sets ``requirepass`` on them too). TLS (``rediss://``) is refused in this mode: Celery's
``sentinel://`` transport would not carry it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from registro.settings import Settings

DEFAULT_SENTINEL_PORT = 26379
# A pooled connection that Redis closed (a restart, a failover) fails its next command
# at once: one retry on a new connection, instead of an error per stale connection (after
# a restart the API's first lookup fell back to a synchronous scrape). Timeouts are not
# retried: a Redis that does not answer costs one timeout, as the callers' bounds assume.


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits for a free connection like the API's
    single-server pool, instead of raising "Too many connections"."""


class _AsyncBlockingSentinelPool(AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """The asyncio counterpart of :class:`_BlockingSentinelPool`."""


def sentinel_hosts(settings: Settings) -> list[tuple[str, int]]:
    """``REGISTRO_REDIS_SENTINELS`` as (host, port) pairs; [] when unset."""
    hosts = []
    for item in (settings.redis_sentinels or "").split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = item.strip(), ""
        if host:
            hosts.append((host, int(port) if port else DEFAULT_SENTINEL_PORT))
    if hosts and settings.redis_url.startswith("rediss://"):
        raise ValueError("REGISTRO_REDIS_SENTINELS with a rediss:// REDIS_URL: TLS is not "
                         "supported in Sentinel mode")
    return hosts


def uses_sentinel(settings: Settings) -> bool:
    return bool(sentinel_hosts(settings))


def _url_params(settings: Settings) -> dict[str, Any]:
    """Password, username, database and TLS of ``REDIS_URL`` (the master's)."""
    url = urlsplit(settings.redis_url)
    params: dict[str, Any] = {"db": int(url.path.lstrip("/") or 0)}
    if url.password:
        params["password"] = unquote(url.password)
    if url.username:
        params["username"] = unquote(url.username)
    return params


def _sentinel_kwargs(settings: Settings, timeout_s: float) -> dict[str, Any]:
    params = _url_params(settings)
    kwargs: dict[str, Any] = {"socket_timeout": timeout_s,
                              "socket_connect_timeout": timeout_s}
    for key in ("password", "username"):
        if key in params:
            kwargs[key] = params[key]
    return kwargs


def sync_client(settings: Settings, *, socket_timeout: float, socket_connect_timeout: float,
                max_connections: int | None = None, wait_s: float | None = None,
                **kwargs: Any) -> redis.Redis:
    """A client of the Redis master. ``max_connections`` with ``wait_s``: a bounded pool
    whose callers wait up to ``wait_s`` for a connection."""
    options: dict[str, Any] = dict(socket_timeout=socket_timeout,
                                   socket_connect_timeout=socket_connect_timeout,
                                   retry=Retry(NoBackoff(), 1, (redis.ConnectionError,)),
                                   **kwargs)
    if max_connections is not None:
        options["max_connections"] = max_connections
        if wait_s is not None:
            options["timeout"] = wait_s
    if not uses_sentinel(settings):
        if wait_s is not None:
            return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
                settings.redis_url, **options))
        return redis.Redis.from_url(settings.redis_url, **options)
    sentinel = Sentinel(sentinel_hosts(settings),
                        sentinel_kwargs=_sentinel_kwargs(settings, socket_connect_timeout))
    pool_class = _BlockingSentinelPool if wait_s is not None else SentinelConnectionPool
    return sentinel.master_for(settings.redis_master_name, connection_pool_class=pool_class,
                               **_url_params(settings), **options)


def async_client(settings: Settings, *, socket_timeout: float, socket_connect_timeout: float,
                 max_connections: int, wait_s: float, **kwargs: Any) -> aioredis.Redis:
    """The asyncio client of the Redis master, on a bounded pool (callers wait up to
    ``wait_s`` for a connection)."""
    options: dict[str, Any] = dict(socket_timeout=socket_timeout,
                                   socket_connect_timeout=socket_connect_timeout,
                                   retry=AsyncRetry(NoBackoff(), 1, (redis.ConnectionError,)),
                                   max_connections=max_connections, timeout=wait_s, **kwargs)
    if not uses_sentinel(settings):
        return aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, **options))
    sentinel = AsyncSentinel(sentinel_hosts(settings),
                             sentinel_kwargs=_sentinel_kwargs(settings, socket_connect_timeout))
    return sentinel.master_for(settings.redis_master_name,
                               connection_pool_class=_AsyncBlockingSentinelPool,
                               **_url_params(settings), **options)


def celery_urls(settings: Settings) -> tuple[str, str]:
    """Celery's (broker_url, result_backend): ``REDIS_URL`` twice, or one
    ``sentinel://`` URL per Sentinel joined by ``;`` (kombu's and Celery's syntax)."""
    if not uses_sentinel(settings):
        return settings.redis_url, settings.redis_url
    params = _url_params(settings)
    auth = ""
    if "password" in params:
        auth = f"{quote(params.get('username', ''), safe='')}:" \
               f"{quote(params['password'], safe='')}@"
    url = ";".join(f"sentinel://{auth}{host}:{port}/{params['db']}"
                   for host, port in sentinel_hosts(settings))
    return url, url


def celery_sentinel_options(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """Transport options naming the master and authenticating to the Sentinels (empty
    without Sentinel); for ``broker_transport_options`` and
    ``result_backend_transport_options``."""
    if not uses_sentinel(settings):
        return {}
    return {"master_name": settings.redis_master_name,
            "sentinel_kwargs": _sentinel_kwargs(settings, timeout_s)}
