"""The worker's Kubernetes probes on its metrics port (charts/registro worker Deployment):
/healthz answers while the process lives, /readyz only while Redis takes its heartbeat."""

from __future__ import annotations

import httpx

from devstack.processes import free_port
from devstack.waits import wait_until


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

            wait_until(lambda: status("/readyz") == 200, 30, what="/readyz 200 with Redis up")
            assert http.get("/healthz").text == "alive\n"
            assert "registro_browser_sessions_started_total" in http.get("/metrics").text

            stack.stop_redis()
            try:
                # The heartbeat TTL is 3 x 0.5 s in the test stack.
                wait_until(lambda: status("/readyz") == 503, 30, what="/readyz 503 without Redis")
                assert "no heartbeat" in http.get("/readyz").text
                assert status("/healthz") == 200, "liveness must not depend on Redis"
            finally:
                stack.start_redis()
            wait_until(lambda: status("/readyz") == 200, 30, what="/readyz 200 after Redis is back")
    finally:
        worker.stop()
        stack.workers.remove(worker)
