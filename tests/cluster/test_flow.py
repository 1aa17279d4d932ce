"""A lookup through real pods: the API Service (kubectl port-forward) queues it, a worker
pod scrapes the demo legacy system (a pod) through its browser sidecar, the rows land in
the bundled PostgreSQL (a pod), and the second lookup answers from the database."""

from __future__ import annotations

import random

from tests.cluster.conftest import NAMESPACE, RELEASE, demo_admin, wait_until

BASE = "/api/desenvolvimento"


def existing_os_number(rng: random.Random) -> str:
    while True:  # the demo answers "not found" for multiples of 97
        n = rng.randrange(100_000, 900_000)
        if n % 97:
            return str(n)


def psql(cluster, sql: str) -> str:
    return cluster.kubectl("exec", "-n", NAMESPACE, f"statefulset/{RELEASE}-postgresql", "--",
                           "psql", "-U", "registro", "-d", "registro", "-tAc", sql).stdout.strip()


def wait_success(api_client, task_id: str, timeout: float = 300) -> dict:
    def done():
        body = api_client.get(f"{BASE}/scraping-status/{task_id}").json()
        assert body["status"] != "FAILURE", body
        return body if body["status"] == "SUCCESS" else None

    return wait_until(done, timeout, 1, what=f"task {task_id} SUCCESS")


def test_lookup_is_scraped_by_a_worker_pod_and_then_found(node_cluster, api_client):
    numero = existing_os_number(random.Random())
    searches_before = demo_admin(node_cluster, "/_demo/stats")["searches"]

    first = api_client.post(f"{BASE}/buscar-os-async/{numero}")
    assert first.status_code in (200, 202), first.text
    queued = first.json()
    assert queued["status"] == "queued" and queued["via"] == "fila", queued

    status = wait_success(api_client, queued["task_id"])
    assert status["numero_os"] == numero and status["result"]["scraped_fields"] > 0, status

    assert psql(node_cluster, f"select count(*) from ordem_servico where numero_os = '{numero}'"
                ) == "1"
    assert demo_admin(node_cluster, "/_demo/stats")["searches"] == searches_before + 1

    second = api_client.post(f"{BASE}/buscar-os-async/{numero}")
    assert second.status_code == 200, second.text
    found = second.json()
    assert found["status"] == "found_existing" and found["fonte"] == "banco_local", found
    assert found["data"]["numero_os"] == numero
    # nothing scraped the second time
    assert demo_admin(node_cluster, "/_demo/stats")["searches"] == searches_before + 1
