"""The README's run command: ``make run`` installs, then runs ``registro up``.

Runs ``registro up`` for real (Redis, demo legacy system, chromedriver, a worker, the
API) in a scratch directory, follows the guide's flow with HTTP, then stops it (Ctrl-C,
SIGTERM, or one of its children dying) and checks that nothing it started is left
running: its children and every process they started, browsers included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from devstack.processes import free_port, port_is_free, wait_for_port
from devstack.waits import wait_until

REGISTRO = Path(sys.executable).parent / "registro"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("REGISTRO_") and k not in {"DATABASE_URL", "REDIS_URL",
                                                          "SELENIUM_URL"}}


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(REGISTRO), "up", "--port", str(port), "--demo-port", str(free_port()), *extra],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_port(port, timeout=120, proc=proc)
    return proc, port


def _api(tmp_path: Path, port: int) -> httpx.Client:
    key = (tmp_path / "var" / "api-key").read_text().strip()
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                        headers={"Authorization": f"Bearer {key}"})


def _scrape(api: httpx.Client, numero: str) -> dict:
    first = api.post(f"/api/desenvolvimento/buscar-os-async/{numero}").json()
    assert first["status"] == "queued" and first["task_id"] == f"scraping_{numero}", first
    seen: list[str] = []

    def finished() -> dict | None:
        status = api.get(first["instructions"]["check_status"]).json()
        seen.append(status["status"])
        return status if status["status"] in {"SUCCESS", "FAILURE"} else None

    status = wait_until(finished, 120, what=f"the scrape of {numero} to finish",
                        diagnose=lambda: f"statuses seen: {seen}")
    assert status["status"] == "SUCCESS", (seen, status)
    return status


def _browsers(procs: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for p in procs:
        try:
            if p.name().startswith("chrom") and "driver" not in p.name():
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def _stop(proc: subprocess.Popen, sig: int | None) -> str:
    if sig is not None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _assert_all_gone(procs: list[psutil.Process], out: str) -> None:
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive, (alive, out[-3000:])


def test_registro_up_serves_the_guide_flow_and_stops_cleanly(tmp_path, browser_available):
    proc, port = _start(tmp_path, "--redis-port", "0")
    children: list[psutil.Process] = []
    try:
        names = {c.name() for c in psutil.Process(proc.pid).children(recursive=True)}
        assert {"redis-server", "chromedriver"} <= names, names
        api = _api(tmp_path, port)
        post = "/api/desenvolvimento/buscar-os-async/4321"
        status = _scrape(api, "4321")
        assert status["result"]["scraped_fields"] >= 45
        assert api.post(post).json()["status"] == "found_existing"
        queue = api.get("/api/desenvolvimento/queue-status").json()
        assert queue["celery_available"] is True and queue["queue_info"]["workers_online"] == 1
        assert httpx.post(f"http://127.0.0.1:{port}{post}").status_code == 401
        assert (tmp_path / "var" / "registro.db").exists()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert _browsers(children), [c.name() for c in children]  # the scrape's browser
    finally:
        out = _stop(proc, signal.SIGINT)
    _assert_all_gone(children, out)
    assert proc.returncode == 0, out
    assert "Local API key" in out


def test_registro_up_stops_everything_when_a_child_dies(tmp_path, browser_available):
    proc, port = _start(tmp_path, "--redis-port", "0")
    children: list[psutil.Process] = []
    try:
        _scrape(_api(tmp_path, port), "4322")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert _browsers(children)
        (worker,) = [c for c in psutil.Process(proc.pid).children()
                     if "celery" in " ".join(c.cmdline())]
        worker.kill()  # the worker's main process: its pool process and browser stay
    finally:
        out = _stop(proc, None if children else signal.SIGTERM)
    _assert_all_gone(children, out)
    assert proc.returncode == 1, out
    assert f"worker (pid {worker.pid}) was killed by signal 9; its log: var/logs/worker.log" \
        in out, out[-3000:]


def _time_wait_on(port: int) -> None:
    """Leave a connection in TIME_WAIT on ``port``: what an unclean stop of a server
    leaves behind (the side that closes first keeps TIME_WAIT for 60 s on Linux)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first
    assert client.recv(1) == b""  # its FIN arrived: then the client closes
    client.close()
    server.close()


def test_registro_up_keeps_the_redis_port_after_an_unclean_stop_and_stops_on_sigterm(
        tmp_path, browser_available):
    redis_port = free_port()
    _time_wait_on(redis_port)
    states = {c.status for c in psutil.net_connections("tcp") if c.laddr and
              c.laddr.port == redis_port}
    assert states == {psutil.CONN_TIME_WAIT}, states
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", redis_port))  # the old check: "busy"
    assert port_is_free(redis_port)  # what Redis itself will be able to do

    proc, _port = _start(tmp_path, "--redis-port", str(redis_port))
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
        # The Redis it started listens on the asked port. (Not read from the banner: it is
        # printed after the API's port opens, and SIGTERM may come first.)
        listening = {conn.laddr.port for c in children if c.name() == "redis-server"
                     for conn in c.net_connections("tcp") if conn.status == psutil.CONN_LISTEN}
        assert redis_port in listening, listening
    finally:
        out = _stop(proc, signal.SIGTERM)
    _assert_all_gone(children, out)
    assert proc.returncode == 0, out
    assert "instead" not in out, out[-3000:]


def test_registro_up_names_the_process_holding_a_busy_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        proc = subprocess.Popen(
            [str(REGISTRO), "up", "--port", str(busy), "--redis-port", str(busy)],
            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        out = _stop(proc, None)
    assert proc.returncode != 0
    assert f"port {busy} for the API is in use by pid {os.getpid()}" in out, out
