"""The soft time limit: the browser session is dropped and the task fails cleanly."""

from __future__ import annotations

import pytest

from tests.pipeline.harness import wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"


def test_soft_time_limit_fails_cleanly_and_next_task_succeeds(private_stack, private_client):
    stack, client = private_stack, private_client
    stack.stop_workers()
    # Limits short for the test, yet long enough for the next task's cold browser start,
    # login and read on a busy machine (8 s once was not: that task hit the limit too).
    stack.start_worker("tl", REGISTRO_TASK_SOFT_TIME_LIMIT_S=20, REGISTRO_TASK_TIME_LIMIT_S=30,
                       REGISTRO_BROKER_VISIBILITY_TIMEOUT_S=45,
                       REGISTRO_PAGE_TIMEOUT_S=90)
    stack.demo.faults(slow_os_ms=70000)
    try:
        body = client.post(POST.format("1605")).json()
        assert body["status"] == "queued"
        failed = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"}, timeout=60)
        assert failed["status"] == "FAILURE" and failed["reason"] == "time_limit", failed
    finally:
        stack.demo.faults(slow_os_ms=0)
    try:
        # Same worker process, fresh browser session: the next task succeeds.
        ok = client.post(POST.format("1606")).json()
        done = wait_status(client, ok["task_id"], {"SUCCESS", "FAILURE"})
        assert done["status"] == "SUCCESS", done
        # The claim was released: asking again queues a new try, which succeeds.
        again = client.post(POST.format("1605")).json()
        assert again["status"] == "queued" and again["already_queued"] is False, again
        done = wait_status(client, again["task_id"], {"SUCCESS", "FAILURE"})
        assert done["status"] == "SUCCESS", done
    finally:
        stack.stop_workers()
