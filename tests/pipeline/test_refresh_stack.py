"""The background refresh in real Celery workers, against the demo legacy system: one
scheduler among several workers (and another after the leader is killed), oldest first,
closed OS never read again, user lookups before a refresh backlog, the refresh share of
the legacy budget over minutes, the queue never holding more than MAX_IN_FLIGHT
refreshes, and a change made in the demo system reaching the record."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import delete, select, update

from devstack.stack import Stack, Worker, open_numeros, read_times, seed_records
from devstack.waits import wait_until
from registro import refresh_state
from registro.db import session_scope
from registro.models import OrdemServico
from registro.queue import read_queue_depth
from tests.conftest import require
from tests.pipeline.harness import wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
HOUR = 3600.0
POST = "/api/desenvolvimento/buscar-os-async/{}"
LEASE_TTL_S = 10.0
TICK_S = 1.0  # min(REFRESH_INTERVAL_S, LEASE_TTL_S / 3)


def _refresh_env(**kw: object) -> dict[str, object]:
    env: dict[str, object] = {
        "REGISTRO_REFRESH_AFTER_S": 1800, "REGISTRO_REFRESH_INTERVAL_S": TICK_S,
        "REGISTRO_REFRESH_LEASE_TTL_S": LEASE_TTL_S, "REGISTRO_REFRESH_MAX_IN_FLIGHT": 1,
        "REGISTRO_REFRESH_BUDGET_SHARE": 1.0}
    env.update({f"REGISTRO_REFRESH_{k.upper()}": v for k, v in kw.items()})
    return env


@pytest.fixture
def clean(private_stack):
    """No worker, an empty Redis and no OS stored: each test seeds its own."""
    stack: Stack = private_stack
    stack.stop_workers()
    stack.redis().flushall()
    with session_scope(stack.db_url) as session:
        session.execute(delete(OrdemServico))
    yield stack
    stack.stop_workers()


def _refreshed(stack: Stack, numeros: list[str], since: float) -> dict[str, float]:
    return {n: t for n, t in read_times(stack.db_url, numeros).items()
            if t is not None and t > since}


def _actors(workers: list[Worker]) -> set[str]:
    """Workers whose log shows a refresh they published."""
    return {w.hostname for w in workers if "refresh queued" in w.log_path.read_text()}


def test_one_scheduler_oldest_first_closed_skipped_and_failover(clean, private_client):
    stack, client = clean, private_client
    now = time.time()
    opened = open_numeros(5, start=40000)
    seed_records(stack.db_url, {n: now - (5 - i) * HOUR for i, n in enumerate(opened)})
    closed = open_numeros(1, start=41000)
    seed_records(stack.db_url, {closed[0]: now - 9 * HOUR}, status="Concluída")
    started = time.time()
    workers = [stack.start_worker(f"rf-{i}", **_refresh_env()) for i in range(3)]
    done = wait_until(lambda: len(_refreshed(stack, opened, started)) == len(opened)
                      and _refreshed(stack, opened, started), timeout=240,
                      what="the five open records read again")
    # One in flight at a time: the new reads come in the order of the old ones.
    assert sorted(done, key=done.__getitem__) == opened
    assert _refreshed(stack, closed, started) == {}
    leader = refresh_state.leader(stack.redis())
    assert _actors(workers) == {leader}
    status = client.get("/api/desenvolvimento/queue-status").json()["atualizacao_automatica"]
    assert status["habilitada"] is True and status["lider"] == leader
    assert status["registros_abertos"] == len(opened)

    # The leader dies without a word: another worker takes over within the lease's TTL.
    dead = next(w for w in workers if w.hostname == leader)
    dead.kill()
    killed = time.monotonic()
    new_leader = wait_until(
        lambda: (h := refresh_state.leader(stack.redis())) not in (None, leader) and h,
        timeout=60, interval=0.2, what="a new lease holder")
    took = time.monotonic() - killed
    assert took <= LEASE_TTL_S + TICK_S + 3, took  # + slack for a busy machine
    survivors = [w for w in workers if w is not dead]
    assert new_leader in {w.hostname for w in survivors}
    again = time.time()
    extra = open_numeros(1, start=40500)  # a refreshed OS waits REFRESH_AFTER_S again
    seed_records(stack.db_url, {extra[0]: again - 2 * HOUR})
    wait_until(lambda: _refreshed(stack, extra, again), timeout=120,
               what="the new leader's refresh")
    assert _actors(survivors) == {new_leader}


def test_user_lookups_finish_before_a_refresh_backlog(clean, private_client):
    stack, client = clean, private_client
    backlog = open_numeros(40, start=42000)
    now = time.time()
    seed_records(stack.db_url, {n: now - 2 * HOUR - i for i, n in enumerate(backlog)})
    stack.start_worker("prio", **_refresh_env(max_in_flight=len(backlog)))
    redis_client = stack.redis()
    wait_until(lambda: read_queue_depth(redis_client).waiting >= 30, timeout=120,
               what="a refresh backlog waiting in the queue")
    users = open_numeros(3, start=43000)
    submitted = time.time()
    for n in users:
        assert client.post(POST.format(n)).json()["status"] == "queued"
    for n in users:
        assert wait_status(client, f"scraping_{n}", {"SUCCESS", "FAILURE"},
                           timeout=180)["status"] == "SUCCESS"
    served = time.time()
    refreshed_meanwhile = _refreshed(stack, backlog, submitted)
    # The refresh running when the users arrived may finish; nothing of the backlog
    # passes them (one worker, one task at a time, priority 0 popped before 9).
    assert len(refreshed_meanwhile) <= 1, refreshed_meanwhile
    assert read_queue_depth(redis_client).waiting >= 25
    user_reads = read_times(stack.db_url, users)
    assert all(t is not None and submitted < t <= served for t in user_reads.values())


def test_refresh_share_of_the_budget_and_queue_bound(clean):
    stack = clean
    # 9 refresh tokens in 45 s (0.2 searches/s; 60 in 80 s at 0.75/s before, issue 18).
    # With a share of 1 the two workers read 88 in the same 45 s (the global 2/s): the
    # upper bound below is far from what they would do without the share.
    rate_per_minute, share, max_in_flight = 120.0, 0.1, 2
    window_s = 45.0
    backlog = open_numeros(120, start=45000)
    now = time.time()
    seed_records(stack.db_url, {n: now - 2 * HOUR - i for i, n in enumerate(backlog)})
    env = {**_refresh_env(max_in_flight=max_in_flight, budget_share=share),
           "REGISTRO_LEGACY_RATE_PER_MINUTE": rate_per_minute, "REGISTRO_LEGACY_RATE_BURST": 4}
    for i in range(2):
        stack.start_worker(f"share-{i}", **env)
    redis_client = stack.redis()
    wait_until(lambda: _refreshed(stack, backlog, now), timeout=120,
               what="the first refresh (browsers warm)")
    first = stack.demo.stats()["searches"]
    deepest = 0
    end = time.monotonic() + window_s
    while time.monotonic() < end:  # sampling, not waiting: the window is the measure
        deepest = max(deepest, read_queue_depth(redis_client).total)
        time.sleep(0.2)
    searches = stack.demo.stats()["searches"] - first
    allowed = rate_per_minute * share / 60 * window_s
    print(f"\n[refresh] {window_s:.0f} s: {searches} legacy searches by refreshes, share allows "
          f"{allowed:.0f}; deepest queue {deepest} (max in flight {max_in_flight})")
    # Refresh tokens: share x rate, a bucket of max(1, int(4 x 0.1)) = 1; the tasks
    # already published when the window opened may search inside it.
    assert searches <= allowed + 1 + max_in_flight, (searches, allowed)
    assert searches >= 0.6 * allowed, (searches, allowed)  # the share is really used
    assert 1 <= deepest <= max_in_flight, deepest


def test_a_change_in_the_demo_reaches_the_record_after_the_refresh(clean, private_client):
    stack, client = clean, private_client
    numero = open_numeros(1, start=47000)[0]
    stack.start_worker("chg", **_refresh_env(enabled="false"))
    assert client.post(POST.format(numero)).json()["status"] == "queued"
    assert wait_status(client, f"scraping_{numero}", {"SUCCESS"})["status"] == "SUCCESS"
    before = _stored_status(stack, numero)
    changed = stack.demo.admin.post(f"/_demo/os/{numero}",
                                    json={"status": "Entregue",
                                          "diagnostico": "Rotor trocado (refresh test)."})
    require(changed.status_code not in (404, 405),
            "the demo admin API POST /_demo/os/{numero} (issue 12, RECORDS' half)")
    changed.raise_for_status()
    # Changed in the demo, not yet read again: the record and its answer are the old ones.
    assert _stored_status(stack, numero) == before != "Entregue"
    answer = client.post(POST.format(numero)).json()
    assert answer["status"] == "found_existing"
    stack.stop_workers()
    stack.redis().flushall()
    read_at = time.time() - 2 * HOUR
    with session_scope(stack.db_url) as session:
        session.execute(update(OrdemServico).where(OrdemServico.numero_os == numero)
                        .values(scraped_at=_dt(read_at)))
    assert _stored_status(stack, numero) == before
    stack.start_worker("chg2", **_refresh_env())
    wait_until(lambda: _refreshed(stack, [numero], read_at + 60), timeout=120,
               what="the background refresh of the changed OS")
    assert _stored_status(stack, numero) == "Entregue"
    historico = client.get(f"/api/desenvolvimento/historico/{numero}")
    if historico.status_code == 200:  # RECORDS' endpoint (same merge)
        assert any(c.get("campo") == "ordem_servico.status" and c.get("valor_novo") == "Entregue"
                   for c in _changes(historico.json())), historico.text
    # Closed now: the scheduler leaves it alone from here on.
    wait_until(lambda: _leader_status(client).get("registros_abertos") == 0, timeout=30,
               what="no open record left")


def _dt(epoch: float):
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _stored_status(stack: Stack, numero: str) -> str | None:
    with session_scope(stack.db_url) as session:
        return session.scalar(select(OrdemServico.status)
                              .where(OrdemServico.numero_os == numero))


def _changes(body: object) -> list[dict]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
    return []


def _leader_status(client: httpx.Client) -> dict:
    return client.get("/api/desenvolvimento/queue-status").json().get(
        "atualizacao_automatica", {})

