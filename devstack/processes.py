"""Start the real processes Registro needs on this machine: Redis, PostgreSQL,
chromedriver, and Registro's own demo legacy system, Celery worker and API.

The one set of launchers used by ``registro up`` (the README's run command), the tests
and the benchmarks (``devstack.stack`` composes them into a whole platform).
Every process binds to loopback and is stopped by ``ManagedProcess.stop()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on ``port`` now. Binds with SO_REUSEADDR, as Redis,
    uvicorn and chromedriver do: a port whose old connections sit in TIME_WAIT after
    an unclean stop is free for them, only a live listener makes it busy."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> str:
    """Who listens on ``port`` ("pid 123 (redis-server)"), as far as we may see."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid:
                    with contextlib.suppress(psutil.Error):
                        return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return "another process"
    except psutil.Error:
        pass
    return "another process"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER):
    a browser whose chromedriver died stays our descendant and can be stopped."""
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` when the process that started it dies,
    even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    def _set() -> None:
        with contextlib.suppress(OSError, AttributeError):
            _libc().prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    return _set


def descendants(pid: int | None = None) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_all(procs: Sequence[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """SIGKILL every process given (still alive and not reused); the ones that remain."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _gone, alive = psutil.wait_procs(list(procs), timeout=timeout)
    return alive


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class ManagedProcess:
    """A child process we started, plus what to clean up after it."""

    name: str
    proc: subprocess.Popen
    port: int
    url: str
    workdir: Path | None = None
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    log_path: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; then every descendant it left (a
        chromedriver's browsers survive their driver)."""
        children = descendants(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        kill_all(children)
        for fn in self.on_stop:
            with contextlib.suppress(Exception):  # best-effort cleanup
                fn()
        if self.workdir and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def which(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra_dirs:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return None


def _output(log_path: Path | None) -> tuple[IO[bytes] | int, list[Callable[[], None]]]:
    if log_path is None:
        return subprocess.DEVNULL, []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 - closed when the process is stopped
    return out, [out.close]


def _listening(managed: ManagedProcess, timeout: float = 20.0) -> ManagedProcess:
    """``managed`` once it listens on its port; stopped if it never does."""
    try:
        wait_for_port(managed.port, timeout=timeout, proc=managed.proc)
    except Exception:
        managed.stop()
        raise
    return managed


def spawn(name: str, args: Sequence[str], *, env: dict[str, str] | None = None,
          log_path: Path | None = None, port: int = 0, url: str = "",
          cwd: Path | None = None) -> ManagedProcess:
    """Start one long-running process in its own process group (a terminal's Ctrl-C
    reaches only its starter, which stops everything in order), output to ``log_path``,
    and dying with its starter."""
    out, on_stop = _output(log_path)
    # PR_SET_PDEATHSIG fires when the forking *thread* ends: only from the main thread.
    main = threading.current_thread() is threading.main_thread()
    proc = subprocess.Popen(list(args), env=env, cwd=cwd, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=die_with_parent() if main else None)
    return ManagedProcess(name, proc, port, url, on_stop=on_stop, log_path=log_path)


def start_redis(
    port: int | None = None, *, appendonly: bool = False, workdir: Path | None = None,
    extra_args: Sequence[str] = (), log_path: Path | None = None,
) -> ManagedProcess:
    """A private redis-server on loopback. ``appendonly`` keeps the data across restarts
    of the same ``workdir`` (every acknowledged write is in the file before the reply, so
    a killed Redis loses nothing; ``appendfsync everysec`` matters only for a machine
    crash)."""
    binary = which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    own_dir = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="registro-redis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "", "--appendonly", "yes" if appendonly else "no",
            "--protected-mode", "yes", "--maxclients", "4000", *extra_args]
    managed = spawn("redis", args, log_path=log_path, port=port,
                    url=f"redis://127.0.0.1:{port}/0")
    managed.workdir = workdir if own_dir else None
    return _redis_serving(_listening(managed))


def _redis_serving(managed: ManagedProcess, timeout: float = 60.0) -> ManagedProcess:
    """Listening is not serving: with an AOF to load, Redis answers LOADING first (a
    restarted test Redis once did, to the test's first read, on a loaded machine)."""
    import redis

    from devstack.waits import wait_until

    client = redis.Redis(port=managed.port, socket_timeout=2)

    def serving() -> bool:
        try:
            client.ping()
        except redis.BusyLoadingError:
            return False
        except (redis.ResponseError, redis.AuthenticationError):
            pass  # NOAUTH and the like: it runs commands
        return True

    try:
        wait_until(serving, timeout, interval=0.05, what=f"redis on {managed.port} loaded")
    except Exception:
        managed.stop()
        raise
    finally:
        client.close()
    return managed


def _pg_bindir() -> Path | None:
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return roots[0] if roots else None


def start_postgres(port: int | None = None) -> ManagedProcess:
    """A throwaway PostgreSQL cluster (initdb in a temp dir), run as the ``postgres`` user
    when we are root. The URL uses the ``postgres`` superuser over loopback with trust auth."""
    bindir = _pg_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="registro-pg-"))
    datadir = workdir / "data"
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        shutil.chown(workdir, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(datadir), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}",
         "-c", "fsync=off", "-c", "max_connections=300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc)
    # The port opens before recovery ends ("the database system is starting up"): wait
    # for a real connection (seen on a loaded machine).
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                            connect_timeout=5).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    return ManagedProcess("postgres", proc, port, url, workdir)


