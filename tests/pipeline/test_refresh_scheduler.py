"""The refresh scheduler's decisions against a real Redis and a real database (SQLite and
PostgreSQL): which OS are due and in what order, the single lease, the budget, the
in-flight bound and the claim shared with user lookups. Publishing is recorded here;
tests/pipeline/test_refresh_stack.py runs the same scheduler in real workers."""

from __future__ import annotations

import time

import pytest
import redis

from devstack.stack import open_numeros, read_times, seed_records
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro import publishing, refresh_state
from registro.db import upgrade
from registro.settings import Settings
from registro.worker.refresh import RefreshScheduler, due_for_refresh, open_records

pytestmark = [pytest.mark.redis]
HOUR = 3600.0


def _settings(redis_url: str, db_url: str, **kw: object) -> Settings:
    base: dict[str, object] = {
        "redis_url": redis_url, "database_url": db_url, "refresh_after_s": HOUR,
        "refresh_interval_s": 1, "refresh_max_in_flight": 10, "refresh_lease_ttl_s": 3,
        "legacy_rate_per_minute": 6000, "legacy_rate_burst": 100,
        "refresh_budget_share": 1.0}
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
def seeded(db_url):
    """Six open OS last read 5..1 h and 10 min ago, two closed ones read 9 h ago."""
    upgrade(db_url)
    now = time.time()
    opened = open_numeros(6)
    read_at = {n: now - (5 - i) * HOUR if i < 5 else now - 600 for i, n in enumerate(opened)}
    seed_records(db_url, read_at)
    closed = open_numeros(2, start=30000)
    seed_records(db_url, dict.fromkeys(closed[:1], now - 9 * HOUR), status="Entregue")
    seed_records(db_url, dict.fromkeys(closed[1:], now - 9 * HOUR), status="Cancelada")
    return db_url, opened, closed


def test_due_records_are_open_and_oldest_first(seeded):
    from datetime import UTC, datetime

    from registro.db import session_scope

    db_url, opened, closed = seeded
    closed_statuses = Settings().refresh_closed_status_list()
    assert "Cancelada" in closed_statuses and "Entregue" in closed_statuses
    cutoff = datetime.fromtimestamp(time.time() - HOUR + 60, UTC)
    with session_scope(db_url) as session:
        due = due_for_refresh(session, closed_statuses, cutoff, limit=100)
        count, oldest = open_records(session, closed_statuses)
        assert due_for_refresh(session, closed_statuses, cutoff, limit=2) == opened[:2]
    # 5 h .. 1 h old, oldest first; the one read 10 min ago and the closed ones are not due
    assert due == opened[:5]
    assert not set(closed) & set(due)
    assert count == 6
    assert oldest == pytest.approx(read_times(db_url, opened[:1])[opened[0]], abs=1)


def test_lease_has_one_holder_and_expires_when_not_renewed(redis_url):
    client = redis.Redis.from_url(redis_url)
    a, b = (refresh_state.refresh_lease(client, h, ttl_s=2) for h in ("worker-a", "worker-b"))
    assert a.hold() and not b.hold()
    assert a.hold()  # renewed by its holder
    assert refresh_state.leader(client) == "worker-a"
    started = time.monotonic()
    wait_until(b.hold, timeout=10, interval=0.1, what="b to take the expired lease")
    assert 1.5 <= time.monotonic() - started <= 4  # the TTL, from a's last renewal
    assert not a.hold() and refresh_state.leader(client) == "worker-b"
    assert not a.release() and b.release()  # only the holder hands it over
    assert a.hold()


def _scheduler(settings: Settings, holder: str, published: list) -> RefreshScheduler:
    client = redis.Redis.from_url(settings.redis_url)

    def publish(numero_os: str, token: str) -> str:
        task_id = f"scraping_{numero_os}"
        state.record_task(client, task_id, numero_os, token, priority=9, refresh=True)
        published.append(numero_os)
        return task_id

    return RefreshScheduler(client, settings, holder, publish)


def test_one_scheduler_acts_oldest_first_within_max_in_flight(seeded, redis_url):
    db_url, opened, _closed = seeded
    settings = _settings(redis_url, db_url, refresh_max_in_flight=3)
    published: list[str] = []
    leader, other = (_scheduler(settings, h, published) for h in ("w-a", "w-b"))
    first = leader.run_once(force_pass=True)
    assert other.run_once(force_pass=True) is None  # not the lease holder
    assert first is not None and first.enqueued == opened[:3] == published
    assert first.open_records == 6
    client = redis.Redis.from_url(redis_url)
    status = refresh_state.read_status(client)
    assert status is not None and status.in_flight == 3 and status.open_records == 6
    # All three still open: nothing more until one finishes.
    again = leader.run_once(force_pass=True)
    assert again is not None and again.enqueued == [] and again.skipped == {"max_in_flight": 1}
    state.finish_task(client, f"scraping_{opened[0]}")
    third = leader.run_once(force_pass=True)
    assert third is not None and third.enqueued == [opened[3]]
    assert len(refresh_state.in_flight(client)) == 3


def test_user_claim_is_respected_and_budget_skips_rather_than_waits(seeded, redis_url):
    db_url, opened, _closed = seeded
    client = redis.Redis.from_url(redis_url)
    user_token = publishing.claim(client, Settings(), opened[0])  # a user lookup holds it
    assert user_token is not None
    # 60/min x 0.05 = 3 refreshes a minute, bucket of one token
    settings = _settings(redis_url, db_url, legacy_rate_per_minute=60,
                         refresh_budget_share=0.05, legacy_rate_burst=3)
    published: list[str] = []
    sched = _scheduler(settings, "w-a", published)
    started = time.monotonic()
    result = sched.run_once(force_pass=True)
    assert time.monotonic() - started < 2  # it did not wait for the next token
    assert result is not None
    assert result.enqueued == [opened[1]] == published
    assert result.skipped == {"claimed": 1, "budget": 1}
    assert state.claim_holder(client, opened[0]) == user_token  # untouched
    assert state.claim_holder(client, opened[2]) is None  # released when skipped
    record = state.read_task(client, f"scraping_{opened[1]}")
    assert record["priority"] == 9 and record["refresh"] is True
