"""The worker's Kubernetes probes on its metrics port (charts/registro worker Deployment):
/healthz answers while the process lives, /readyz only while Redis takes its heartbeat."""

from __future__ import annotations

import time

import httpx

from registro.local_services import free_port


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_liveness_needs_nothing_readiness_needs_redis(stack):
    port = free_port()
    worker = stack.start_worker(f"probes-{port}", REGISTRO_WORKER_METRICS_PORT=port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            def status(path: str) -> int | None:
                try:
                    return http.get(path).status_code
                except httpx.HTTPError:
                    return None

            wait_for(lambda: status("/readyz") == 200, what="/readyz 200 with Redis up")
            assert http.get("/healthz").text == "alive\n"
            assert "registro_browser_sessions_started_total" in http.get("/metrics").text

            stack.stop_redis()
            try:
                # The heartbeat TTL is 3 x 0.5 s in the test stack.
                wait_for(lambda: status("/readyz") == 503, what="/readyz 503 without Redis")
                assert "no heartbeat" in http.get("/readyz").text
                assert status("/healthz") == 200, "liveness must not depend on Redis"
            finally:
                stack.start_redis()
            wait_for(lambda: status("/readyz") == 200, what="/readyz 200 after Redis is back")
    finally:
        worker.stop()
        stack.workers.remove(worker)
