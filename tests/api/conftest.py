"""A live API for the contract tests: uvicorn on loopback, a private Redis, a SQLite
database holding one stored OS, and a real Celery worker.

The worker consumes another queue than ``scraping`` (``--queues`` below): it is online
(its own heartbeat), so lookups of unknown OS take the queue path, but the tasks the
fuzzer creates stay queued instead of starting hundreds of browser scrapes. Scraping
itself is covered by tests/pipeline.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from devstack import processes
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro.db import session_scope, upgrade
from registro.legacy_demo.data import expected_record
from registro.records import save_scraped
from tests.conftest import require

STORED_OS = "1201"


@dataclass
class LiveApi:
    url: str
    key: str
    redis_url: str
    db_url: str
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30)


def start_api(env: dict[str, str], log_path: Path) -> processes.ManagedProcess:
    return processes.start_api(env, log_path=log_path, timeout=60)


def api_env(workdir: Path, db_url: str, api_keys: str, **redis_url: str) -> dict[str, str]:
    """The environment of the live API and its held worker: no fallback browser, no limit
    in the way, a fast heartbeat; the Redis URL as ``REGISTRO_REDIS_URL=`` or
    ``REDIS_URL=`` (the chart's spelling)."""
    env = {**os.environ, "REGISTRO_DATABASE_URL": db_url, "REGISTRO_API_KEYS": api_keys,
           "REGISTRO_API_RATE_LIMIT_PER_MINUTE": "1000000",
           "REGISTRO_FALLBACK_MAX_BROWSERS": "0", "REGISTRO_WORKER_HEARTBEAT_S": "0.5",
           "REGISTRO_WORKER_METRICS_PORT": "0", "REGISTRO_ARTIFACTS_DIR": str(workdir)}
    for name in ("REGISTRO_REDIS_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return {**env, **redis_url}


@pytest.fixture(scope="session")
def live_api(tmp_path_factory) -> Iterator[LiveApi]:
    require(shutil.which("redis-server") is not None, "redis-server")
    workdir = tmp_path_factory.mktemp("api")
    srv = processes.start_redis()
    db_url = f"sqlite:///{workdir}/registro.db"
    upgrade(db_url)
    with session_scope(db_url) as session:
        save_scraped(session, expected_record(STORED_OS))
    key = secrets.token_urlsafe(24)
    env = api_env(workdir, db_url, f"{key},{secrets.token_urlsafe(24)}",
                  REGISTRO_REDIS_URL=srv.url)
    hostname = "contract@test"
    worker = processes.start_worker(env, hostname=hostname, pool="solo",
                                    queues="held-by-contract-tests",
                                    log_path=workdir / "worker.log")
    api = None
    try:
        client = redis.Redis.from_url(srv.url)
        wait_until(lambda: worker.proc.poll() is not None or hostname in state.live_worker_tasks(client),
                   60, what="the worker's heartbeat")
        assert worker.proc.poll() is None, (workdir / "worker.log").read_text()[-3000:]
        api = start_api(env, workdir / "api.log")
        yield LiveApi(url=api.url, key=key, redis_url=srv.url, db_url=db_url,
                      log_path=workdir / "api.log")
    finally:
        if api is not None:
            api.stop(timeout=30)
        worker.stop(timeout=30)
        srv.stop()
