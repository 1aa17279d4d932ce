"""``registro up``: the whole platform on this machine (what ``make run`` calls).

Starts Redis (AOF in ./var/redis), the demo legacy system, a chromedriver as the
worker's WebDriver endpoint, one Celery worker, the API on 127.0.0.1:8000 and,
with ``--flower``, Flower. Prints the local API key and curl commands; Ctrl-C
stops everything. Also ``registro worker`` and ``registro api``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from registro import local_services
from registro.local_services import ManagedProcess, free_port, wait_for_port

VAR = Path("var")
KEY_FILE = VAR / "api-key"


def _wait_worker_online(redis_url: str, worker: ManagedProcess, logs: Path,
                        timeout: float = 90.0) -> None:
    """Until the worker's heartbeat is in Redis: before that, lookups would take the
    synchronous fallback instead of the queue."""
    import redis

    from registro.pipeline_state import workers_online

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while workers_online(client)[0] == 0:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.proc.returncode} (see {logs}/)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not online after {timeout:.0f}s (see {logs}/)")
            time.sleep(0.2)
    finally:
        client.close()


def local_api_key(path: Path = KEY_FILE) -> str:
    """The persisted local key, created (mode 0600) on first use."""
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def worker_command(concurrency: int, hostname: str = "worker@%h", loglevel: str = "info"
                   ) -> list[str]:
    return [_bin("celery"), "-A", "registro.worker.celery_app", "worker",
            "--pool=prefork", f"--concurrency={concurrency}", f"--hostname={hostname}",
            "--without-mingle", "--without-gossip", f"--loglevel={loglevel}"]


def api_command(host: str, port: int, processes: int = 1) -> list[str]:
    return [_bin("uvicorn"), "--factory", "registro.api.main:app_factory", "--host", host,
            "--port", str(port), "--timeout-graceful-shutdown", "30", "--no-access-log",
            "--timeout-keep-alive", "75", "--workers", str(max(1, processes))]


def api_processes() -> int:
    """REGISTRO_API_PROCESSES, or one API process per core (api/README.md, benchmark)."""
    from registro.settings import get_settings

    return get_settings().api_processes or os.cpu_count() or 1


def _spawn(name: str, args: list[str], env: dict, port: int, url: str,
           log_dir: Path) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    return ManagedProcess(name, proc, port, url, on_stop=[out.close])


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def register(app: typer.Typer) -> None:
    """Add ``up``, ``worker`` and ``api`` to the ``registro`` CLI."""

    @app.command()
    def up(
        port: int = typer.Option(8000, help="API port (on 127.0.0.1)."),
        demo_port: int = typer.Option(8001, help="Demo legacy system port."),
        redis_port: int = typer.Option(6379, help="Redis port (a free one if taken; 0: any free port)."),
        concurrency: int = typer.Option(1, help="Browsers the worker drives in parallel."),
        flower: bool = typer.Option(False, help="Also start Flower on 127.0.0.1:5555."),
    ) -> None:
        """Start Redis, the demo system, chromedriver, a worker and the API; Ctrl-C stops."""
        from registro.db import upgrade
        from registro.settings import get_settings

        VAR.mkdir(exist_ok=True)
        logs = VAR / "logs"
        key = os.environ.get("REGISTRO_API_KEYS", "").split(",")[0].strip() or local_api_key()
        started: list[ManagedProcess] = []

        def stop_all(*_args) -> None:
            for managed in reversed(started):
                typer.echo(f"stopping {managed.name}", err=True)
                managed.stop(timeout=40)
            started.clear()

        try:
            if not redis_port or not _port_free(redis_port):
                redis_port = free_port()  # something else already listens there
            redis_srv = local_services.start_redis(
                redis_port, appendonly=True, workdir=VAR / "redis")
            started.append(redis_srv)
            demo_url = f"http://127.0.0.1:{demo_port}"
            env = {**os.environ, "REGISTRO_REDIS_URL": redis_srv.url,
                   "REGISTRO_API_KEYS": os.environ.get("REGISTRO_API_KEYS") or key,
                   "REGISTRO_LEGACY_URL": os.environ.get("REGISTRO_LEGACY_URL") or demo_url}
            env.setdefault("REGISTRO_DATABASE_URL", get_settings().database_url)
            upgrade(env["REGISTRO_DATABASE_URL"])

            if not os.environ.get("REGISTRO_LEGACY_URL"):
                demo = _spawn("demo", [sys.executable, "-c",
                                       ("import sys; from registro.legacy_demo.app import serve; "
                                       "from registro.legacy_demo.config import DemoConfig; "
                                       "serve('127.0.0.1', int(sys.argv[1]), DemoConfig())"),
                                       str(demo_port)], env, demo_port, demo_url, logs)
                started.append(demo)
                wait_for_port(demo_port, proc=demo.proc)

            if not env.get("SELENIUM_URL") and not env.get("REGISTRO_SELENIUM_URL"):
                driver = local_services.start_chromedriver()
                started.append(driver)
                env["SELENIUM_URL"] = driver.url

            worker = _spawn("worker", worker_command(concurrency), env, 0, "", logs)
            started.append(worker)
            _wait_worker_online(redis_srv.url, worker, logs)
            processes = api_processes()
            api_env = dict(env)
            if processes > 1:  # the processes' counters summed on /metrics
                metrics_dir = VAR / "api-metrics"
                shutil.rmtree(metrics_dir, ignore_errors=True)
                metrics_dir.mkdir(parents=True)
                api_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            api = _spawn("api", api_command("127.0.0.1", port, processes), api_env, port,
                         f"http://127.0.0.1:{port}", logs)
            started.append(api)
            wait_for_port(port, timeout=30, proc=api.proc)
            if flower:
                started.append(_spawn("flower", [
                    _bin("celery"), "-A", "registro.worker.celery_app", "flower",
                    "--address=127.0.0.1", "--port=5555"], env, 5555,
                    "http://127.0.0.1:5555", logs))

            base = f"http://127.0.0.1:{port}"
            typer.echo(f"""
