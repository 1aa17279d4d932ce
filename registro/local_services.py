"""Start the real services Registro needs on this machine (Redis, PostgreSQL, chromedriver).

Used by ``registro up`` (the README's run command), the tests and the benchmarks.
Every process binds to loopback and is stopped by ``ManagedProcess.stop()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def stop(self, timeout: float = 10.0) -> None:
        for fn in self.on_stop:
            with contextlib.suppress(Exception):  # best-effort cleanup
                fn()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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


def start_redis(
    port: int | None = None, *, appendonly: bool = False, workdir: Path | None = None,
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """A private redis-server on loopback. ``appendonly`` keeps the data across restarts
    of the same ``workdir``."""
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
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc)
    return ManagedProcess("redis", proc, port, f"redis://127.0.0.1:{port}/0",
                          workdir if own_dir else None)


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
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    return ManagedProcess("postgres", proc, port, url, workdir)


def start_chromedriver(port: int | None = None, binary: str = "/usr/bin/chromedriver"
                       ) -> ManagedProcess:
    """A chromedriver speaking W3C WebDriver on loopback: it stands in for the browser
    sidecar of the worker pod (``SELENIUM_URL=http://127.0.0.1:<port>``)."""
    if not Path(binary).exists():
        raise FileNotFoundError(f"{binary} not found (apt-get install chromium chromium-driver)")
    port = port or free_port()
    proc = subprocess.Popen([binary, f"--port={port}", "--allowed-ips=127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc)
    return ManagedProcess("chromedriver", proc, port, f"http://127.0.0.1:{port}")
