"""Claiming and publishing a task in one script, against a real Redis.

The message the script pushes is built without kombu's I/O (``queue.task_message``);
here it is compared with what Celery's own ``send_task`` pushes, so a Celery or kombu
upgrade that changes the layout fails this test, not the workers. The workers consuming
it end to end: tests/pipeline/test_flow.py.
"""

from __future__ import annotations

import json

import anyio
import pytest
import redis
import redis.asyncio as aioredis

from registro import pipeline_state as state
from registro import publishing
from registro.celery_config import make_celery
from registro.queue import TASK_NAME, priority_queue_keys, task_id_for, task_message
from registro.settings import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
def celery(redis_url):
    return make_celery(Settings(redis_url=redis_url))


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _comparable(raw: bytes | str) -> dict:
    message = json.loads(raw)
    for volatile in ("delivery_tag", "reply_to"):  # a new uuid each; the publisher's
        message["properties"].pop(volatile)
    return message


@pytest.mark.parametrize(("priority", "refresh"), [(0, False), (9, True), (4, False)])
def test_task_message_is_what_send_task_pushes(celery, client, priority, refresh):
    task_id = task_id_for("777")
    kwargs = publishing.task_kwargs("777", "tok", refresh=refresh)
    celery.send_task(TASK_NAME, kwargs=kwargs, task_id=task_id, priority=priority)
    pushed = {key: client.lrange(key, 0, -1) for key in priority_queue_keys()}
    [(sent_key, [sent])] = [(k, v) for k, v in pushed.items() if v]
    key, built = task_message(celery, task_id, kwargs, priority)
    assert key == sent_key
    assert _comparable(built) == _comparable(sent)


def _claim(redis_url: str, celery, numero_os: str) -> state.Enqueued:
    async def run() -> state.Enqueued:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await publishing.new_task_call(
                celery, Settings(redis_url=redis_url), numero_os).run_async(client)
        finally:
            await client.aclose()
    return anyio.run(run)


def test_claim_and_publish_needs_a_live_worker_and_writes_nothing_without_one(
        redis_url, celery, client):
    done = _claim(redis_url, celery, "100")
    assert done.outcome == "no_worker" and done.workers == 0
    assert client.keys("*") == []


def test_claim_and_publish_queues_once_and_counts_the_tasks_ahead(redis_url, celery, client):
    state.heartbeat(client, "w1", concurrency=2, ttl_s=30)
    client.set(state.FAILURE_PREFIX + task_id_for("100"), "{}")  # an earlier run's
    first = _claim(redis_url, celery, "100")
    assert (first.outcome, first.workers, first.slots, first.depth.total) == \
        ("queued", 1, 2, 0)
    again = _claim(redis_url, celery, "100")
    assert again.outcome == "already" and again.depth.total == 1
    other = _claim(redis_url, celery, "101")
    assert other.outcome == "queued" and other.depth.total == 1  # one task ahead of it
    assert client.llen(priority_queue_keys()[0]) == 2
    record = state.read_task(client, task_id_for("100"))
    assert record["numero_os"] == "100" and record["priority"] == publishing.USER_PRIORITY
    assert state.claim_holder(client, "100") == record["claim_token"]
    assert set(state.open_tasks(client)) == {task_id_for("100"), task_id_for("101")}
    assert state.read_failure(client, task_id_for("100")) is None


def test_a_dead_workers_heartbeat_is_dropped_and_does_not_count(redis_url, celery, client):
    client.sadd(state.WORKERS_KEY, "gone")  # its heartbeat key expired
    done = _claim(redis_url, celery, "100")
    assert done.outcome == "no_worker"
    assert client.smembers(state.WORKERS_KEY) == set()


def test_publish_claimed_pushes_for_the_claim_the_caller_holds(celery, client):
    token = publishing.claim(client, Settings(), "200")
    assert token is not None
    assert publishing.publish_claimed(client, celery, "200", token,
                                      priority=publishing.REFRESH_PRIORITY, refresh=True) \
        == task_id_for("200")
    [raw] = client.lrange(priority_queue_keys()[-1], 0, -1)
    body = json.loads(raw)
    assert body["headers"]["id"] == task_id_for("200")
    assert state.read_task(client, task_id_for("200"))["refresh"] is True
    assert state.claim_holder(client, "200") == token
