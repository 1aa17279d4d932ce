"""The reconciler's decisions, on a table and against a real Redis holding real Celery
messages (in the queue list, and delivered but unacknowledged)."""

from __future__ import annotations

import time

import kombu
import pytest
import redis

from registro import pipeline_state as state
from registro.celery_config import make_celery
from registro.queue import QUEUE_NAME, TASK_NAME, result_key, transport_task_ids
from registro.settings import Settings
from registro.worker.reconciler import Reconciler, Verdict, plan, verdict

pytestmark = [pytest.mark.redis]
V = Verdict


@pytest.mark.parametrize(("has_record", "result", "held", "expected"), [
    (False, None, False, V.FORGOTTEN),
    (True, "SUCCESS", False, V.FINISHED),
    (True, "FAILURE", True, V.FINISHED),
    (True, None, True, V.HELD),
    (True, "PROGRESS", True, V.HELD),
    (True, "RETRY", False, V.MISSING),
    (True, "PROGRESS", False, V.MISSING),
    (True, None, False, V.MISSING),
])
def test_verdict_table(has_record, result, held, expected):
    assert verdict("t", has_record, result, {"t"} if held else set()) is expected


def test_plan_table():
    now, grace = 100.0, 10.0
    verdicts = {"new": V.MISSING, "young": V.MISSING, "old": V.MISSING, "back": V.HELD,
                "held": V.HELD, "done": V.FINISHED, "gone": V.FORGOTTEN}
    suspects = {"young": 95.0, "old": 90.0, "back": 50.0}
    p = plan(verdicts, suspects, now, grace)
    assert p.republish == ["old"]  # missing for exactly the grace
    assert p.suspect == {"new": now}
    assert p.cleared == ["back"]
    assert sorted(p.close) == ["done", "gone"]


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _record(client: redis.Redis, numero_os: str, token: str = "tok") -> str:
    task_id = f"scraping_{numero_os}"
    assert state.try_claim(client, numero_os, token, 600)
    state.record_task(client, task_id, numero_os, token)
    return task_id


def _reconciler(client: redis.Redis, published: list, grace: float = 1.0,
                holder: str = "test") -> Reconciler:
    url = client.connection_pool.connection_kwargs
    app = make_celery(Settings(redis_url=f"redis://{url['host']}:{url['port']}/{url['db']}"))
    return Reconciler(client, lambda *args: published.append(args),
                      lambda task_id: result_key(app.backend, task_id), interval_s=1,
                      grace_s=grace, claim_ttl_s=600, holder=holder)


def test_missing_task_is_republished_after_the_grace_with_its_claim(redis_url):
    client, published = _client(redis_url), []
    task_id = _record(client, "501")
    rec = _reconciler(client, published, grace=5)
    t0 = time.time()
    assert rec.run_once(now=t0).suspect == {task_id: t0}
    assert rec.run_once(now=t0 + 4.9).republish == []
    assert state.release_claim(client, "501", "tok")  # even if the claim expired meanwhile
    assert rec.run_once(now=t0 + 5.0).republish == [task_id]
    assert published == [(task_id, "501", "tok")]
    assert state.claim_holder(client, "501") == "tok"  # the claim guards it again
    assert state.republished_count(client) == 1
    assert task_id not in state.suspects(client)


def test_tasks_held_by_the_transport_or_a_live_worker_are_left_alone(redis_url):
    client, published = _client(redis_url), []
    app = make_celery(Settings(redis_url=redis_url))
    queued, delivered, running = (_record(client, n) for n in ("601", "602", "603"))
    app.send_task(TASK_NAME, kwargs={"numero_os": "601"}, task_id=queued)
    app.send_task(TASK_NAME, kwargs={"numero_os": "602"}, task_id=delivered)
    state.heartbeat(client, "w@test", 1, 30, [running])
    got: list = []
    with app.connection_for_read() as conn:
        # A consumer takes one message and does not acknowledge it: kombu keeps it in
        # the unacked hash while the connection lives (what a running task looks like).
        consumer = kombu.Consumer(conn, [kombu.Queue(QUEUE_NAME)], accept=["json"],
                                  callbacks=[lambda body, msg: got.append(msg)],
                                  prefetch_count=1)
        with consumer:
            conn.drain_events(timeout=10)
            assert got and got[0].headers["id"] == queued  # BRPOP takes the oldest first
            assert client.hlen("unacked") == 1
            assert transport_task_ids(client) == {queued, delivered}
            rec = _reconciler(client, published, grace=1)
            t0 = time.time()
            for dt in (0, 2, 4):
                p = rec.run_once(now=t0 + dt)
                assert p is not None and p.republish == [] and p.suspect == {}
    assert published == []
    app.close()


def test_finished_task_still_open_is_closed_and_its_claim_released(redis_url):
    client, published = _client(redis_url), []
    app = make_celery(Settings(redis_url=redis_url))
    task_id = _record(client, "701")
    app.backend.store_result(task_id, {"status": "success"}, "SUCCESS")
    p = _reconciler(client, published).run_once()
    assert p is not None and p.close == [task_id]
    assert state.open_tasks(client) == {}
    assert state.claim_holder(client, "701") is None
    assert published == []
    app.close()


def test_one_reconciler_at_a_time(redis_url):
    client = _client(redis_url)
    _record(client, "801")
    assert _reconciler(client, [], holder="someone-else").lease.hold()
    assert _reconciler(client, []).run_once() is None