Registro is running (logs in {logs}/):
  API       {base}   (docs: {base}/docs, metrics: {base}/metrics)
  demo      {env['REGISTRO_LEGACY_URL']}
  Redis     {redis_srv.url}
  WebDriver {env['SELENIUM_URL']}{"" if not flower else chr(10) + "  Flower    http://127.0.0.1:5555"}

Local API key (saved in {KEY_FILE}): {key}

  export KEY=$(cat {KEY_FILE})
  curl -s -X POST -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/buscar-os-async/12345
  curl -s -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/scraping-status/scraping_12345
  curl -s -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/queue-status

Ctrl-C stops everything.""")
            def interrupt(*_args):
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, interrupt)
            signal.signal(signal.SIGINT, interrupt)  # also when started in the background
            while True:
                for managed in started:
                    if managed.proc.poll() is not None:
                        raise RuntimeError(f"{managed.name} exited with "
                                           f"{managed.proc.returncode} (see {logs}/)")
                time.sleep(1)
        except KeyboardInterrupt:
            typer.echo("\nstopping...", err=True)
        finally:
            stop_all()

    @app.command()
    def worker(concurrency: int = typer.Option(None, help="Default: REGISTRO_WORKER_CONCURRENCY."),
               hostname: str = typer.Option("worker@%h"),
               loglevel: str = typer.Option("info")) -> None:
        """Run one Celery worker (SIGTERM drains: the task in hand finishes)."""
        from registro.settings import get_settings

        n = concurrency or get_settings().worker_concurrency
        args = worker_command(n, hostname, loglevel)
        os.execvp(args[0], args)

    @app.command()
    def api(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000)) -> None:
        """Run the API (uvicorn). Needs REGISTRO_API_KEYS."""
        args = api_command(host, port)
        os.execvp(args[0], args)
