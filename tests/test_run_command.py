"""The README's run command: ``make run`` installs, then runs ``registro up``.

Runs ``registro up`` for real (Redis, demo legacy system, chromedriver, a worker, the
API) in a scratch directory, follows the guide's flow with HTTP, then stops it with
Ctrl-C (SIGINT) and checks that nothing it started is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from registro.local_services import free_port, wait_for_port

REGISTRO = Path(sys.executable).parent / "registro"


def test_registro_up_serves_the_guide_flow_and_stops_cleanly(tmp_path, browser_available):
    port, demo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REGISTRO_") and k not in {"DATABASE_URL", "REDIS_URL",
                                                         "SELENIUM_URL"}}
    proc = subprocess.Popen(
        [str(REGISTRO), "up", "--port", str(port), "--demo-port", str(demo_port),
         "--redis-port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    children: list[psutil.Process] = []
    try:
        wait_for_port(port, timeout=90, proc=proc)
        key = (tmp_path / "var" / "api-key").read_text().strip()
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert {"redis-server", "chromedriver"} <= names, names

        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                           headers={"Authorization": f"Bearer {key}"})
        post = "/api/desenvolvimento/buscar-os-async/4321"
        first = api.post(post).json()
        assert first["status"] == "queued" and first["task_id"] == "scraping_4321"
        deadline, seen = time.monotonic() + 120, []
        while time.monotonic() < deadline:
            status = api.get(first["instructions"]["check_status"]).json()
            seen.append(status["status"])
            if status["status"] in {"SUCCESS", "FAILURE"}:
                break
            time.sleep(0.2)
        assert status["status"] == "SUCCESS", (seen, status)
        assert status["result"]["scraped_fields"] >= 45
        assert api.post(post).json()["status"] == "found_existing"
        queue = api.get("/api/desenvolvimento/queue-status").json()
        assert queue["celery_available"] is True and queue["queue_info"]["workers_online"] == 1
        assert httpx.post(f"http://127.0.0.1:{port}{post}").status_code == 401
        assert (tmp_path / "var" / "registro.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert "Local API key" in out
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
