"""Real processes for the pipeline tests: demo legacy system, Redis, Celery workers, API."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import redis

from registro import local_services
from registro import pipeline_state as state
from registro.local_services import free_port, wait_for_port

BIN = Path(sys.executable).parent


class Demo:
    """The demo legacy system in a subprocess, with its admin API (faults, stats)."""

    def __init__(self, workdir: Path, **config):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        env = {**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": self.token,
               **{f"REGISTRO_DEMO_{k.upper()}": str(v) for k, v in config.items()}}
        self.log = open(workdir / "demo.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c",
             ("import sys; from registro.legacy_demo.app import serve; "
             "from registro.legacy_demo.config import DemoConfig; "
             "serve('127.0.0.1', int(sys.argv[1]), DemoConfig())"), str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc)
        self.admin = httpx.Client(base_url=self.url, timeout=10,
                                  headers={"Authorization": f"Bearer {self.token}"})

    def stats(self) -> dict:
        return self.admin.get("/_demo/stats").raise_for_status().json()

    def faults(self, **changes) -> dict:
        return self.admin.post("/_demo/faults", json=changes).raise_for_status().json()

    def reset(self) -> None:
        self.admin.post("/_demo/reset").raise_for_status()

    def stop(self) -> None:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:  # a deliberately slow request is pending
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@dataclass
class Stack:
    """Shared pieces: one Redis (AOF, restartable), one SQLite DB, one demo, the env."""

    workdir: Path
    demo: Demo
    redis_port: int
    db_url: str
    api_key: str
    redis_srv: local_services.ManagedProcess | None = None
    workers: list[Worker] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **overrides) -> dict:
        env = {**os.environ,
               "REGISTRO_REDIS_URL": self.redis_url,
               "REGISTRO_DATABASE_URL": self.db_url,
               "REGISTRO_LEGACY_URL": self.demo.url,
               "REGISTRO_API_KEYS": self.api_key,
               "REGISTRO_ARTIFACTS_DIR": str(self.workdir / "artifacts"),
               "REGISTRO_TASK_TIME_LIMIT_S": "90",
               "REGISTRO_TASK_SOFT_TIME_LIMIT_S": "80",
               "REGISTRO_TASK_MAX_RETRIES": "2",
               "REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": "12",  # above any test task
               "REGISTRO_BROKER_RESTORE_INTERVAL_S": "1",
               "REGISTRO_WORKER_HEARTBEAT_S": "0.5",
               # lost tasks are published again within 3 + 1 s (production: 15 + 5 s)
               "REGISTRO_RECONCILE_GRACE_S": "3",
               "REGISTRO_RECONCILE_INTERVAL_S": "1",
               "REGISTRO_WEBDRIVER_STATE_DIR": str(self.workdir / "webdriver"),
               "REGISTRO_WORKER_METRICS_PORT": "0",
               "REGISTRO_LEGACY_RATE_PER_MINUTE": "6000",
               "REGISTRO_LEGACY_RATE_BURST": "100",
               "REGISTRO_API_RATE_LIMIT_PER_MINUTE": "100000"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def start_redis(self) -> None:
        self.redis_srv = local_services.start_redis(self.redis_port, appendonly=True,
                                                    workdir=self.workdir / "redis")

    def kill_redis(self) -> None:
        """SIGKILL: no shutdown, whatever reached the AOF is what comes back."""
        if self.redis_srv is not None:
            self.redis_srv.kill()
            self.redis_srv = None

    def stop_redis(self) -> None:
        if self.redis_srv is not None:
            self.redis_srv.stop()
            self.redis_srv = None

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def start_worker(self, name: str, **env) -> Worker:
        worker = Worker(self, name, self.env(**env))
        self.workers.append(worker)
        worker.wait_online()
        return worker

    def ensure_worker(self) -> Worker:
        """A live worker, started if every earlier one is gone."""
        for w in self.workers:
            if w.proc.poll() is None:
                return w
        return self.start_worker(f"w{len(self.workers)}-{int(time.time() * 1000) % 100000}")

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


class Worker:
    """``celery -A registro.worker.celery_app worker`` in its own process group."""

    def __init__(self, stack: Stack, name: str, env: dict):
        self.stack = stack
        self.hostname = f"{name}@test"
        self.log_path = stack.workdir / f"worker-{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(BIN / "celery"), "-A", "registro.worker.celery_app", "worker",
             "--pool=prefork", "--concurrency=1", f"--hostname={self.hostname}",
             "--without-mingle", "--without-gossip", "--loglevel=info"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_online(self, timeout: float = 60) -> None:
        client = self.stack.redis()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if client.exists(state.HEARTBEAT_PREFIX + self.hostname):
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.hostname} not online: "
                           f"{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group: main process, pool child, its browser."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # anything left in the group (browser) goes too
        self.log.close()


class Api:
    """The API under uvicorn in a subprocess."""

    def __init__(self, stack: Stack, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = stack.workdir / f"api-{self.port}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(BIN / "uvicorn"), "--factory", "registro.api.main:app_factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             "--timeout-keep-alive", "75"],
            env=stack.env(**env), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for_port(self.port, timeout=30, proc=self.proc)
        self.headers = {"Authorization": f"Bearer {stack.api_key}"}

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=120, **kw)

    def browser_drivers(self) -> int:
        """chromedriver processes started by this API process (one per WebDriver session)."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        count = 0
        for child in children:
            try:
                if "chromedriver" in child.name():
                    count += 1
            except psutil.NoSuchProcess:
                pass
        return count

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.log.close()


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


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="registro-pipeline-"))
