"""The legacy-site budget is global: two worker processes share one token bucket, and
the API's synchronous fallback and `registro scrape` draw from it too (issue 19)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devstack.processes import free_port
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro.settings import Settings
from registro.worker.ratelimit import legacy_limiter
from tests.pipeline.harness import Api, wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"
STATUS = "/api/desenvolvimento/scraping-status/{}"


def test_rate_limit_holds_across_two_workers(private_stack, private_client):
    stack, client = private_stack, private_client
    stack.stop_workers()
    interval = 3.0  # 20 scrapes per minute, no burst
    metrics_port = free_port()
    limits = {"REGISTRO_LEGACY_RATE_PER_MINUTE": 60 / interval, "REGISTRO_LEGACY_RATE_BURST": 1}
    stack.start_worker("rl-a", REGISTRO_WORKER_METRICS_PORT=metrics_port, **limits)
    stack.start_worker("rl-b", **limits)
    numeros = ["3111", "3112", "3113", "3115"]
    try:
        # Warm both browsers first (each worker holds one task at a time, so two lookups
        # queued together go one to each): a cold start (seconds on a busy machine)
        # would otherwise reorder the searches measured below.
        warm = ["3116", "3117"]
        for n in warm:
            assert client.post(POST.format(n)).json()["status"] == "queued"
        for n in warm:
            assert wait_status(client, f"scraping_{n}", {"SUCCESS", "FAILURE"})["status"] \
                == "SUCCESS"
        stack.demo.reset()
        for n in numeros:
            assert client.post(POST.format(n)).json()["status"] == "queued"
        for n in numeros:
            assert wait_status(client, f"scraping_{n}", {"SUCCESS", "FAILURE"})["status"] \
                == "SUCCESS"
        # When the demo received each search (a scrape starting on the site), by its own
        # clock: a poll from here once stamped two searches 3 s apart at once (a loaded
        # machine delayed it), which shortened the span measured below.
        search_times = stack.demo.stats()["search_times"]
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    finally:
        stack.stop_workers()
    assert len(search_times) == len(numeros)
    span = search_times[-1] - search_times[0]
    # Four tokens from a bucket of one refilled every 3 s are 9 s apart first to last;
    # a slow scrape (up to ~2.5 s more) may delay the first search. Two workers
    # without the global budget would run all four within ~2 s.
    assert span >= 3 * interval - 2.5, search_times
    waits = re.search(r"^registro_ratelimit_waits_total (\S+)$", worker_metrics, re.MULTILINE)
    assert waits is not None, worker_metrics[:2000]
    success = re.search(r'^registro_task_outcomes_total\{outcome="success",reason="ok"\} (\S+)$',
                        worker_metrics, re.MULTILINE)
    assert success is not None and float(success.group(1)) >= 1


# --- every reader draws from the one budget (issue 19) ----------------------------------

INTERVAL_S = 2.0  # one token every 2 s, no burst: 30 reads per minute
BUDGET = {"REGISTRO_LEGACY_RATE_PER_MINUTE": 60 / INTERVAL_S, "REGISTRO_LEGACY_RATE_BURST": 1}


class SearchClock:
    """When each search reached the demo, by the demo's own clock, from ``start()`` on:
    one search is one read of an OS starting on the legacy system, whoever reads it. A
    poll of its counter from here stamped searches late on a loaded machine, which
    shortened the spans measured."""

    def __init__(self, demo):
        self.demo, self.after = demo, float("inf")

    def start(self) -> None:
        self.after = max(self.demo.stats()["search_times"], default=float("-inf"))

    @property
    def times(self) -> list[float]:
        return [t for t in self.demo.stats()["search_times"] if t > self.after]


class FallbackCaller(threading.Thread):
    """Asks the API for OS after OS while it answers through the fallback; a 503 is
    asked again after its Retry-After."""

    def __init__(self, api, numeros):
        super().__init__(daemon=True)
        self.api, self.numeros, self.stop_flag = api, numeros, threading.Event()
        self.served: list[float] = []
        self.refused: list[int] = []
        self.other: list[str] = []

    def run(self):
        with self.api.client() as c:
            for n in self.numeros:
                while not self.stop_flag.is_set():
                    r = c.post(POST.format(n))
                    if r.status_code == 200 and r.json().get("via") == "sincrono":
                        self.served.append(time.monotonic())
                        break
                    if r.status_code == 503 and r.json().get("status") == "busy":
                        self.refused.append(int(r.headers["Retry-After"]))
                        self.stop_flag.wait(int(r.headers["Retry-After"]))
                        continue
                    self.other.append(f"{r.status_code} {r.text[:200]}")
                    return
                if self.stop_flag.is_set():
                    return


def _drain(stack, per_minute: float, burst: int) -> None:
    """Take every token left in the bucket, at the rate and burst the readers use."""
    limiter = legacy_limiter(stack.redis(), Settings(legacy_rate_per_minute=per_minute,
                                                     legacy_rate_burst=burst))
    while limiter.try_acquire() == 0:
        pass


def test_workers_and_fallback_share_one_budget(private_stack):
    """A worker with a backlog and the fallback of an API that sees no worker (the
    worker's heartbeat deleted, as when heartbeats lapse or workers drain) read the
    legacy system at the same time: together they stay within the one budget. Before
    issue 19 the fallback drew no token and ran its two browsers flat out."""
    stack = private_stack
    stack.stop_workers()
    api = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=2, REGISTRO_FALLBACK_BUDGET_WAIT_S=30,
              **BUDGET)
    backlog = [str(n) for n in range(3201, 3215) if n % 97]
    # Five reads each: the fallback polls for tokens far more often than a worker task
    # retries, so unbounded callers starved the worker (139 s to its third lookup); with
    # ten fallback reads in all, the worker takes every token after them.
    callers = [FallbackCaller(api, [str(n) for n in range(k, k + 5)]) for k in (3301, 3401)]
    clock = SearchClock(stack.demo)
    try:
        with api.client() as c, ThreadPoolExecutor(2) as pool:
            # Warm both fallback browsers (no worker yet) and the worker's: a cold start,
            # seconds on a busy machine, would bunch the searches measured below.
            warm = list(pool.map(lambda n: c.post(POST.format(n)), ("3198", "3199")))
            assert [r.json().get("via") for r in warm] == ["sincrono"] * 2, warm
            # the worker writes its heartbeat once at start; deleted below, it stays away
            worker = stack.start_worker("budget-w", REGISTRO_WORKER_HEARTBEAT_S=3600,
                                        **BUDGET)
            assert c.post(POST.format("3200")).json()["status"] == "queued"
            assert wait_status(c, "scraping_3200", {"SUCCESS", "FAILURE"})["status"] == "SUCCESS"
            for n in backlog:
                assert c.post(POST.format(n)).json()["status"] == "queued"
            state.forget_worker(stack.redis(), worker.hostname)
            assert c.get("/api/desenvolvimento/queue-status").json()[
                "queue_info"]["workers_online"] == 0
            clock.start()
            for caller in callers:
                caller.start()
            # Both readers at work: the fallback served some, the worker finished some.
            done: list[str] = []

            def mixed() -> bool:
                for n in backlog:
                    if n not in done and c.get(STATUS.format(f"scraping_{n}")).json()[
                            "status"] in ("SUCCESS", "FAILURE"):
                        done.append(n)
                served = sum(len(k.served) for k in callers)
                return len(clock.times) >= 12 and served >= 3 and len(done) >= 3

            wait_until(mixed, 180, interval=0.3, what="12 searches by the worker and the "
                       "fallback together")
    finally:
        for caller in callers:
            caller.stop_flag.set()
        for caller in callers:
            caller.join(120)
        api.stop()
        stack.stop_workers()
    assert not any(k.other for k in callers), [k.other for k in callers]
    times = clock.times[:12]
    span = times[-1] - times[0]
    print(f"\n12 searches in {span:.1f} s (budget: at most 1 + span / {INTERVAL_S:.0f} s + 1);"
          f" fallback served {sum(len(k.served) for k in callers)}, refused "
          f"{sum(len(k.refused) for k in callers)} (503 + Retry-After)")
    # A bucket of one token refilled every 2 s grants at most 1 + span / 2 tokens in a
    # span; one more for the spread between a token and its search (login, page loads).
    assert len(times) <= 1 + span / INTERVAL_S + 1, (span, times)


def test_fallback_refuses_with_retry_after_when_the_budget_wait_is_too_long(private_stack):
    """No token within REGISTRO_FALLBACK_BUDGET_WAIT_S: 503 + Retry-After at once, no
    browser started, nothing read from the legacy system."""
    stack = private_stack
    stack.stop_workers()  # no worker: every lookup goes to the fallback
    api = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=2, REGISTRO_FALLBACK_BUDGET_WAIT_S=0.5,
              REGISTRO_LEGACY_RATE_PER_MINUTE=2, REGISTRO_LEGACY_RATE_BURST=1)
    try:
        _drain(stack, 2, 1)
        searches = stack.demo.stats()["searches"]
        with api.client() as c:
            started = time.monotonic()
            r = c.post(POST.format("3501"))
            elapsed = time.monotonic() - started
            metrics = c.get("/metrics").text
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "busy" and body["fallback_reason"] == "no_worker", body
        assert "limite global" in body["message"]
        assert 1 <= int(r.headers["Retry-After"]) <= 30  # next token in <= 30 s at 2/min
        assert elapsed < 5, elapsed
        assert api.browser_drivers() == 0
        assert stack.demo.stats()["searches"] == searches
        assert ('registro_api_fallbacks_total{cause="no_worker",outcome="rate_limited"} 1.0'
                in metrics)
    finally:
        api.stop()


def _registro_scrape(stack, numero: str, redis_url: str, tmp_path: Path,
                     **env: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("registro")), "scrape", numero,
                           "--no-save"], env=stack.env(**env, REGISTRO_REDIS_URL=redis_url),
                          cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          check=False)


def test_cli_scrape_draws_from_the_budget(private_stack, tmp_path):
    """`registro scrape` takes its token like a worker: with the bucket empty and no
    token within its wait it exits 6 (rate_limited) without reading; with Redis
    unreachable there is no shared budget and it reads."""
    stack = private_stack
    slow = {"REGISTRO_LEGACY_RATE_PER_MINUTE": 1, "REGISTRO_LEGACY_RATE_BURST": 1,
            "REGISTRO_TASK_SOFT_TIME_LIMIT_S": 2}  # waits at most 1 s for a token
    _drain(stack, 1, 1)
    searches = stack.demo.stats()["searches"]
    refused = _registro_scrape(stack, "3601", stack.redis_url, tmp_path, **slow)
    assert refused.returncode == 6, refused.stderr[-2000:]
    assert '"reason": "rate_limited"' in refused.stdout, refused.stdout
    assert stack.demo.stats()["searches"] == searches
    closed = f"redis://127.0.0.1:{free_port()}/0"
    read = _registro_scrape(stack, "3601", closed, tmp_path, **slow)
    assert read.returncode == 0, read.stderr[-2000:]
    assert "Redis unreachable" in read.stderr
    assert stack.demo.stats()["searches"] == searches + 1
