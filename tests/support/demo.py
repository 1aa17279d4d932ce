"""Run a demo legacy site for tests and benchmarks: ``with running_demo(**faults) as demo``
(the first demo), ``running_demo(site="portal")`` (the second; ``registro.legacy_demo.sites``).

The server runs in a child process (``devstack.processes.start_demo``, as everywhere
else); faults and counters are driven through its real admin HTTP API.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from devstack import processes
from devstack.stack import demo_env
from registro.legacy_demo import DemoConfig


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
    """Start a demo site on 127.0.0.1:<free port> with these initial faults (the dev
    harness's launcher, ``devstack.processes.start_demo``); stop it after."""
    token = secrets.token_urlsafe(24)
    config = DemoConfig(admin_token=token, render_delay_ms=render_delay_ms, **faults)
    managed = processes.start_demo(env=demo_env(token, render_delay_ms=render_delay_ms,
                                                **faults), site=site)
    try:
        yield DemoServer(url=managed.url, admin_token=token, username=config.username,
                         password=config.password.get_secret_value())
    finally:
        managed.stop(timeout=5)
