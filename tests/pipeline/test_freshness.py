"""Records that stay true (issue 12), end to end: the demo legacy system changes an OS
through its admin API, a real worker re-reads it with Chromium, and the record, its
lido_em and its history follow -- never before the re-read."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from registro import publishing
from registro.celery_config import make_celery
from registro.db import session_scope
from registro.legacy_demo.data import expected_record
from registro.records import find_os
from registro.settings import Settings
from tests.pipeline.harness import wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"
HISTORY = "/api/desenvolvimento/historico/{}"


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _scrape(client: httpx.Client, numero: str, *, forcar: bool) -> dict:
    body = client.post(POST.format(numero), params={"forcar": forcar}).json()
    assert body["status"] == "queued", body
    done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"})
    assert done["status"] == "SUCCESS", done
    return done["result"]


def _lookup(client: httpx.Client, numero: str, **params: object) -> dict:
    body = client.post(POST.format(numero), params=params).json()
    assert body["status"] == "found_existing", body
    return body


def _history(client: httpx.Client, numero: str, **params: object) -> dict:
    r = client.get(HISTORY.format(numero), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _age(db_url: str, numero: str, seconds: float) -> None:
    """Make the stored record ``seconds`` older (as if read that long ago)."""
    with session_scope(db_url) as s:
        row = find_os(s, numero)
        assert row is not None
        row.scraped_at = row.scraped_at - dt.timedelta(seconds=seconds)


def test_a_change_in_the_legacy_system_reaches_record_and_history_on_reread(stack, worker,
                                                                            client):
    numero = "1601"
    expected = expected_record(numero)
    first = _scrape(client, numero, forcar=False)
    stored = _lookup(client, numero)
    assert _parse(stored["lido_em"]) == _parse(first["lido_em"])
    assert _history(client, numero) == {"numero_os": numero, "total": 0, "alteracoes": [],
                                        "proxima_pagina": None}

    new_status = "Entregue" if expected.os.status != "Entregue" else "Concluída"
    stack.demo.change_os(numero, status=new_status, valor_total="R$ 4.321,09",
                         telefone="(11) 3333-4444")
    try:
        # not before a re-read: the stored record and its history are unchanged
        before = _lookup(client, numero)
        assert before["data"] == stored["data"] and before["lido_em"] == stored["lido_em"]
        assert _history(client, numero)["total"] == 0

        reread = _scrape(client, numero, forcar=True)
        assert _parse(reread["lido_em"]) > _parse(first["lido_em"])
        assert reread["data"]["ordem_servico"]["status"] == new_status
        after = _lookup(client, numero)
        assert _parse(after["lido_em"]) == _parse(reread["lido_em"])
        assert after["data"]["ordem_servico"]["status"] == new_status
        assert after["data"]["ordem_servico"]["valor_total"] == "4321.09"
        assert after["data"]["cliente_dados"]["telefone"] == "1133334444"
        history = _history(client, numero)
        assert history["total"] == 3
        assert sorted((c["campo"], c["valor_anterior"], c["valor_novo"])
                      for c in history["alteracoes"]) == sorted([
            ("ordem_servico.status", expected.os.status, new_status),
            ("ordem_servico.valor_total",
             str(expected.os.valor_total) if expected.os.valor_total is not None else None,
             "4321.09"),
            ("cliente_dados.telefone", expected.cliente.telefone, "1133334444"),
        ])
        assert {_parse(c["observado_em"]) for c in history["alteracoes"]} == \
            {_parse(reread["lido_em"])}

        # the same page read again: a newer lido_em, no history (idempotent)
        again = _scrape(client, numero, forcar=True)
        assert _parse(again["lido_em"]) > _parse(reread["lido_em"])
        assert _history(client, numero)["total"] == 3

        # two more changes over time: pages, newest first
        for step in ("Etapa 1", "Etapa 2"):
            stack.demo.change_os(numero, status=step)
            _scrape(client, numero, forcar=True)
        page = _history(client, numero, limite=2)
        assert page["total"] == 5
        assert [(c["valor_anterior"], c["valor_novo"]) for c in page["alteracoes"]] == \
            [("Etapa 1", "Etapa 2"), (new_status, "Etapa 1")]
        older = client.get(page["proxima_pagina"]).json()
        assert len(older["alteracoes"]) == 2 and older["proxima_pagina"] is not None
        assert max(c["id"] for c in older["alteracoes"]) < min(c["id"]
                                                               for c in page["alteracoes"])
        last = client.get(older["proxima_pagina"]).json()
        assert len(last["alteracoes"]) == 1 and last["proxima_pagina"] is None
    finally:
        stack.demo.reset()
    with session_scope(stack.db_url) as s:
        assert find_os(s, numero).valor_total == Decimal("4321.09")


def test_max_idade_answers_stale_at_once_with_one_refresh_then_fresh(stack, worker, client,
                                                                     api):
    numero = "1602"
    expected = expected_record(numero)
    first = _scrape(client, numero, forcar=False)
    _age(stack.db_url, numero, 3600)
    aged = _lookup(client, numero)
    assert aged["idade_segundos"] >= 3600 and aged["desatualizado"] is False

    new_status = "Entregue" if expected.os.status != "Entregue" else "Concluída"
    stack.demo.change_os(numero, diagnostico="Rotor trocado.", status=new_status)
    pages_before = stack.demo.stats()["os_pages"]
    stack.demo.faults(latency_ms=100)  # the refresh takes a while: callers overlap it
    try:
        with httpx.Client(base_url=api.url, headers=api.headers, timeout=60,
                          limits=httpx.Limits(max_connections=100)) as c, \
                ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(
                lambda _: c.post(POST.format(numero), params={"max_idade": 600}), range(100)))
        bodies = [a.json() for a in answers]
        assert {a.status_code for a in answers} == {200}
        assert {b["status"] for b in bodies} == {"found_existing"}
        stale = [b for b in bodies if b["desatualizado"]]
        assert stale, "an hour-old record with max_idade=600 must be stale"
        for body in stale:  # the stored record at once, and the refresh's task
            assert body["data"] == aged["data"] and body["idade_segundos"] >= 3600
            assert body["task_id"] == f"scraping_{numero}"
        done = wait_status(client, f"scraping_{numero}", {"SUCCESS", "FAILURE"})
    finally:
        stack.demo.faults(latency_ms=0)
    assert done["status"] == "SUCCESS", done
    # one refresh: the demo served the OS page once for all 100 callers
    assert stack.demo.stats()["os_pages"] - pages_before == 1, \
        worker.log_path.read_text()[-6000:]

    fresh = _lookup(client, numero, max_idade=600)
    assert fresh["desatualizado"] is False and "task_id" not in fresh
    assert fresh["idade_segundos"] < 600
    assert _parse(fresh["lido_em"]) == _parse(done["result"]["lido_em"])
    assert _parse(fresh["lido_em"]) > _parse(first["lido_em"])
    assert fresh["data"]["ordem_servico"]["diagnostico"] == "Rotor trocado."
    history = _history(client, numero)
    assert {c["campo"] for c in history["alteracoes"]} >= {"ordem_servico.diagnostico",
                                                          "ordem_servico.status"}
    stack.demo.reset()


def test_a_stale_refresh_claimed_after_another_refresh_does_not_scrape_again(stack, worker,
                                                                            client):
    """The window the one claim leaves: a caller reads the stale record, a refresh saves
    it and releases the claim, then that caller claims. Its task (which carries the
    lido_em the caller saw) answers the record read since instead of scraping again;
    with the record's own lido_em it does scrape (the control)."""
    numero = "1605"
    first = _scrape(client, numero, forcar=False)
    read_at = _parse(first["lido_em"])
    settings = Settings(redis_url=stack.redis_url)
    celery = make_celery(settings)

    def refresh(seen: dt.datetime) -> dict:
        call = publishing.new_task_call(celery, settings, numero, replaces_read_at=seen)
        assert call.run(stack.redis()).outcome == "queued"
        done = wait_status(client, f"scraping_{numero}", {"SUCCESS", "FAILURE"})
        assert done["status"] == "SUCCESS", done
        return done["result"]

    pages = stack.demo.stats()["os_pages"]
    answered = refresh(read_at - dt.timedelta(hours=1))  # the caller saw an older read
    assert stack.demo.stats()["os_pages"] == pages, worker.log_path.read_text()[-3000:]
    assert _parse(answered["lido_em"]) == read_at
    assert answered["data"] == _lookup(client, numero)["data"]  # as stored
    assert answered["cliente_id"] == first["cliente_id"]
    assert answered["scraped_fields"] == first["scraped_fields"]

    scraped = refresh(read_at)  # nothing read since what the caller saw: read it again
    assert stack.demo.stats()["os_pages"] == pages + 1
    assert _parse(scraped["lido_em"]) > read_at


def _changes_metric(http: httpx.Client) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("registro_record_changes_total{"):
            section = line.split('section="', 1)[1].split('"', 1)[0]
            samples[section] = float(line.rsplit(" ", 1)[1])
    return samples


def test_worker_counts_the_changes_it_saves(stack, client):
    """registro_record_changes_total{section}: one per changed field, per section."""
    from devstack.processes import free_port

    stack.stop_workers()  # the only worker: the one whose metrics are read
    port = free_port()
    stack.start_worker(f"metrics-{port}", REGISTRO_WORKER_METRICS_PORT=port)
    numero = "1603"
    expected = expected_record(numero)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        _scrape(client, numero, forcar=False)
        assert _changes_metric(http) == {}  # a first read changes nothing
        new_status = "Entregue" if expected.os.status != "Entregue" else "Concluída"
        stack.demo.change_os(numero, status=new_status, diagnostico="Outro.",
                             telefone="(11) 3333-4444", modelo="W22 999")
        try:
            _scrape(client, numero, forcar=True)
        finally:
            stack.demo.reset()
        assert _changes_metric(http) == {"ordem_servico": 2.0, "cliente": 1.0,
                                         "equipamento": 1.0}
        assert _history(client, numero)["total"] == 4
