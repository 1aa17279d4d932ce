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
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from registro import local_services
from registro import pipeline_state as state
from registro.db import session_scope, upgrade
from registro.legacy_demo.data import expected_record
from registro.local_services import free_port, wait_for_port
from registro.records import save_scraped
from tests.conftest import require

BIN = Path(sys.executable).parent
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


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def start_api(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the caller with the process
    proc = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", "registro.api.main:app_factory",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, timeout=60, proc=proc)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def live_api(tmp_path_factory) -> Iterator[LiveApi]:
    require(shutil.which("redis-server") is not None, "redis-server")
    workdir = tmp_path_factory.mktemp("api")
    srv = local_services.start_redis()
    db_url = f"sqlite:///{workdir}/registro.db"
    upgrade(db_url)
    with session_scope(db_url) as session:
        save_scraped(session, expected_record(STORED_OS))
    key = secrets.token_urlsafe(24)
    env = {**os.environ, "REGISTRO_REDIS_URL": srv.url, "REGISTRO_DATABASE_URL": db_url,
           "REGISTRO_API_KEYS": f"{key},{secrets.token_urlsafe(24)}",
           "REGISTRO_API_RATE_LIMIT_PER_MINUTE": "1000000",
           "REGISTRO_FALLBACK_MAX_BROWSERS": "0", "REGISTRO_WORKER_HEARTBEAT_S": "0.5",
           "REGISTRO_WORKER_METRICS_PORT": "0", "REGISTRO_ARTIFACTS_DIR": str(workdir)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker_log = open(workdir / "worker.log", "ab")  # noqa: SIM115
    hostname = "contract@test"
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "registro.worker.celery_app", "worker", "--pool=solo",
         f"--hostname={hostname}", "--queues=held-by-contract-tests", "--without-mingle",
         "--without-gossip", "--loglevel=info"],
        env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    api_proc = None
    try:
        client = redis.Redis.from_url(srv.url)
        deadline = time.monotonic() + 60
        while not client.exists(state.HEARTBEAT_PREFIX + hostname):
            assert worker.poll() is None, (workdir / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "worker heartbeat not seen"
            time.sleep(0.1)
        api_proc, url = start_api(env, workdir / "api.log")
        yield LiveApi(url=url, key=key, redis_url=srv.url, db_url=db_url,
                      log_path=workdir / "api.log")
    finally:
        if api_proc is not None:
            _stop(api_proc)
        _stop(worker)
        worker_log.close()
        srv.stop()
