"""The three endpoints in-process (the app over httpx's ASGI transport, no server) against
a real Redis and a real database, SQLite and PostgreSQL (each branch of the lookup on
both: SQLite reads on the event loop, PostgreSQL in the threadpool): the edit loop's tier
(``make test-fast``; PostgreSQL where installed, as in ``make test``). The live
server, worker and fuzzer tests beside this file cover the same routes end to end.

A worker is "online" here because its heartbeat is in Redis, written by the same
``pipeline_state.heartbeat`` a worker calls: the lookup then takes the queue path and the
task stays queued (nothing consumes it)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis

from registro import pipeline_state as state
from registro.api.main import create_app
from registro.db import get_engine, session_scope
from registro.legacy_demo.data import expected_record
from registro.records import save_scraped
from registro.settings import Settings

pytestmark = pytest.mark.fast

BASE = "/api/desenvolvimento"
KEY = "in-process-key"
STORED, NEW = "4101", "4102"


@pytest.fixture
def worker_online():
    return True


@pytest.fixture
def rate_limit():
    return 10_000


@pytest.fixture
def call(redis_url, db_url, worker_online, rate_limit):
    """``call(method, path)`` on a fresh app; one worker heartbeat in Redis (unless
    ``worker_online`` is overridden to False)."""
    with session_scope(db_url) as session:
        save_scraped(session, expected_record(STORED))
    client = redis.Redis.from_url(redis_url)
    if worker_online:
        state.heartbeat(client, "in-process@test", 1, 30, [])
    settings = Settings(api_keys=KEY, redis_url=redis_url, database_url=db_url,
                        fallback_max_browsers=0, api_rate_limit_per_minute=rate_limit)
    app = create_app(settings)
    loop = asyncio.new_event_loop()  # one loop: the app's Redis clients belong to it
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")

    def call_(method: str, path: str, key: str | None = KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return loop.run_until_complete(http.request(method, path, headers=headers))

    yield call_
    loop.run_until_complete(http.aclose())
    loop.run_until_complete(lifespan.__aexit__(None, None, None))
    loop.close()
    client.close()


def test_stored_os_is_found_existing_with_its_freshness(call):
    answer = call("POST", f"{BASE}/buscar-os-async/{STORED}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "found_existing"
    assert body["data"]["numero_os"] == STORED
    assert body["lido_em"] and body["desatualizado"] is False


def test_new_os_is_queued_and_pending_then_counted_by_queue_status(call):
    answer = call("POST", f"{BASE}/buscar-os-async/{NEW}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["task_id"]) == ("queued", f"scraping_{NEW}")
    status = call("GET", f"{BASE}/scraping-status/{body['task_id']}").json()
    assert status["status"] == "PENDING"
    queue = call("GET", f"{BASE}/queue-status").json()
    assert queue["celery_available"] is True
    assert queue["queue_info"]["workers_online"] == 1
    assert queue["queue_info"]["total_queue"] >= 1


def test_stale_os_is_answered_at_once_with_its_refresh_task(call):
    answer = call("POST", f"{BASE}/buscar-os-async/{STORED}?max_idade=0")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["desatualizado"]) == ("found_existing", True), body
    assert body["task_id"] == f"scraping_{STORED}", body
    again = call("GET", f"{BASE}/scraping-status/scraping_{STORED}").json()
    assert again["status"] == "PENDING"


def test_forcar_queues_a_stored_os(call):
    body = call("POST", f"{BASE}/buscar-os-async/{STORED}?forcar=true").json()
    assert (body["status"], body["task_id"]) == ("queued", f"scraping_{STORED}"), body


@pytest.mark.parametrize("worker_online", [False])
def test_no_worker_the_fallback_answers_for_a_new_os_but_not_for_a_stored_one(call):
    # No browser allowed here (fallback_max_browsers=0): the fallback's refusal shape.
    refused = call("POST", f"{BASE}/buscar-os-async/{NEW}")
    assert refused.status_code == 503, refused.text
    assert refused.headers.get("Retry-After"), refused.headers
    assert refused.json()["fallback_reason"] == "no_worker", refused.text
    stored = call("POST", f"{BASE}/buscar-os-async/{STORED}")
    assert stored.json()["status"] == "found_existing", stored.text


@pytest.mark.parametrize("rate_limit", [3])
def test_the_key_limit_counts_every_lookup_and_a_refused_one_claims_nothing(call, redis_url):
    assert call("POST", f"{BASE}/buscar-os-async/{STORED}").status_code == 200  # 1
    assert call("POST", f"{BASE}/buscar-os-async/{NEW}").json()["status"] == "queued"  # 2
    assert call("POST", f"{BASE}/buscar-os-async/{STORED}?forcar=true").status_code == 200
    refused = call("POST", f"{BASE}/buscar-os-async/4103")  # the 4th in this minute
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert call("POST", f"{BASE}/buscar-os-async/{STORED}").status_code == 429
    client = redis.Redis.from_url(redis_url)
    try:
        assert state.claim_holder(client, "4103") is None  # nothing claimed or queued
        assert set(state.open_tasks(client)) == {f"scraping_{NEW}", f"scraping_{STORED}"}
    finally:
        client.close()


@pytest.mark.parametrize("path", ["buscar-os-async/12ab", "buscar-os-async/1234567890123"])
def test_bad_os_numbers_are_refused_at_the_edge(call, path):
    assert call("POST", f"{BASE}/{path}").status_code == 422


def test_no_key_no_answer(call):
    answer = call("POST", f"{BASE}/buscar-os-async/{STORED}", key=None)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_locked_sqlite_database_never_stalls_the_event_loop(redis_url, sqlite_url):
    """SQLite is read on the event loop; when it is locked (a writer's checkpoint; here
    another connection holding it exclusively for 1 s) the read gives up at once and
    waits in the threadpool: /healthz keeps answering meanwhile, and the lookup answers
    found_existing once the lock goes. The driver's own wait (up to 30 s of sleeps) on
    the loop stalled every request of the process (the old read: 2 health checks in
    that second)."""
    import sqlite3
    import threading
    import time

    from registro.api import metrics

    with session_scope(sqlite_url) as session:
        save_scraped(session, expected_record(STORED))
    settings = Settings(api_keys=KEY, redis_url=redis_url, database_url=sqlite_url,
                        fallback_max_browsers=0, api_record_cache_entries=0)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {KEY}"}
    busy_before = metrics.DB_BUSY_READS._value.get()

    for url, busy_wait in ((sqlite_url, True), (sqlite_url, False)):
        get_engine(url, busy_wait=busy_wait).dispose()  # an exclusive lock needs no other

    async def scenario() -> tuple[httpx.Response, list[float], float]:
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"),
                                 isolation_level=None, check_same_thread=False)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")  # readers now get "database is locked"
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            threading.Timer(1.0, holder.close).start()
            started = time.monotonic()
            lookup = asyncio.ensure_future(
                http.post(f"{BASE}/buscar-os-async/{STORED}", headers=headers))
            health: list[float] = []
            while not lookup.done():
                t = time.monotonic()
                assert (await http.get("/healthz")).status_code == 200
                health.append(time.monotonic() - t)
                await asyncio.sleep(0.05)
            return await lookup, health, time.monotonic() - started

    answer, health, waited = asyncio.run(scenario())
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "found_existing"
    assert waited >= 0.9, waited  # it did wait for the lock
    assert len(health) >= 5 and max(health) < 0.5, health  # the loop kept answering
    assert metrics.DB_BUSY_READS._value.get() == busy_before + 1
