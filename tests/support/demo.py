"""Run a demo legacy site for tests and benchmarks: ``with running_demo(**faults) as demo``
(the first demo), ``running_demo(site="portal")`` (the second; ``registro.legacy_demo.sites``).

The server runs in a background thread of this process (uvicorn on a free loopback
port); faults and counters are driven through its real admin HTTP API.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from registro.legacy_demo import DemoConfig
from registro.legacy_demo.sites import create_site_app


@dataclass
class DemoServer:
    """Handle on a running demo: its base URL and its admin API."""

    url: str
    admin_token: str
    username: str
    password: str

    def _admin(self, method: str, path: str, json: Any = None) -> dict:
        response = httpx.request(
            method, f"{self.url}/_demo/{path}", json=json, timeout=10,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        response.raise_for_status()
        return response.json()

    def set_faults(self, **changes: Any) -> dict:
        """Change some faults now (others keep their value); returns all faults."""
        return self._admin("POST", "faults", changes)

    def faults(self) -> dict:
        return self._admin("GET", "faults")

    def stats(self) -> dict:
        return self._admin("GET", "stats")

    def reset(self) -> dict:
        """Faults back to their start-up values, counters to zero."""
        return self._admin("POST", "reset")

    def change_os(self, numero: str, **fields: str | None) -> dict:
        """Change fields of an OS from now on, as the page shows them (POST /_demo/os)."""
        return self._admin("POST", f"os/{numero}", fields)

    def expire_sessions(self) -> int:
        return self._admin("POST", "sessions/expire")["expired"]


@contextlib.contextmanager
def running_demo(*, site: str = "sgo", render_delay_ms: int = 50,
                 **faults: Any) -> Iterator[DemoServer]:
    """Start a demo site on 127.0.0.1:<free port> with these initial faults; stop it after."""
    config = DemoConfig(
        admin_token=secrets.token_urlsafe(24),
        render_delay_ms=render_delay_ms,
        **faults,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        create_site_app(site, config), log_level="warning", lifespan="off", proxy_headers=False,
        timeout_graceful_shutdown=2,
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"demo-{site}-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("demo legacy server did not start")
            time.sleep(0.02)
        yield DemoServer(
            url=f"http://127.0.0.1:{port}",
            admin_token=config.admin_token.get_secret_value(),
            username=config.username,
            password=config.password.get_secret_value(),
        )
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
