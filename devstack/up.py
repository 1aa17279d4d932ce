"""``registro up``: the whole platform on this machine (what ``make run`` calls).

Starts Redis (AOF in ./var/redis), the demo legacy system, a chromedriver as the
worker's WebDriver endpoint, one Celery worker, the API on 127.0.0.1:8000, the web
demo page (``web/dist/demo``, when built) on 127.0.0.1:8002 and, with ``--flower``,
Flower. Prints the local API key, the demo page's address and curl commands; Ctrl-C
stops everything. Also ``registro worker`` and ``registro api``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import typer

from devstack import processes
from devstack.processes import (
    ManagedProcess,
    api_command,
    free_port,
    venv_bin,
    wait_for_port,
    worker_command,
)
from registro.evidence_cli import LOCAL_API_KEY_FILE

VAR = Path("var")
KEY_FILE = LOCAL_API_KEY_FILE

# Built by `make web` (npm run build in web/); not part of the Python package.
WEB_DEMO_DIR = Path(__file__).resolve().parent.parent / "web" / "dist" / "demo"


def demo_page_url(web_url: str, api_url: str, key: str) -> str:
    """The page's address with the API and the key in the fragment, the way notebook
    servers hand over their token: browsers never send a fragment to any server, so the
    key stays out of request logs and out of the served files."""
    return f"{web_url}/#{urlencode({'api': api_url, 'key': key})}"


def static_server_command(directory: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
            "--directory", str(directory)]


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


def api_processes() -> int:
    """REGISTRO_API_PROCESSES, or one API process per core (api/README.md, benchmark)."""
    from registro.settings import get_settings

    return get_settings().api_processes or os.cpu_count() or 1


def _spawn(name: str, args: list[str], env: dict, port: int, url: str,
           log_dir: Path) -> ManagedProcess:
    return processes.spawn(name, args, env=env, log_path=log_dir / f"{name}.log",
                                port=port, url=url)


class ChildExited(Exception):
    """A process ``registro up`` started has died: the stack stops."""

    def __init__(self, managed: ManagedProcess) -> None:
        code = managed.proc.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 \
            else f"exited with code {code}"
        log = f"; its log: {managed.log_path}" if managed.log_path else ""
        super().__init__(f"{managed.name} (pid {managed.proc.pid}) {how}{log}")


class Stop(Exception):
    """SIGTERM, SIGINT or SIGHUP received."""


def _check_port(what: str, port: int) -> None:
    if not processes.port_is_free(port):
        raise typer.BadParameter(
            f"port {port} for the {what} is in use by {processes.port_holder(port)}; "
            f"stop it or pass another port")


def register(app: typer.Typer) -> None:
    """Add ``up``, ``worker`` and ``api`` to the ``registro`` CLI."""

    @app.command()
    def up(
        port: int = typer.Option(8000, help="API port (on 127.0.0.1)."),
        demo_port: int = typer.Option(8001, help="Demo legacy system port."),
        redis_port: int = typer.Option(
            6379, help="Redis port (if another process listens there, a free one, and "
            "it says so; 0: any free port)."),
        concurrency: int = typer.Option(1, help="Browsers the worker drives in parallel."),
        flower: bool = typer.Option(False, help="Also start Flower on 127.0.0.1:5555."),
        web_port: int = typer.Option(8002, help="Web demo page port (on 127.0.0.1); 0: no page."),
    ) -> None:
        """Start Redis, the demo system, chromedriver, a worker and the API; Ctrl-C stops."""
        from registro.db import upgrade
        from registro.settings import get_settings

        def on_signal(signum: int, _frame: object) -> None:
            raise Stop(signal.Signals(signum).name)

        # From the first moment: a SIGTERM during start-up must stop what started.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
        # Orphans (a browser whose chromedriver died) become our children, so the last
        # sweep below finds them.
        processes.become_subreaper()
        VAR.mkdir(exist_ok=True)
        logs = VAR / "logs"
        key = os.environ.get("REGISTRO_API_KEYS", "").split(",")[0].strip() or local_api_key()
        started: list[ManagedProcess] = []
        exit_code = 0

        def stop_all() -> None:
            for managed in reversed(started):
                typer.echo(f"stopping {managed.name}", err=True)
                managed.stop(timeout=40)
            started.clear()
            leftovers = processes.descendants()
            if leftovers:
                typer.echo(f"stopping {len(leftovers)} leftover processes "
                           f"(pids {sorted(p.pid for p in leftovers)})", err=True)
                processes.kill_all(leftovers)

        try:
            _check_port("API", port)
            if not os.environ.get("REGISTRO_LEGACY_URL"):
                _check_port("demo system", demo_port)
            if redis_port and not processes.port_is_free(redis_port):
                taken = free_port()
                typer.echo(f"Redis: port {redis_port} is in use by "
                           f"{processes.port_holder(redis_port)}; this stack's Redis "
                           f"listens on {taken} instead (REDIS_URL below).", err=True)
                redis_port = taken
            redis_srv = processes.start_redis(
                redis_port or None, appendonly=True, workdir=VAR / "redis",
                log_path=logs / "redis.log")
            started.append(redis_srv)
            demo_url = f"http://127.0.0.1:{demo_port}"
            env = {**os.environ, "REGISTRO_REDIS_URL": redis_srv.url,
                   "REGISTRO_API_KEYS": os.environ.get("REGISTRO_API_KEYS") or key,
                   "REGISTRO_LEGACY_URL": os.environ.get("REGISTRO_LEGACY_URL") or demo_url}
            env.setdefault("REGISTRO_DATABASE_URL", get_settings().database_url)
            env.setdefault("REGISTRO_WEBDRIVER_STATE_DIR", str((VAR / "webdriver").resolve()))
            upgrade(env["REGISTRO_DATABASE_URL"])

            if not os.environ.get("REGISTRO_LEGACY_URL"):
                started.append(processes.start_demo(demo_port, env=env,
                                                         log_path=logs / "demo.log"))

            if not env.get("SELENIUM_URL") and not env.get("REGISTRO_SELENIUM_URL"):
                driver = processes.start_chromedriver(log_path=logs / "chromedriver.log")
                started.append(driver)
                env["SELENIUM_URL"] = driver.url

            serve_web = bool(web_port) and (WEB_DEMO_DIR / "index.html").exists()
            if serve_web and not processes.port_is_free(web_port):
                web_port = free_port()  # something else already listens there
            web_url = f"http://127.0.0.1:{web_port}"
            if serve_web:
                # Its own origin, allowed by the API's CORS setting: the same path a host
                # application on another origin takes; the API serves no files.
                origins = [o for o in env.get("REGISTRO_CORS_ORIGINS", "").split(",") if o]
                env["REGISTRO_CORS_ORIGINS"] = ",".join([*origins, web_url])
                web = _spawn("web", static_server_command(WEB_DEMO_DIR, web_port),
                             {"PATH": os.environ.get("PATH", "")},  # no secrets: it serves files
                             web_port, web_url, logs)
                started.append(web)  # its port is awaited after the API's: they start in parallel

            worker = processes.start_worker(env, concurrency=concurrency,
                                                 log_path=logs / "worker.log")
            started.append(worker)
            _wait_worker_online(redis_srv.url, worker, logs)
            api_count = api_processes()
            api_env = dict(env)
            if api_count > 1:  # the processes' counters summed on /metrics
                metrics_dir = VAR / "api-metrics"
                shutil.rmtree(metrics_dir, ignore_errors=True)
                metrics_dir.mkdir(parents=True)
                api_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            started.append(processes.start_api(api_env, port=port, processes=api_count,
                                                    log_path=logs / "api.log"))
            if serve_web:
                wait_for_port(web_port, timeout=30, proc=web.proc)
            if flower:
                started.append(_spawn("flower", [
                    venv_bin("celery"), "-A", "registro.worker.celery_app", "flower",
                    "--address=127.0.0.1", "--port=5555"], env, 5555,
                    "http://127.0.0.1:5555", logs))

            base = f"http://127.0.0.1:{port}"
            page = (f"  web page  {demo_page_url(web_url, base, key)}" if serve_web else
                    "  web page  not built (make web)" if web_port else "")
            typer.echo(f"""
