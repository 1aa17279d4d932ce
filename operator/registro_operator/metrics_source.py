"""Read the queue depth from Prometheus (HTTP API query) or a ``/metrics`` endpoint.

Every read has a bounded timeout and either returns a finite, non-negative number or
raises ``MetricsError`` with a message fit for a condition and an Event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

MAX_BODY_BYTES = 4 * 1024 * 1024


class MetricsError(Exception):
    """The metric could not be read or made no sense; the reason is the message."""


@dataclass(frozen=True)
class MetricsSource:
    kind: str  # "prometheus" or "endpoint"
    url: str
    query: str  # PromQL for prometheus, metric name for endpoint
    timeout_s: float = 5.0

    @classmethod
    def from_spec(cls, metrics: dict, timeout_s: float = 5.0) -> MetricsSource:
        if metrics.get("prometheus"):
            p = metrics["prometheus"]
            return cls("prometheus", p["url"], p["query"], timeout_s)
        if metrics.get("endpoint"):
            e = metrics["endpoint"]
            return cls("endpoint", e["url"], e.get("metric") or "registro_queue_depth", timeout_s)
        raise MetricsError("spec.metrics names neither prometheus nor endpoint")

    def describe(self) -> str:
        return f"{self.kind} {self.url} ({self.query})"

    def read(self, client: httpx.Client | None = None) -> float:
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
