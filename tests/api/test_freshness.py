"""Freshness on found_existing (lido_em, idade_segundos, desatualizado), max_idade's
stale-while-revalidate, and the history endpoint, against the live API of conftest.py.

Its worker consumes another queue: a refresh task stays queued, so the number of tasks
published is read from Redis itself (the messages in the queue), not guessed from timing.
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import anyio
import httpx
import pytest
import redis
import redis.asyncio as aioredis
from celery import Celery

from devstack.processes import free_port
from registro.api import lookup
from registro.db import session_scope
from registro.legacy_demo.data import expected_record
from registro.queue import QUEUE_NAME, priority_queue_keys, task_id_for
from registro.records import find_os, save_scraped
from registro.settings import Settings

pytestmark = [pytest.mark.redis]
POST = "/api/desenvolvimento/buscar-os-async/{}"
HISTORY = "/api/desenvolvimento/historico/{}"


def _store(db_url: str, numero: str, age_s: float = 0, **os_changes: object) -> dt.datetime:
    """Save the demo's record of ``numero`` (changed), read ``age_s`` seconds ago."""
    scraped = expected_record(numero)
    if os_changes:
        scraped = scraped.model_copy(update={"os": scraped.os.model_copy(update=os_changes)})
    with session_scope(db_url) as session:
        save_scraped(session, scraped)
    with session_scope(db_url) as session:
        row = find_os(session, numero)
        assert row is not None
        row.scraped_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
        return row.scraped_at


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _queued_messages(redis_url: str, task_id: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for key in priority_queue_keys(QUEUE_NAME)
                   for raw in client.lrange(key, 0, -1)
                   if json.loads(raw)["headers"]["id"] == task_id)
    finally:
        client.close()


def test_found_existing_carries_when_it_was_read(live_api):
    lido = _store(live_api.db_url, "1501", age_s=120)
    with live_api.client() as client:
        body = client.post(POST.format("1501")).json()
        assert body["status"] == "found_existing"
        assert _parse(body["lido_em"]) == lido.replace(tzinfo=lido.tzinfo or dt.UTC)
        assert body["lido_em"].endswith("Z")
        assert 120 <= body["idade_segundos"] < 120 + 60
        assert body["desatualizado"] is False and "task_id" not in body
        # younger than max_idade: the same answer, no task
        fresh = client.post(POST.format("1501"), params={"max_idade": 3600}).json()
        assert fresh["desatualizado"] is False and "task_id" not in fresh
        assert _queued_messages(live_api.redis_url, task_id_for("1501")) == 0
        for bad in ("-1", "abc", "1.5", str(10**12)):
            r = client.post(POST.format("1501"), params={"max_idade": bad})
            assert r.status_code == 422 and "max_idade" in r.json()["detail"]


def test_100_concurrent_stale_lookups_get_the_record_and_one_refresh_task(live_api):
    numero = "1502"
    _store(live_api.db_url, numero, age_s=3600, status="Aberta")
    task_id = task_id_for(numero)
    with live_api.client() as client, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(
            lambda _: client.post(POST.format(numero), params={"max_idade": 600}), range(100)))
    bodies = [r.json() for r in answers]
    assert {r.status_code for r in answers} == {200}
    for body in bodies:
        assert body["status"] == "found_existing" and body["desatualizado"] is True, body
        assert body["data"]["ordem_servico"]["status"] == "Aberta"  # at once, the stored one
        assert body["idade_segundos"] >= 3600
        assert body["task_id"] == task_id
        assert body["instructions"] == {
            "check_status": f"/api/desenvolvimento/scraping-status/{task_id}"}
    assert _queued_messages(live_api.redis_url, task_id) == 1  # one refresh, published once
    with live_api.client() as client:
        status = client.get(f"/api/desenvolvimento/scraping-status/{task_id}").json()
        assert status["status"] == "PENDING"  # its worker consumes another queue
        metrics = httpx.get(f"{live_api.url}/metrics", timeout=30).text
    stale = [line for line in metrics.splitlines()
             if line.startswith("registro_api_stale_answers_total")]
    assert stale and float(stale[0].split()[-1]) >= 100


def test_stale_record_is_answered_without_a_task_when_the_queue_cannot_take_it(redis_url):
    """No worker online, or no Redis: the stale record, no task, no synchronous scrape."""
    settings = Settings(redis_url=redis_url, api_keys="k")
    celery = Celery(broker=redis_url, backend=redis_url)

    async def refresh_with(client: aioredis.Redis) -> object:
        services = SimpleNamespace(limiter=SimpleNamespace(client=client), celery=celery,
                                   settings=settings)
        return await lookup.refresh(services, "1503", dt.datetime.now(dt.UTC))

    async def both() -> None:
        no_workers = aioredis.Redis.from_url(redis_url)
        no_redis = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
        try:
            assert await refresh_with(no_workers) is None
            assert await refresh_with(no_redis) is None
            assert await no_workers.keys("*") == []  # nothing claimed, nothing published
        finally:
            await no_workers.aclose()
            await no_redis.aclose()

    anyio.run(both)


def test_history_endpoint_pages_newest_first(live_api):
    numero = "1504"
    _store(live_api.db_url, numero, status="Aberta")
    for step in range(1, 6):
        _store(live_api.db_url, numero, status=f"Etapa {step}")
    seen: list[dict] = []
    with live_api.client() as client:
        page = client.get(HISTORY.format(numero), params={"limite": 2}).json()
        assert page["total"] == 5 and page["numero_os"] == numero
        while True:
            seen += page["alteracoes"]
            if page["proxima_pagina"] is None:
                break
            assert len(page["alteracoes"]) == 2
            page = client.get(page["proxima_pagina"]).json()
        assert [c["valor_novo"] for c in seen] == [f"Etapa {n}" for n in (5, 4, 3, 2, 1)]
        assert [c["valor_anterior"] for c in seen] == \
            [f"Etapa {n}" for n in (4, 3, 2, 1)] + ["Aberta"]
        assert {c["campo"] for c in seen} == {"ordem_servico.status"}
        ids = [c["id"] for c in seen]
        assert ids == sorted(ids, reverse=True)
        assert all(c["observado_em"].endswith("Z") for c in seen)
        assert [_parse(c["observado_em"]) for c in seen] == \
            sorted((_parse(c["observado_em"]) for c in seen), reverse=True)

        unknown = client.get(HISTORY.format("1505"))
        assert unknown.status_code == 404 and unknown.json() == {"detail": "OS 1505 is not stored"}
        for params in ({"limite": 0}, {"limite": 101}, {"antes_de": 0}, {"antes_de": "x"}):
            r = client.get(HISTORY.format(numero), params=params)
            assert r.status_code == 422 and isinstance(r.json()["detail"], str), params
        assert httpx.get(f"{live_api.url}{HISTORY.format(numero)}").status_code == 401
