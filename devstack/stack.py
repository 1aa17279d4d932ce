"""A whole Registro platform on this machine, for the tests and the benchmarks.

Built from the launchers in ``devstack.processes`` (the same ones ``registro up``
uses): the demo legacy system with its admin API, a Redis with AOF that can be killed
and restarted, Celery workers each in its own process group, the API. Settings are
short for tests (visibility timeout 12 s, heartbeats every 0.5 s, reconciler grace
3 s); the benchmarks pass production values as overrides.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

from devstack import processes
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro.db import upgrade


def demo_env(admin_token: str, **config: object) -> dict[str, str]:
    """The environment of a demo site: this one's plus its ``DemoConfig`` values
    (``REGISTRO_DEMO_<NAME>``; lists as JSON, as pydantic-settings reads them)."""
    return {**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": admin_token,
            **{f"REGISTRO_DEMO_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
               for k, v in config.items()}}


class Demo:
    """A demo legacy site in a subprocess (``site``: sgo or portal), with its admin API
    (faults, stats)."""

    def __init__(self, workdir: Path, site: str = "sgo", **config: object) -> None:
        self.token = secrets.token_urlsafe(24)
        self.managed = processes.start_demo(env=demo_env(self.token, **config),
                                            log_path=workdir / "demo.log",
                                                 site=site)
        self.proc = self.managed.proc
        self.port, self.url = self.managed.port, self.managed.url
        self.admin = httpx.Client(base_url=self.url, timeout=10,
                                  headers={"Authorization": f"Bearer {self.token}"})

    def stats(self) -> dict:
        return self.admin.get("/_demo/stats").raise_for_status().json()

    def faults(self, **changes: object) -> dict:
        return self.admin.post("/_demo/faults", json=changes).raise_for_status().json()

    def reset(self) -> None:
        self.admin.post("/_demo/reset").raise_for_status()

    def change_os(self, numero: str, **fields: str | None) -> dict:
        """Change fields of an OS for every later read, as the page shows them."""
        return self.admin.post(f"/_demo/os/{numero}", json=fields).raise_for_status().json()

    def stop(self) -> None:
        self.admin.close()
        self.managed.stop(timeout=5)  # a deliberately slow request may be pending


@dataclass
class Stack:
    """Shared pieces: one Redis (AOF, restartable), one SQLite DB, one demo, the env."""

    workdir: Path
    demo: Demo
    redis_port: int
    db_url: str
    api_key: str
    redis_srv: processes.ManagedProcess | None = None
    workers: list[Worker] = field(default_factory=list)

    @classmethod
    def new(cls, api_key: str, workdir: Path | None = None, site: str = "sgo",
            **demo_config: object) -> Stack:
        """A work directory (``make_workdir()`` unless given), a demo site with
        ``demo_config``, a migrated SQLite database in it and a free port for Redis (not
        started: ``start_redis``)."""
        workdir = workdir or make_workdir()
        workdir.mkdir(parents=True, exist_ok=True)
        demo = Demo(workdir, site, **demo_config)
        db_url = f"sqlite:///{workdir}/registro.db"
        upgrade(db_url)
        return cls(workdir=workdir, demo=demo, redis_port=processes.free_port(), db_url=db_url,
                   api_key=api_key)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **overrides: object) -> dict[str, str]:
        env = {**os.environ,
               "REGISTRO_REDIS_URL": self.redis_url,
               "REGISTRO_DATABASE_URL": self.db_url,
               "REGISTRO_LEGACY_URL": self.demo.url,
               "REGISTRO_API_KEYS": self.api_key,
               "REGISTRO_ARTIFACTS_DIR": str(self.workdir / "artifacts"),
               "REGISTRO_TASK_TIME_LIMIT_S": "90",
               "REGISTRO_TASK_SOFT_TIME_LIMIT_S": "80",
               "REGISTRO_TASK_MAX_RETRIES": "2",
               # above most test tasks: a longer one's message is restored while it
               # runs (its own worker drops it once the run ended, as finished)
               "REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": "12",
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
        self.redis_srv = processes.start_redis(self.redis_port, appendonly=True,
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

    def start_worker(self, name: str, **env: object) -> Worker:
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

    def close(self) -> None:
        """Stop the workers, Redis and the demo, and remove the work directory."""
        self.stop_workers()
        self.stop_redis()
        self.demo.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Worker:
    """``celery -A registro.worker.celery_app worker`` in its own process group."""

    def __init__(self, stack: Stack, name: str, env: dict[str, str]) -> None:
        self.stack = stack
        self.hostname = f"{name}@test"
        self.log_path = stack.workdir / f"worker-{name}.log"
        self.managed = processes.start_worker(env, hostname=self.hostname,
                                                   log_path=self.log_path)
        self.proc = self.managed.proc

    def wait_online(self, timeout: float = 60) -> None:
        client = self.stack.redis()

        def online() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            return self.hostname in state.live_worker_tasks(client)

        wait_until(online, timeout, interval=0.1, what=f"worker {self.hostname} online",
                   diagnose=lambda: self.log_path.read_text()[-3000:])

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
        self.managed.stop()  # closes the log


class Api:
    """The API under uvicorn in a subprocess."""

    def __init__(self, stack: Stack, *, api_processes: int = 1, **env: object) -> None:
        port = processes.free_port()
        self.log_path = stack.workdir / f"api-{port}.log"
        run_env = stack.env(**env)
        if api_processes > 1:  # /metrics sums every process's samples, as `registro up`
            metrics_dir = stack.workdir / f"api-{port}-metrics"
            metrics_dir.mkdir()
            run_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        # uvicorn needs ~2 s; a machine shared with other test runs, far more
        self.managed = processes.start_api(run_env, port=port, processes=api_processes,
                                           log_path=self.log_path, timeout=180)
        self.proc, self.port, self.url = self.managed.proc, port, self.managed.url
        self.headers = {"Authorization": f"Bearer {stack.api_key}"}

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=120, **kw)

    def browser_drivers(self) -> int:
        """chromedriver processes started by this API process (one per WebDriver session)."""
        count = 0
        for child in processes.descendants(self.proc.pid):
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
        self.managed.stop()


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="registro-pipeline-"))


def wait_status(client: httpx.Client, task_id: str, until: set[str], timeout: float = 120,
                seen: list | None = None) -> dict:
    """Poll scraping-status until one of ``until``; records every answer in ``seen``."""
    answers = seen if seen is not None else []

    def answer() -> dict:
        body = client.get(f"/api/desenvolvimento/scraping-status/{task_id}").json()
        answers.append(body)
        return body if body.get("status") in until else {}  # {}: falsy, poll again

    return wait_until(answer, timeout, interval=0.05, what=f"{task_id} in {until}",
                      diagnose=lambda: f"last answer: {answers[-1] if answers else None}")


# --- stored records for the background refresh's tests and benchmark -------------------

def open_numeros(count: int, start: int = 20000, closed_statuses: tuple[str, ...] = (
        "Concluída", "Entregue", "Cancelada")) -> list[str]:
    """``count`` demo OS numbers from ``start`` up whose demo status is open."""
    from registro.legacy_demo import data

    out: list[str] = []
    n = start
    while len(out) < count:
        numero = str(n)
        if data.exists(numero) and data.expected_record(numero).os.status not in closed_statuses:
            out.append(numero)
        n += 1
    return out


def seed_records(db_url: str, read_at: dict[str, float], status: str | None = None) -> None:
    """Store the demo's own record of each OS (what a correct scrape stores), as if last
    read at the given epoch seconds; ``status`` overrides the stored status."""
    import datetime as dt

    from sqlalchemy import update

    from registro.db import session_scope
    from registro.legacy_demo import data
    from registro.models import OrdemServico
    from registro.records import save_scraped

    with session_scope(db_url) as session:
        for numero, epoch in read_at.items():
            save_scraped(session, data.expected_record(numero))
            values: dict[str, object] = {
                "scraped_at": dt.datetime.fromtimestamp(epoch, dt.UTC)}
            if status is not None:
                values["status"] = status
            session.execute(update(OrdemServico).where(OrdemServico.numero_os == numero)
                            .values(**values))


def read_times(db_url: str, numeros: list[str]) -> dict[str, float | None]:
    """Each stored OS's last read (epoch seconds; None: not stored or never read)."""
    import datetime as dt

    from sqlalchemy import select

    from registro.db import session_scope
    from registro.models import OrdemServico

    with session_scope(db_url) as session:
        rows = session.execute(select(OrdemServico.numero_os, OrdemServico.scraped_at)
                               .where(OrdemServico.numero_os.in_(numeros))).all()
    out: dict[str, float | None] = dict.fromkeys(numeros)
    for numero, at in rows:
        if at is not None:
            out[numero] = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()
    return out