Registro is running (logs in {logs}/):
  API       {base}   (docs: {base}/docs, metrics: {base}/metrics)
  demo      {env['REGISTRO_LEGACY_URL']}
  Redis     {redis_srv.url}
  WebDriver {env['SELENIUM_URL']}{"" if not flower else chr(10) + "  Flower    http://127.0.0.1:5555"}
{page}

Local API key (saved in {KEY_FILE}): {key}

  export KEY=$(cat {KEY_FILE})
  curl -s -X POST -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/buscar-os-async/12345
  curl -s -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/scraping-status/scraping_12345
  curl -s -H "Authorization: Bearer $KEY" {base}/api/desenvolvimento/queue-status

Ctrl-C stops everything.""")
            while True:
                for managed in started:
                    if managed.proc.poll() is not None:
                        raise ChildExited(managed)
                time.sleep(0.5)
        except Stop as why:
            typer.echo(f"\n{why}: stopping...", err=True)
        except ChildExited as died:
            typer.echo(f"\n{died}: stopping everything else...", err=True)
            exit_code = 1
        except (RuntimeError, TimeoutError, OSError) as exc:
            typer.echo(f"\nstart-up failed: {exc} (logs in {logs}/)", err=True)
            exit_code = 1
        finally:
            # A second signal while stopping must not cut the cleanup short.
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            stop_all()
        if exit_code:
            raise typer.Exit(exit_code)

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
