"""Real processes for the pipeline tests: the platform of ``registro.local_stack`` (demo
legacy system, Redis, Celery workers, API; shared with the benchmarks), plus waits."""

from __future__ import annotations

import time

import httpx

from registro.local_stack import Api, Demo, Stack, Worker, make_workdir

__all__ = ["Api", "Demo", "Stack", "Worker", "make_workdir", "wait_status"]


def wait_status(client: httpx.Client, task_id: str, until: set[str], timeout: float = 120,
                seen: list | None = None) -> dict:
    """Poll scraping-status until one of ``until``; records every answer in ``seen``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/desenvolvimento/scraping-status/{task_id}").json()
        if seen is not None:
            seen.append(body)
        if body.get("status") in until:
            return body
        time.sleep(0.05)
    raise TimeoutError(f"{task_id} not in {until} after {timeout}s (last: {body})")
