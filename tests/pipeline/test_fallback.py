"""Synchronous fallback: Redis down or no worker; bounded browsers; queue path resumes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from devstack.waits import wait_until
from registro.db import session_scope
from registro.models import OrdemServico
from registro.records import as_utc
from tests.pipeline.harness import Api, wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"


@pytest.fixture(scope="module")
def stack(private_stack):
    """This module stops workers and Redis: its own stack."""
    return private_stack


@pytest.fixture(scope="module")
def bounded_api(stack):
    a = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=2)
    yield a
    a.stop()


class DriverSampler(threading.Thread):
    """Highest number of WebDriver (chromedriver) processes the API ran at once."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api, self.peak, self.stop_flag = api, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, self.api.browser_drivers())
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.join()


def test_no_worker_online_scrapes_synchronously(stack, bounded_api):
    stack.ensure_worker()
    with bounded_api.client() as c:
        # First the positive signal that the API counts the worker, then stop it.
        assert c.get("/api/desenvolvimento/queue-status").json()["queue_info"][
            "workers_online"] == 1
        stack.stop_workers()  # SIGTERM: the worker deletes its heartbeat key
        deadline = time.monotonic() + 30
        while True:
            qs = c.get("/api/desenvolvimento/queue-status").json()
            if qs["queue_info"]["workers_online"] == 0:
                break
            assert time.monotonic() < deadline, qs
            time.sleep(0.1)
        assert qs["celery_available"] is False
        r = c.post(POST.format("2105"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["via"] == "sincrono" and body["fallback_reason"] == "no_worker"
    assert body["status"] == "success" and body["data"]["numero_os"] == "2105"
    with session_scope(stack.db_url) as s:
        row = s.scalar(select(OrdemServico).where(OrdemServico.numero_os == "2105"))
        assert row.cliente_id == body["cliente_id"]
        # the answer says when it was read: the record's lido_em from now on
        lido_em = dt.datetime.fromisoformat(body["lido_em"].replace("Z", "+00:00"))
        assert as_utc(row.scraped_at) == lido_em


def test_redis_down_fallback_is_bounded_then_queue_resumes(stack, bounded_api):
    survivor = stack.ensure_worker()  # must reconnect by itself when Redis is back
    # 2 x 6 s of OS page after each search: both scrapes hold their slot even when the
    # second browser starts seconds after the first (2 x 2.5 s once let the first finish).
    stack.demo.faults(slow_os_ms=6000)
    stack.stop_redis()
    try:
        with bounded_api.client() as c, DriverSampler(bounded_api) as sampler, \
                ThreadPoolExecutor(4) as pool:
            searches = stack.demo.stats()["searches"]
            first = [pool.submit(c.post, POST.format(n)) for n in ("2206", "2207")]
            deadline = time.monotonic() + 60
            # Both slots busy on the slow OS page: the demo counted both searches.
            while stack.demo.stats()["searches"] < searches + 2:
                assert time.monotonic() < deadline, "the fallback scrapes never searched"
                time.sleep(0.05)
            started = time.monotonic()
            beyond = [c.post(POST.format(n)) for n in ("2208", "2209")]
            beyond_elapsed = time.monotonic() - started
            held = not any(f.done() for f in first)  # both slots busy all along
            served = [f.result() for f in first]
    finally:
        stack.demo.faults(slow_os_ms=0)
        stack.start_redis()

    assert held, "a first scrape ended before the posts beyond the bound were answered"
    for r in beyond:
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) > 0
        assert r.json()["via"] == "sincrono"
    assert beyond_elapsed < 2.0  # refused at once, no browser started
    for r, numero in zip(served, ("2206", "2207"), strict=True):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["via"] == "sincrono" and body["fallback_reason"] == "redis_unavailable"
        assert body["data"]["numero_os"] == numero
    assert sampler.peak == 2, sampler.peak

    # Redis is back: the same worker reconnects and the queue path serves again.
    assert survivor.proc.poll() is None
    with bounded_api.client() as c:
        deadline = time.monotonic() + 60
        while not c.get("/api/desenvolvimento/queue-status").json()["celery_available"]:
            assert time.monotonic() < deadline, "queue path did not come back"
            time.sleep(0.2)
        body = c.post(POST.format("2310")).json()
        assert body["status"] == "queued" and body["via"] == "fila", body
        done = wait_status(c, body["task_id"], {"SUCCESS", "FAILURE"})
        assert done["status"] == "SUCCESS", done
        metrics = c.get("/metrics").text
    assert 'registro_api_fallbacks_total{cause="redis_unavailable",outcome="success"} 2.0' \
        in metrics
    assert 'registro_api_fallbacks_total{cause="redis_unavailable",outcome="rejected"} 2.0' \
        in metrics


def test_sigterm_lets_a_fallback_scrape_in_flight_answer(stack):
    """A rollout's SIGTERM reaches an API process in the middle of a synchronous
    fallback scrape: uvicorn stops taking connections and waits (its graceful timeout;
    120 s in the chart, 30 s here) for the scrape, which answers and is stored; then the
    process exits. The chart's figures are checked at render
    (tests/delivery/test_chart_lifecycle.py)."""
    stack.stop_workers()  # no worker online: the API scrapes itself
    api = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=1)
    answer: dict = {}
    slow_ms = 4000  # the OS page and its data: 8 s of scrape after the search
    try:
        stack.demo.faults(slow_os_ms=slow_ms)
        searches = stack.demo.stats()["searches"]

        def ask() -> None:
            with api.client() as c:
                answer["response"] = c.post(POST.format("2131"))
                answer["at"] = time.monotonic()

        caller = threading.Thread(target=ask)
        caller.start()
        wait_until(lambda: stack.demo.stats()["searches"] > searches, 60,
                   what="the fallback scrape at the legacy system")
        signalled = time.monotonic()
        api.proc.terminate()  # SIGTERM, as the kubelet sends after the preStop sleep
        exited = None

        def refused() -> bool:  # no new connection served once it stops
            try:
                httpx.get(f"{api.url}/healthz", timeout=2)
                return False
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                return True  # refused, or taken into the backlog as it closed, then reset

        wait_until(refused, 10, what="the listener closed")
        assert "response" not in answer  # still scraping
        api.proc.wait(60)
        exited = time.monotonic()
        caller.join(60)
    finally:
        stack.demo.faults(slow_os_ms=0)
        api.stop()
    r = answer["response"]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["via"] == "sincrono" and body["data"]["numero_os"] == "2131", body
    assert answer["at"] - signalled >= slow_ms / 1000  # it was in flight when signalled
    assert exited is not None and exited >= answer["at"]
    with session_scope(stack.db_url) as s:
        assert s.scalar(select(OrdemServico).where(OrdemServico.numero_os == "2131"))
    print(f"\n[shutdown] SIGTERM {answer['at'] - signalled:.1f} s before the fallback's "
          f"answer; the process exited {exited - signalled:.1f} s after SIGTERM")
