"""No leaked browsers: a pool process deletes the WebDriver session its killed
predecessor left behind, before its first scrape.

A pool process killed by SIGKILL, the hard time limit or the OOM killer never quits
its session: the WebDriver endpoint (the pod's Selenium sidecar, or the chromedriver
``registro up`` starts) keeps that browser open and, with one session slot, makes the
next session wait for its own session timeout. ``GET /sessions`` is not W3C (chromedriver
dropped it, the Selenium server answers only ``/status``), so nothing can list them
reliably; instead each pool process records the session it opens in a small file, one
per slot (``<state dir>/<worker hostname>.<pool index>.json``). Celery gives a restarted
pool process the index of the one that died, and the worker's main process owns every
slot of its hostname, so:

- a pool process, at start, cleans its own slot;
- the worker's main process, at start, cleans every slot of its hostname (the whole
  worker was killed; in Kubernetes the container restarts with the same pod name and the
  same ``/tmp`` emptyDir, while the sidecar keeps running).

Cleaning = ``DELETE /session/{id}`` on the recorded endpoint (W3C: both chromedriver and
the Selenium server implement it), then, for a local chromedriver the dead process had
started itself, killing that chromedriver and its browsers (matched by pid and start
time, so a reused pid is never hit) and removing its profile directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from billiard.process import current_process
from celery import signals

from registro.settings import get_settings

log = logging.getLogger("registro.worker.webdriver_sessions")

# The worker's hostname, set in the main process before the pool forks (inherited).
_worker_hostname = "worker"


def slot_path(state_dir: Path, hostname: str, index: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in hostname)
    return state_dir / f"{safe}.{index}.json"


def _endpoint(browser: object, selenium_url: str | None) -> str | None:
    service = getattr(browser, "service", None)
    if service is not None:
        with contextlib.suppress(Exception):
            return str(service.service_url)
    return selenium_url


def record(path: Path, browser: object, selenium_url: str | None) -> None:
    """Write down the live session of this slot (atomic replace)."""
    driver = getattr(browser, "driver", None)
    session_id = getattr(driver, "session_id", None)
    if not session_id:
        return
    entry: dict[str, object] = {"endpoint": _endpoint(browser, selenium_url),
                                "session_id": session_id, "owner_pid": os.getpid(),
                                "user_data_dir": getattr(browser, "user_data_dir", None)}
    driver_pid = getattr(browser, "driver_pid", None)
    if driver_pid:
        with contextlib.suppress(psutil.Error):
            entry["driver_pid"] = driver_pid
            entry["driver_started"] = psutil.Process(driver_pid).create_time()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry))
    tmp.replace(path)


def recorded_session(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("session_id")
    except (OSError, ValueError):
        return None


def forget(path: Path, session_id: str | None = None) -> None:
    """Drop the record (after a clean quit); only if it still names ``session_id``."""
    if session_id is not None and recorded_session(path) != session_id:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def delete_session(endpoint: str, session_id: str, timeout_s: float = 10.0) -> bool:
    """W3C Delete Session. True when the endpoint closed it (or no longer knew it)."""
    url = f"{endpoint.rstrip('/')}/session/{session_id}"
    req = urllib.request.Request(url, method="DELETE")  # noqa: S310 - the configured WebDriver URL
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            return 200 <= resp.status < 300
    except urllib.error.HTTPError as exc:
        return exc.code == 404  # "invalid session id": already gone
    except (OSError, ValueError) as exc:
        log.info("could not reach %s to delete session %s: %s", endpoint, session_id, exc)
        return False


def _kill_tree(pid: int, started: float | None) -> int:
    """Kill a process we recorded and its descendants; 0 if the pid is not it any more."""
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 0.01:
            return 0
        procs = [*proc.children(recursive=True), proc]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=10)
    return len(procs)


def clean(path: Path, *, force: bool = False) -> bool:
    """Delete the session recorded in ``path``; True if there was one. Unless ``force``
    (the caller took over the slot, so its previous owner has exited), a record whose
    owner process still lives is left alone."""
    try:
        entry = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        forget(path)
        return False
    owner = entry.get("owner_pid")
    if not force and owner and owner != os.getpid() and psutil.pid_exists(owner):
        with contextlib.suppress(psutil.Error):
            if psutil.Process(owner).status() != psutil.STATUS_ZOMBIE:
                return False  # its process still lives: not left behind
    session_id, endpoint = entry.get("session_id"), entry.get("endpoint")
    deleted = bool(session_id and endpoint and delete_session(endpoint, session_id))
    killed = 0
    if entry.get("driver_pid"):
        killed = _kill_tree(int(entry["driver_pid"]), entry.get("driver_started"))
    if entry.get("user_data_dir"):
        shutil.rmtree(entry["user_data_dir"], ignore_errors=True)
    forget(path)
    log.warning("removed the WebDriver session %s left by pool process %s on %s "
                "(deleted=%s, local processes killed=%d)", session_id, owner, endpoint,
                deleted, killed)
    return True


def clean_all(state_dir: Path, hostname: str) -> int:
    """Every slot of this worker hostname (called by the main process at start)."""
    prefix = slot_path(state_dir, hostname, 0).name.rsplit(".", 2)[0] + "."
    if not state_dir.is_dir():
        return 0
    return sum(clean(p) for p in sorted(state_dir.glob(f"{prefix}*.json")))


# --- the worker's slots: cleaned at start (connected when the task module loads) -----

def current_slot() -> Path:
    """This pool process's session record."""
    index = getattr(current_process(), "index", 0)
    return slot_path(get_settings().webdriver_state_dir, _worker_hostname, index)


@signals.worker_init.connect
def _on_worker_init(sender=None, **_kwargs):
    """Main process, before the pool starts: remove the sessions a previous incarnation
    of this worker (same hostname) left on its WebDriver endpoint."""
    global _worker_hostname
    _worker_hostname = str(getattr(sender, "hostname", None) or "worker")
    try:
        clean_all(get_settings().webdriver_state_dir, _worker_hostname)
    except Exception:
        log.warning("cleaning leftover WebDriver sessions failed", exc_info=True)


@signals.worker_process_init.connect
def _on_process_init(sender=None, **_kwargs):
    """A pool process takes over its slot: a predecessor killed mid-task (SIGKILL, hard
    time limit, OOM) left its session there. Done before the first task."""
    global _worker_hostname
    if sender:  # the hostname: a pool child that is a fresh interpreter never ran worker_init
        _worker_hostname = str(sender)
    try:
        clean(current_slot(), force=True)
    except Exception:
        log.warning("cleaning the previous WebDriver session failed", exc_info=True)
