"""Auth on every guide route, the per-key limit (429 + Retry-After, counted per key),
and the answers when Redis is unreachable."""

from __future__ import annotations

import os
import secrets
import socket

import httpx
import pytest

from tests.api.conftest import start_api

pytestmark = [pytest.mark.redis]
BASE = "/api/desenvolvimento"
ROUTES = [("POST", f"{BASE}/buscar-os-async/1201"), ("GET", f"{BASE}/scraping-status/scraping_1"),
          ("GET", f"{BASE}/queue-status")]


def _env(live_api, **changes) -> dict[str, str]:
    env = {**os.environ, "REGISTRO_REDIS_URL": live_api.redis_url,
           "REGISTRO_DATABASE_URL": live_api.db_url, "REGISTRO_FALLBACK_MAX_BROWSERS": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(changes)
    return env


def test_every_route_needs_a_valid_key(live_api):
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        for method, path in ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": f"Basic {live_api.key}"},
                            {"Authorization": f"Bearer {live_api.key}x"}):
                r = client.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.headers["WWW-Authenticate"] == "Bearer"
                assert isinstance(r.json()["detail"], str)


def test_limit_is_per_key_with_retry_after(live_api, tmp_path):
    keys = [secrets.token_urlsafe(16) for _ in range(2)]
    api = start_api(_env(live_api, REGISTRO_API_KEYS=",".join(keys),
                         REGISTRO_API_RATE_LIMIT_PER_MINUTE="5"), tmp_path / "api.log")
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            first = [client.get(f"{BASE}/queue-status",
                                headers={"Authorization": f"Bearer {keys[0]}"})
                     for _ in range(8)]
            other = client.post(f"{BASE}/buscar-os-async/1201",
                                headers={"Authorization": f"Bearer {keys[1]}"})
    finally:
        api.stop(timeout=30)
    codes = [r.status_code for r in first]
    # A minute boundary may fall inside the burst: then two windows, still some 429s.
    assert codes.count(429) >= 1 and set(codes) == {200, 429}, codes
    limited = next(r for r in first if r.status_code == 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "rate limit" in limited.json()["detail"]
    assert other.status_code == 200 and other.json()["status"] == "found_existing"


def test_without_redis_status_is_503_queue_is_unavailable_lookup_still_answers(live_api,
                                                                                tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        api = start_api(_env(live_api, REGISTRO_API_KEYS=live_api.key,
                             REGISTRO_REDIS_URL=f"redis://127.0.0.1:{closed.getsockname()[1]}/0"),
                        tmp_path / "api.log")
        try:
            with httpx.Client(base_url=api.url, headers=live_api.headers, timeout=30) as client:
                status = client.get(f"{BASE}/scraping-status/scraping_1201")
                queue = client.get(f"{BASE}/queue-status")
                found = client.post(f"{BASE}/buscar-os-async/1201")
                busy = client.post(f"{BASE}/buscar-os-async/98765")
        finally:
            api.stop(timeout=30)
    finally:
        closed.close()
    assert status.status_code == 503 and status.headers["Retry-After"] == "5"
    assert status.json() == {"detail": "Redis unavailable"}
    assert queue.status_code == 200 and queue.json()["status"] == "unavailable"
    assert found.status_code == 200 and found.json()["status"] == "found_existing"
    # No Redis and the fallback disabled (0 browsers): refused at once, with Retry-After.
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "10"
    assert busy.json()["status"] == "busy"
    assert busy.json()["fallback_reason"] == "redis_unavailable"