def start_chromedriver(port: int | None = None, binary: str = "/usr/bin/chromedriver",
                       log_path: Path | None = None) -> ManagedProcess:
    """A chromedriver speaking W3C WebDriver on loopback: it stands in for the browser
    sidecar of the worker pod (``SELENIUM_URL=http://127.0.0.1:<port>``)."""
    if not Path(binary).exists():
        raise FileNotFoundError(f"{binary} not found (apt-get install chromium chromium-driver)")
    port = port or free_port()
    managed = spawn("chromedriver", [binary, f"--port={port}", "--allowed-ips=127.0.0.1"],
                    log_path=log_path, port=port, url=f"http://127.0.0.1:{port}")
    return _listening(managed)


def browser_processes(driver_pid: int) -> list[psutil.Process]:
    """The Chromium browsers (main processes, not their renderers or helpers) that a
    chromedriver launched: its descendants named chrom* without ``--type=``."""
    found = []
    for proc in descendants(driver_pid):
        with contextlib.suppress(psutil.Error):
            if proc.name().startswith("chrom") and "driver" not in proc.name() and \
                    not any(a.startswith("--type=") for a in proc.cmdline()):
                found.append(proc)
    return found


def venv_bin(name: str) -> str:
    """A console script of this interpreter's environment (celery, uvicorn...)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


DEMO_SERVE = ("import sys; from registro.legacy_demo.app import serve; "
              "from registro.legacy_demo.config import DemoConfig; "
              "serve('127.0.0.1', int(sys.argv[1]), DemoConfig(), sys.argv[2])")


def start_demo(port: int | None = None, *, env: dict[str, str] | None = None,
               log_path: Path | None = None, timeout: float = 90.0,
               site: str = "sgo") -> ManagedProcess:
    """A demo legacy site (configured by ``REGISTRO_DEMO_*`` in ``env``): ``sgo``, the
    default, or ``portal`` (``registro.legacy_demo.sites``)."""
    port = port or free_port()
    managed = spawn("demo", [sys.executable, "-c", DEMO_SERVE, str(port), site], env=env,
                    log_path=log_path, port=port, url=f"http://127.0.0.1:{port}")
    return _listening(managed, timeout)


def worker_command(concurrency: int, hostname: str = "worker@%h", loglevel: str = "info",
                   *, pool: str = "prefork", queues: str | None = None) -> list[str]:
    return [venv_bin("celery"), "-A", "registro.worker.celery_app", "worker",
            f"--pool={pool}", f"--concurrency={concurrency}", f"--hostname={hostname}",
            *([f"--queues={queues}"] if queues else []),
            "--without-mingle", "--without-gossip", f"--loglevel={loglevel}"]


def start_worker(env: dict[str, str], *, hostname: str = "worker@%h", concurrency: int = 1,
                 loglevel: str = "info", log_path: Path | None = None, pool: str = "prefork",
                 queues: str | None = None) -> ManagedProcess:
    """One Celery worker (not waited for: its heartbeat in Redis says when it is up)."""
    return spawn("worker", worker_command(concurrency, hostname, loglevel, pool=pool,
                                          queues=queues), env=env, log_path=log_path)


API_APP = "registro.api.main:app_factory"


def api_command(host: str, port: int, processes: int = 1, *, app: str = API_APP,
                extra_args: Sequence[str] = ()) -> list[str]:
    """With several processes uvicorn's supervisor kills one that leaves its health ping
    unanswered for 5 s (its default), resetting the connections it holds: a starting
    process on a loaded laptop can take that long. 30 s keeps real hangs caught."""
    return [venv_bin("uvicorn"), "--factory", app, "--host", host,
            "--port", str(port), "--timeout-graceful-shutdown", "30", "--no-access-log",
            "--timeout-keep-alive", "75", "--workers", str(max(1, processes)),
            "--timeout-worker-healthcheck", "30", *extra_args]


def start_api(env: dict[str, str], *, port: int | None = None, host: str = "127.0.0.1",
              log_path: Path | None = None, timeout: float = 30.0, processes: int = 1,
              app: str = API_APP, extra_args: Sequence[str] = (),
              cwd: Path | None = None) -> ManagedProcess:
    """The API under uvicorn (``processes`` of them on one port; ``app``: another
    factory, e.g. a benchmark's), waited for until it listens."""
    port = port or free_port()
    managed = spawn("api", api_command(host, port, processes, app=app, extra_args=extra_args),
                    env=env, log_path=log_path, port=port, url=f"http://{host}:{port}", cwd=cwd)
    return _listening(managed, timeout)
