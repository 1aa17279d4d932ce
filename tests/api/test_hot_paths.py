"""The hot routes' shortcuts against the live API: each must stay exactly as correct as
the slow path it replaced (issue #9).

- scraping-status reuses an encoded answer only while the raw Redis values it was built
  from are unchanged: every change of the task's result shows on the next poll;
- queue-status reads the heartbeats in the same Lua script as the queue, and drops a
  worker whose heartbeat expired, as the slow path did;
- every /api/ operation still declares the Bearer scheme, now declared once for all.
"""

from __future__ import annotations

import httpx
import redis

from registro import pipeline_state as state
from registro.celery_config import make_celery
from registro.legacy_demo.data import expected_record
from registro.records import public_data
from registro.settings import Settings

BASE = "/api/desenvolvimento"


def test_status_answer_follows_every_change_of_the_result(live_api):
    client = redis.Redis.from_url(live_api.redis_url)
    celery = make_celery(Settings(redis_url=live_api.redis_url))
    task_id, numero_os = "scraping_990001", "990001"
    state.record_task(client, task_id, numero_os, "token")
    with live_api.client() as api:
        def poll() -> dict:
            return api.get(f"{BASE}/scraping-status/{task_id}").raise_for_status().json()

        assert poll()["status"] == "PENDING"
        assert poll()["status"] == "PENDING"  # the second poll is served from the cache
        celery.backend.store_result(task_id, {"progress": 40, "message": "Extraindo"},
                                    "PROGRESS")
        assert (poll()["progress"], poll()["message"]) == (40, "Extraindo")
        celery.backend.store_result(task_id, {"progress": 70, "message": "Salvando"},
                                    "PROGRESS")
        assert poll()["progress"] == 70
        record = expected_record(numero_os)
        celery.backend.store_result(
            task_id, {"status": "success", "data": public_data(record), "cliente_id": 1,
                      "equipamento_id": 2, "scraped_fields": record.field_count()},
            "SUCCESS")
        done = poll()
        assert done["status"] == "SUCCESS"
        assert done["result"]["data"]["numero_os"] == numero_os
        client.delete(state.TASK_PREFIX + task_id)  # the record expired
        assert api.get(f"{BASE}/scraping-status/{task_id}").status_code == 404


def test_queue_status_drops_a_worker_whose_heartbeat_expired(live_api):
    client = redis.Redis.from_url(live_api.redis_url)
    client.sadd(state.WORKERS_KEY, "gone@test")  # a name without a heartbeat
    with live_api.client() as api:
        body = api.get(f"{BASE}/queue-status").raise_for_status().json()
    assert body["queue_info"]["workers_online"] == 1  # the contract worker only
    assert body["celery_available"] is True
    members = {m.decode() for m in client.smembers(state.WORKERS_KEY)}
    assert "gone@test" not in members and "contract@test" in members


def test_every_api_operation_declares_the_bearer_scheme(live_api):
    document = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = [(path, op) for path, ops in document["paths"].items()
                  if path.startswith("/api/") for op in ops.values()]
    assert len(operations) >= 3
    for path, op in operations:
        assert op["security"] == [{"ApiKey": []}], path
    assert "security" not in document["paths"]["/healthz"]["get"]
