"""The legacy-site budget is global: two worker processes share one token bucket."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from registro.local_services import free_port
from tests.pipeline.harness import wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"


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
        # Watch the demo count searches: each one is a scrape starting on the site.
        search_times: list[float] = []
        seen = 0
        deadline = time.monotonic() + 90
        while seen < len(numeros) and time.monotonic() < deadline:
            searches = stack.demo.stats()["searches"]
            search_times += [time.monotonic()] * (searches - seen)
            seen = searches
            time.sleep(0.05)
        for n in numeros:
            assert wait_status(client, f"scraping_{n}", {"SUCCESS", "FAILURE"})["status"] \
                == "SUCCESS"
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
