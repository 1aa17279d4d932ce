"""Fixtures of the scraper tests: a static second legacy site served over real HTTP."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SITE2 = Path(__file__).with_name("site2")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="session")
def site2_url():
    """The "Oficina 2000" static site on a loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(SITE2))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


# --- the demo legacy system, as a real server process -----------------------------------

import os
import secrets
import subprocess
import sys

import httpx

from registro import local_services


class DemoServer:
    """A running demo legacy system and its admin API (faults, stats, sessions)."""

    def __init__(self, proc: subprocess.Popen, port: int, token: str):
        self.proc, self.port, self.token = proc, port, token
        self.url = f"http://127.0.0.1:{port}"
        self._admin = httpx.Client(base_url=self.url, timeout=10,
                                   headers={"Authorization": f"Bearer {token}"})

    def faults(self, **changes) -> dict:
        r = self._admin.post("/_demo/faults", json=changes)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict:
        r = self._admin.get("/_demo/stats")
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        self._admin.post("/_demo/reset").raise_for_status()
        self._admin.post("/_demo/sessions/expire").raise_for_status()

    def expire_sessions(self) -> int:
        r = self._admin.post("/_demo/sessions/expire")
        r.raise_for_status()
        return r.json()["expired"]

    def stop(self) -> None:
        self._admin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_demo(render_delay_ms: int = 50) -> DemoServer:
    port = local_services.free_port()
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registro.legacy_demo", "--port", str(port),
         "--render-delay-ms", str(render_delay_ms)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        local_services.wait_for_port(port, proc=proc)
    except Exception:
        proc.kill()
        raise
    return DemoServer(proc, port, token)


@pytest.fixture(scope="session")
def demo_server():
    server = start_demo()
    yield server
    server.stop()


@pytest.fixture
def demo(demo_server):
    """The session's demo system with faults, counters and sessions reset."""
    demo_server.reset()
    return demo_server


@pytest.fixture
def demo_settings(demo, tmp_path, browser_available):
    from registro.settings import Settings

    return Settings(
        legacy_url=demo.url, legacy_username="demo", legacy_password="demo",
        site_profile=None, artifacts_dir=tmp_path / "artifacts", page_timeout_s=10,
        selenium_url=None, session_max_scrapes=50,
        database_url=f"sqlite:///{tmp_path}/registro.db",
    )
