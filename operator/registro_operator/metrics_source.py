"""Read the queue depth from Redis, Prometheus (HTTP API query) or a ``/metrics`` endpoint.

Every read has a bounded timeout and either returns a finite, non-negative number or
raises ``MetricsError`` with a message fit for a condition and an Event.

The Redis source reads the broker directly with ``registro.queue.read_queue_depth``
(the one implementation of the depth, also behind the API's metric): it keeps working
when the database is down and the API is unready. It also reads which workers are
busy, from their heartbeats (``registro.pipeline_state``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from registro import pipeline_state, redis_clients
from registro.queue import QUEUE_NAME, read_queue_depth
from registro.settings import get_settings

MAX_BODY_BYTES = 4 * 1024 * 1024


class MetricsError(Exception):
    """The metric could not be read or made no sense; the reason is the message."""


@dataclass(frozen=True)
class MetricsSource:
    kind: str  # "redis", "prometheus" or "endpoint"
    url: str
    query: str  # queue name for redis, PromQL for prometheus, metric name for endpoint
    timeout_s: float = 5.0

    @classmethod
    def from_spec(cls, metrics: dict, timeout_s: float = 5.0,
                  redis_url: str | None = None) -> MetricsSource:
        if metrics.get("redis") is not None:
            if not redis_url:
                raise MetricsError("spec.metrics.redis needs the operator's REDIS_URL")
            return cls("redis", redis_url, metrics["redis"].get("queue") or QUEUE_NAME,
                       timeout_s)
        if metrics.get("prometheus"):
            p = metrics["prometheus"]
            return cls("prometheus", p["url"], p["query"], timeout_s)
        if metrics.get("endpoint"):
            e = metrics["endpoint"]
            return cls("endpoint", e["url"], e.get("metric") or "registro_queue_depth", timeout_s)
        raise MetricsError("spec.metrics names neither prometheus nor endpoint")

    def describe(self) -> str:
        if self.kind == "redis":  # never the URL: it may carry a password
            return f"redis queue {self.query!r}"
        return f"{self.kind} {self.url} ({self.query})"

    def redis(self) -> redis.Redis:
        # the spec's URL; the Sentinels, when set, from the operator's settings
        settings = get_settings().model_copy(update={"redis_url": self.url})
        return redis_clients.sync_client(settings, socket_timeout=self.timeout_s,
                                         socket_connect_timeout=self.timeout_s)

    def read(self, client: httpx.Client | None = None) -> float:
        if self.kind == "redis":
            r = self.redis()
            try:
                return _checked(float(read_queue_depth(r, self.query).total))
            except redis.RedisError as e:
                raise MetricsError(f"{self.describe()}: {type(e).__name__}: {e}") from e
            finally:
                r.close()
        own = client is None
        client = client or httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        try:
            if self.kind == "prometheus":
                return _checked(read_prometheus(client, self.url, self.query, self.timeout_s))
            return _checked(read_endpoint(client, self.url, self.query, self.timeout_s))
        except httpx.HTTPError as e:
            raise MetricsError(f"{self.describe()}: {type(e).__name__}: {e}") from e
        finally:
            if own:
                client.close()


def _checked(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise MetricsError(f"queue depth {value!r} is not a finite non-negative number")
    return value


def _get(client: httpx.Client, url: str, timeout_s: float, **params) -> httpx.Response:
    resp = client.get(url, params=params or None, timeout=timeout_s)
    if resp.status_code != 200:
        raise MetricsError(f"GET {url}: HTTP {resp.status_code}")
    if len(resp.content) > MAX_BODY_BYTES:
        raise MetricsError(f"GET {url}: body larger than {MAX_BODY_BYTES} bytes")
    return resp


def read_prometheus(client: httpx.Client, base_url: str, query: str, timeout_s: float) -> float:
    """An instant query; it must return exactly one sample (aggregate with ``sum()``)."""
    url = base_url.rstrip("/") + "/api/v1/query"
    resp = _get(client, url, timeout_s, query=query)
    try:
        body = resp.json()
        if body.get("status") != "success":
            raise MetricsError(f"prometheus query failed: {body.get('error', body)}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        if data["resultType"] != "vector":
            raise MetricsError(f"prometheus query returned a {data['resultType']}, not a vector")
        result = data["result"]
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise MetricsError(f"malformed prometheus answer: {e!r}") from e
    if not result:
        raise MetricsError(f"prometheus query {query!r} returned no sample")
    if len(result) > 1:
        raise MetricsError(f"prometheus query {query!r} returned {len(result)} series; "
                           "aggregate it to one (e.g. max(...))")
    try:
        return float(result[0]["value"][1])
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise MetricsError(f"malformed prometheus sample: {e!r}") from e


def read_endpoint(client: httpx.Client, url: str, metric: str, timeout_s: float) -> float:
    """The single sample named ``metric`` in a Prometheus text exposition."""
    resp = _get(client, url, timeout_s)
    try:
        samples = [
            s for family in text_string_to_metric_families(resp.text)
            for s in family.samples if s.name == metric
        ]
    except (ValueError, TypeError, IndexError) as e:
        raise MetricsError(f"malformed exposition at {url}: {e}") from e
    if not samples:
        raise MetricsError(f"metric {metric!r} not found at {url}")
    if len(samples) > 1:
        raise MetricsError(f"metric {metric!r} has {len(samples)} series at {url}; expected one")
    return float(samples[0].value)


def busy_workers(source: MetricsSource) -> dict[str, bool] | None:
    """Pod name -> holds a task, from the live workers' heartbeats in Redis (a Celery
    hostname ``celery@<pod>``: in a pod the host name is the pod's name). None when
    the source is not Redis or Redis cannot be read: busy and idle are then unknown."""
    if source.kind != "redis":
        return None
    r = source.redis()
    try:
        held = pipeline_state.live_worker_tasks(r)
    except (redis.RedisError, ValueError):
        return None
    finally:
        r.close()
    return {name.rpartition("@")[2]: bool(tasks) for name, tasks in held.items()}
