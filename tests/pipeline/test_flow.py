"""The queue path end to end: real Redis, real Celery workers, real Chromium, the demo."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from devstack.waits import wait_until
from registro.db import session_scope
from registro.legacy_demo.data import expected_record
from registro.models import Cliente, Equipamento, OrdemServico
from tests.pipeline.harness import wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"


def os_rows(db_url: str, numero_os: str) -> int:
    with session_scope(db_url) as s:
        return s.scalar(select(func.count()).select_from(OrdemServico)
                        .where(OrdemServico.numero_os == numero_os))


def test_full_flow_queued_progress_success_found_existing(stack, worker, client):
    numero = "1201"
    stack.demo.faults(latency_ms=150)  # slow enough to watch PROGRESS climb
    try:
        r = client.post(POST.format(numero))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "queued" and body["via"] == "fila"
        assert body["task_id"] == f"scraping_{numero}"
        assert body["instructions"]["check_status"] == \
            f"/api/desenvolvimento/scraping-status/scraping_{numero}"
        assert "segundos" in body["estimated_time"] or "minutos" in body["estimated_time"]

        seen: list[dict] = []
        done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"}, seen=seen)
    finally:
        stack.demo.faults(latency_ms=0)
    assert done["status"] == "SUCCESS", done
    progress = [b["progress"] for b in seen if b["status"] == "PROGRESS"]
    assert len(set(progress)) >= 2, seen  # several steps seen, climbing
    assert progress == sorted(progress)
    assert all(b["numero_os"] == numero for b in seen)

    result = done["result"]
    expected = expected_record(numero)
    assert result["status"] == "success"
    assert result["scraped_fields"] == expected.field_count()
    assert result["data"]["numero_os"] == numero
    assert result["data"]["cliente"] == expected.cliente.razao_social
    with session_scope(stack.db_url) as s:
        row = s.scalar(select(OrdemServico).where(OrdemServico.numero_os == numero))
        assert row is not None
        assert row.cliente_id == result["cliente_id"]
        assert row.equipamento_id == result["equipamento_id"]
        assert s.get(Cliente, row.cliente_id).cnpj == expected.cliente.cnpj
        assert s.get(Equipamento, row.equipamento_id).numero_serie == \
            expected.equipamento.numero_serie

    again = client.post(POST.format(numero)).json()
    assert again["status"] == "found_existing"
    assert again["fonte"] == "banco_local"
    assert again["message"] == f"OS {numero} já existe no sistema"
    assert again["data"]["cliente_dados"]["cnpj"] == expected.cliente.cnpj
    assert again["data"]["ordem_servico"]["numero_os"] == numero

    forced = client.post(POST.format(numero), params={"forcar": "true"}).json()
    assert forced["status"] == "queued", forced
    done = wait_status(client, forced["task_id"], {"SUCCESS", "FAILURE"})
    assert done["status"] == "SUCCESS"
    assert done["result"]["cliente_id"] == result["cliente_id"]  # idempotent save
    assert os_rows(stack.db_url, numero) == 1

    # With acks_late the result is stored before the message is acknowledged, so the
    # unacked entry (counted in total_queue) may outlive SUCCESS by a moment.
    def queue_status():
        qs = client.get("/api/desenvolvimento/queue-status").json()
        return qs if qs["queue_info"]["total_queue"] == 0 else None
    qs = wait_until(queue_status, 10, what="the acknowledged task to leave the queue")
    assert qs["status"] == "success" and qs["celery_available"] is True
    assert qs["queue_info"]["workers_online"] >= 1


def test_not_found_is_a_clear_failure(worker, client):
    numero = "9700"  # multiple of 97: the demo has no such OS
    body = client.post(POST.format(numero)).json()
    assert body["status"] == "queued"
    done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"})
    assert done["status"] == "FAILURE" and done["reason"] == "not_found", done


def test_hundred_concurrent_posts_start_one_scrape(stack, worker, client, api):
    numero = "1302"
    stack.demo.reset()
    stack.demo.faults(latency_ms=100, slow_os_ms=2000)
    try:
        with httpx.Client(base_url=api.url, headers=api.headers, timeout=60,
                          limits=httpx.Limits(max_connections=100)) as c:
            def post(_):
                return c.post(POST.format(numero))

            with ThreadPoolExecutor(100) as pool:
                answers = list(pool.map(post, range(100)))
        assert all(a.status_code == 200 for a in answers), {a.status_code for a in answers}
        bodies = [a.json() for a in answers]
        # A post that a loaded machine delays past the stored record rightly answers
        # found_existing (seen once in CI); every other one joins the one task.
        queued = [b for b in bodies if b["status"] != "found_existing"]
        assert queued and {b["task_id"] for b in queued} == {f"scraping_{numero}"}, bodies
        assert sum(1 for b in queued if not b["already_queued"]) == 1
        done = wait_status(client, f"scraping_{numero}", {"SUCCESS", "FAILURE"})
    finally:
        stack.demo.faults(latency_ms=0, slow_os_ms=0)
    assert done["status"] == "SUCCESS", done
    stats = stack.demo.stats()
    assert stats["searches"] == 1 and stats["os_pages"] == 1, stats
    assert os_rows(stack.db_url, numero) == 1


def _wait_search_submitted(stack) -> None:
    """The demo counted the search (reset before): the scrape is past it, on the slow OS
    page."""
    wait_until(lambda: stack.demo.stats()["searches"] >= 1, 60, interval=0.05,
               what="the scrape to reach the search")


def test_sigkilled_worker_task_is_redelivered_and_completes_once(private_stack, private_client):
    stack, client = private_stack, private_client
    numero = "1403"
    stack.stop_workers()  # exactly one worker (of this test's own stack), the one we kill
    victim = stack.start_worker("victim")
    stack.demo.reset()
    stack.demo.faults(slow_os_ms=3000)
    replacement = None
    try:
        body = client.post(POST.format(numero)).json()
        assert body["status"] == "queued"
        _wait_search_submitted(stack)
        victim.kill()  # main process, pool child and browser, mid-scrape
        assert os_rows(stack.db_url, numero) == 0
        stack.demo.faults(slow_os_ms=0)
        replacement = stack.start_worker("after-kill")
        # Redelivered once the visibility timeout (12 s here) has passed.
        done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"}, timeout=90)
    finally:
        stack.demo.faults(slow_os_ms=0)
    assert done["status"] == "SUCCESS", done
    assert os_rows(stack.db_url, numero) == 1
    assert stack.demo.stats()["searches"] == 2  # the killed try, then the redelivery
    assert replacement is not None


def test_sigterm_drains_the_task_in_hand(private_stack, private_client):
    stack, client = private_stack, private_client
    numero = "1504"
    stack.stop_workers()  # only `draining` consumes
    draining = stack.start_worker("drain")
    stack.demo.reset()
    stack.demo.faults(slow_os_ms=2500)
    try:
        body = client.post(POST.format(numero)).json()
        assert body["status"] == "queued"
        _wait_search_submitted(stack)
        draining.proc.terminate()  # SIGTERM: warm shutdown
        done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"}, timeout=60)
        draining.proc.wait(60)
    finally:
        stack.demo.faults(slow_os_ms=0)
    assert done["status"] == "SUCCESS", done
    assert draining.proc.returncode == 0
    assert os_rows(stack.db_url, numero) == 1
    assert stack.demo.stats()["searches"] == 1  # finished in hand, not redone
    stack.workers.remove(draining)
    draining.stop()
