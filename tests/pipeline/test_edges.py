"""Bad input and auth matrix (every case its 4xx, never a 5xx); bounded queue-status."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from registro.api.main import MissingApiKeys, create_app
from registro.settings import Settings
from tests.pipeline.harness import Api

pytestmark = [pytest.mark.redis]
BASE = "/api/desenvolvimento"


@pytest.fixture(scope="module")
def strict_api(stack):
    a = Api(stack, REGISTRO_API_RATE_LIMIT_PER_MINUTE=40, REGISTRO_API_MAX_BODY_BYTES=1024)
    yield a
    a.stop()


def test_bad_input_and_auth_matrix(stack, strict_api):
    key = {"Authorization": f"Bearer {stack.api_key}"}
    cases = [
        # (method, path, headers, body, expected status)
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/readyz", {}, None, 200),
        ("POST", f"{BASE}/buscar-os-async/123", {}, None, 401),
        ("POST", f"{BASE}/buscar-os-async/123", {"Authorization": "Bearer nope"}, None, 401),
        ("POST", f"{BASE}/buscar-os-async/123", {"Authorization": "Basic dXNlcjpwYXNz"}, None,
         401),
        ("POST", f"{BASE}/buscar-os-async/123", {"Authorization": "Bearer"}, None, 401),
        ("POST", f"{BASE}/buscar-os-async/123",
         {"Authorization": f"Bearer {stack.api_key}x"}, None, 401),
        ("GET", f"{BASE}/queue-status", {}, None, 401),
        ("GET", f"{BASE}/scraping-status/scraping_1", {}, None, 401),
        ("POST", f"{BASE}/buscar-os-async/abc", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/12a", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/-5", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/1234567890123", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/" + "9" * 500, key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/1%00", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/%20", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/123?forcar=talvez", key, None, 422),
        ("POST", f"{BASE}/buscar-os-async/123", key, b"x" * 100_000, 413),
        ("GET", f"{BASE}/buscar-os-async/123", key, None, 405),
        ("GET", f"{BASE}/scraping-status/scraping_999999999999", key, None, 404),
        ("GET", f"{BASE}/scraping-status/nada", key, None, 422),
        ("GET", f"{BASE}/scraping-status/scraping_12;DROP", key, None, 422),
        ("GET", "/api/desenvolvimento/nao-existe", key, None, 404),
        ("GET", "/../../etc/passwd", key, None, 404),
    ]
    with httpx.Client(base_url=strict_api.url, timeout=30) as c:
        for method, path, headers, body, expected in cases:
            r = c.request(method, path, headers=headers, content=body)
            assert r.status_code == expected, (method, path, r.status_code, r.text)
            if expected == 401:
                assert r.headers["WWW-Authenticate"] == "Bearer"
                assert stack.api_key not in r.text
            if expected == 422:  # the declared ErrorBody: one line of text
                assert isinstance(r.json()["detail"], str) and r.json()["detail"]
        # The per-key limit (40/min here; the matrix used some of it): then 429.
        codes = [c.get(f"{BASE}/queue-status", headers=key) for _ in range(45)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert all(r.status_code in (200, 429) for r in codes)
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert stack.api_key not in strict_api.log_path.read_text()  # keys are never logged


def test_api_refuses_to_start_without_a_key():
    with pytest.raises(MissingApiKeys):
        create_app(Settings(api_keys=""))


def _queue_status_seconds(api_url: str, key: str) -> tuple[float, dict]:
    started = time.monotonic()
    r = httpx.get(f"{api_url}{BASE}/queue-status", headers={"Authorization": f"Bearer {key}"},
                  timeout=10)
    return time.monotonic() - started, r.json()


def test_queue_status_is_fast_without_redis_or_workers(private_stack):
    stack = private_stack  # stops workers: its own stack
    stack.stop_workers()
    # Redis up, no worker.
    api = Api(stack)
    try:
        elapsed, body = _queue_status_seconds(api.url, stack.api_key)
    finally:
        api.stop()
    assert elapsed < 2.0 and body["celery_available"] is False
    assert body["queue_info"]["workers_online"] == 0

    # Redis refusing connections, then Redis that accepts but never answers.
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(128)
    try:
        for sock in (closed_port, blackhole):
            api = Api(stack, REGISTRO_REDIS_URL=f"redis://127.0.0.1:{sock.getsockname()[1]}/0")
            try:
                elapsed, body = _queue_status_seconds(api.url, stack.api_key)
                metrics = httpx.get(f"{api.url}/metrics", timeout=10).text
            finally:
                api.stop()
            assert elapsed < 2.0, elapsed
            assert body["status"] == "unavailable" and body["celery_available"] is False
            assert "registro_redis_up 0.0" in metrics
    finally:
        closed_port.close()
        blackhole.close()
