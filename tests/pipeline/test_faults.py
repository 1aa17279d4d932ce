"""Faults the transport alone does not survive (issue 13), on a stack of this module's
own: a worker frozen with a message in hand while Redis dies, and a pool process
SIGKILLed with its WebDriver session open."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import psutil
import pytest

from devstack import processes
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro.celery_config import make_celery
from registro.queue import TASK_NAME, read_queue_depth
from registro.settings import Settings
from tests.pipeline.harness import Api, Worker, wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"
BOUND_S = 3 + 1  # REGISTRO_RECONCILE_GRACE_S + REGISTRO_RECONCILE_INTERVAL_S (harness)
SLACK_S = 30  # a loaded, shared machine: the bound is checked, not timed


@pytest.fixture
def api(private_stack):
    a = Api(private_stack)
    yield a
    a.stop()


def _blocked_in_brpop(stack) -> bool:
    return any(c.get("cmd") == "brpop" and "b" in c.get("flags", "")
               for c in stack.redis().client_list())


def _freeze_with_a_message_in_hand(stack, c: httpx.Client, worker: Worker) -> str:
    """SIGSTOP the worker while it waits in BRPOP, then publish: Redis hands the message
    to the stopped worker. kombu's BRPOP times out after 1 s and the stopped worker
    cannot issue the next one, so when the publish comes too late the message stays in
    the queue: then the worker is resumed, runs it, and we try again with another OS."""
    r = stack.redis()
    for numero in ("2101", "2102", "2103", "2104", "2105", "2106"):
        wait_until(lambda: _blocked_in_brpop(stack), 60, what="the worker waits in BRPOP")
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        body = c.post(POST.format(numero)).json()
        assert body["status"] == "queued" and not body["already_queued"], body
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and read_queue_depth(r).waiting:
            time.sleep(0.02)
        if read_queue_depth(r).waiting == 0:
            return numero
        os.killpg(worker.proc.pid, signal.SIGCONT)  # too late: let it run, try again
        assert wait_status(c, body["task_id"], {"SUCCESS", "FAILURE"})["status"] == "SUCCESS"
    raise AssertionError("never caught the worker inside BRPOP")


def test_message_taken_by_a_frozen_worker_is_republished_after_redis_restarts(
        private_stack, api):
    s = private_stack
    s.stop_workers()
    frozen = s.start_worker("frozen")
    try:
        with api.client() as c:
            numero = _freeze_with_a_message_in_hand(s, c, frozen)
            task_id = f"scraping_{numero}"
            s.demo.reset()
            r = s.redis()
            # The message left the queue and, the worker being stopped, nothing wrote it
            # to the unacked hash: it exists only in the frozen worker's socket buffer.
            assert r.hlen("unacked") == 0
            s.kill_redis()
            s.start_redis()  # same port, same AOF
            r = s.redis()
            assert state.read_task(r, task_id) is not None  # recorded, claimed, but
            assert state.claim_holder(r, numero) is not None
            assert read_queue_depth(r).total == 0  # no message anywhere: lost
            rescuer = s.start_worker("rescuer")
            online = time.monotonic()

            # The same OS asked again, even forced: the task that exists is the answer
            # (no second task), and that task does run.
            again = c.post(POST.format(numero), params={"forcar": "true"}).json()
            assert again["status"] == "queued" and again["already_queued"] is True, again
            assert again["task_id"] == task_id
            wait_until(lambda: state.republished_count(r) > 0, BOUND_S + SLACK_S,
                       what="the reconciler published the task again")
            republished_after = time.monotonic() - online
            done = wait_status(c, task_id, {"SUCCESS", "FAILURE"}, timeout=120)
            assert done["status"] == "SUCCESS", done
            assert c.post(POST.format(numero)).json()["status"] == "found_existing"
        assert republished_after <= BOUND_S + SLACK_S
        assert state.republished_count(r) == 1
        # Only the rescuer scraped it: one search per try it logged (a transient error
        # on a loaded machine may add a retry), none by the frozen worker.
        tries = rescuer.log_path.read_text().count("scrape started")
        assert s.demo.stats()["searches"] == tries >= 1
        assert state.open_tasks(r) == {}  # closed, claim released
        assert state.claim_holder(r, numero) is None
        assert "published again" in rescuer.log_path.read_text()
    finally:
        frozen.kill()  # SIGKILL ends a stopped process too
        frozen.stop()
        s.workers.remove(frozen)


def _pool_children(worker: Worker) -> list[psutil.Process]:
    return [p for p in psutil.Process(worker.proc.pid).children()
            if "python" in p.name() or "celery" in p.name()]


def _session_alive(driver_url: str, session_id: str) -> bool:
    r = httpx.get(f"{driver_url}/session/{session_id}/url", timeout=10)
    return r.status_code == 200


def test_sigkilled_pool_process_leaves_no_browser_behind(private_stack, api):
    """The issue's `make run` set-up: the worker drives a browser through a shared
    WebDriver endpoint (chromedriver here, the Selenium sidecar in Kubernetes)."""
    s = private_stack
    s.stop_workers()
    driver = processes.start_chromedriver()
    try:
        worker = s.start_worker("leaky", SELENIUM_URL=driver.url)
        slot = s.workdir / "webdriver" / f"{worker.hostname}.0.json"
        with api.client() as c:
            first = c.post(POST.format("2202")).json()
            assert wait_status(c, first["task_id"], {"SUCCESS", "FAILURE"})["status"] == \
                "SUCCESS"
            (old_browser,) = processes.browser_processes(driver.proc.pid)

            s.demo.reset()
            s.demo.faults(slow_os_ms=4000)
            body = c.post(POST.format("2303")).json()
            # Positive signal: the demo counted the search, so the scrape is mid-way.
            wait_until(lambda: s.demo.stats()["searches"] >= 1, 60,
                       what="the search reached the demo")
            old_session = json.loads(slot.read_text())["session_id"] if slot.exists() else ""
            (child,) = _pool_children(worker)
            child.kill()  # SIGKILL the pool process only; the worker's main process lives
            s.demo.faults(slow_os_ms=0)
            done = wait_status(c, body["task_id"], {"SUCCESS", "FAILURE"}, timeout=120)
        assert done["status"] == "SUCCESS", (done, worker.log_path.read_text()[-3000:])
        assert not old_browser.is_running()  # its session was deleted, not timed out
        assert len(processes.browser_processes(driver.proc.pid)) == 1
        assert not _session_alive(driver.url, old_session)
        assert s.demo.stats()["searches"] == 2  # the killed try, then the redelivery
        log = worker.log_path.read_text()
        removed = log.index(f"removed the WebDriver session {old_session}")
        # ... before the new pool process opened its own session for the next scrape
        assert log.index("browser session started", removed) > removed
    finally:
        s.stop_workers()
        driver.stop()


@pytest.mark.parametrize(("numero", "outcome"), [("2404", "SUCCESS"), ("9797", "FAILURE")])
def test_redelivered_message_of_a_finished_task_is_not_run_again(private_stack, api, numero,
                                                                   outcome):
    """A task's acknowledgement lost with a Redis restart, or a run longer than the
    visibility timeout, leaves its message in the unacked hash; kombu restores it after
    the visibility timeout. The worker drops it, a failed task's too (9797: no such OS;
    Celery stores STARTED over a FAILURE before the task's body runs: a test stack's 12 s
    visibility timeout re-ran a longer failed task, again and again, until the test's
    poll caught FAILURE between two runs)."""
    s = private_stack
    worker = s.ensure_worker()
    with api.client() as c:
        body = c.post(POST.format(numero)).json()
        first = wait_status(c, body["task_id"], {"SUCCESS", "FAILURE"})
        assert first["status"] == outcome, first
    searches = s.demo.stats()["searches"]
    dropped = worker.log_path.read_text().count("redelivered message dropped")
    app = make_celery(Settings(redis_url=s.redis_url))
    try:
        # What the restore publishes: the same task id and arguments, once more.
        app.send_task(TASK_NAME, kwargs={"numero_os": numero, "claim_token": "old"},
                      task_id=body["task_id"])
        wait_until(lambda: worker.log_path.read_text().count("redelivered message dropped")
                   > dropped, 60, what="the worker dropped the redelivered message")
    finally:
        app.close()
    assert s.demo.stats()["searches"] == searches  # not scraped again
    with api.client() as c:
        now = c.get(f"/api/desenvolvimento/scraping-status/{body['task_id']}").json()
    assert (now["status"], now.get("reason")) == (outcome, first.get("reason")), now


def test_redelivered_copy_of_a_running_task_is_not_run_twice(private_stack, api):
    """Celery redelivers a running late-acknowledged task when its worker's broker
    connection drops (kombu restores the channel's unacknowledged messages: a Redis
    restart); an idle worker takes the copy. It is dropped while the worker running the
    task is alive, so the OS is read once (a cluster test's Redis pod deletion once read
    one twice)."""
    s, numero = private_stack, "2505"
    s.stop_workers()
    workers = [s.start_worker("run-a"), s.start_worker("run-b")]
    s.demo.reset()
    s.demo.faults(slow_os_ms=4000)
    app = make_celery(Settings(redis_url=s.redis_url))
    try:
        with api.client() as c:
            body = c.post(POST.format(numero)).json()
            assert body["status"] == "queued", body
            wait_until(lambda: s.demo.stats()["searches"] >= 1, 60, interval=0.05,
                       what="the scrape to reach the search")
            # What the restore publishes: the same task id and arguments, once more.
            app.send_task(TASK_NAME, kwargs={"numero_os": numero, "claim_token": "old"},
                          task_id=body["task_id"])
            wait_until(lambda: any("redelivered message dropped" in w.log_path.read_text()
                                   for w in workers), 60, what="the copy dropped")
            done = wait_status(c, body["task_id"], {"SUCCESS", "FAILURE"})
    finally:
        app.close()
        s.demo.faults(slow_os_ms=0)
        s.stop_workers()
    assert done["status"] == "SUCCESS", done
    assert s.demo.stats()["searches"] == 1  # read once
    dropped = "".join(w.log_path.read_text() for w in workers)
    assert "task running on run-" in dropped, dropped[-3000:]
