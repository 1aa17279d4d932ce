"""The operator scaling real worker pods, and a worker pod deleted mid-scrape.

The ScraperPool gets a short scale-down window and poll interval for the test; the demo
legacy system gets added latency so the queue outlasts the scale-up."""

from __future__ import annotations

import json
import random
import time

from tests.cluster.conftest import NAMESPACE, RELEASE, demo_admin, wait_until
from tests.cluster.test_flow import BASE, existing_os_number, psql, wait_success

WORKER = f"{RELEASE}-worker"
WORKER_SELECTOR = "app.kubernetes.io/component=worker"
SCALE_DOWN_WINDOW_S = 30


def worker_pods(cluster) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", WORKER_SELECTOR, "-o", "json")
    return [p for p in json.loads(out.stdout)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def ready_workers(cluster) -> list[str]:
    return [p["metadata"]["name"] for p in worker_pods(cluster)
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in p["status"].get("conditions", []))]


def replicas(cluster) -> int:
    return int(cluster.kubectl("get", "deploy", WORKER, "-n", NAMESPACE, "-o",
                               "jsonpath={.spec.replicas}").stdout)


def successes_by_pod(cluster) -> dict[str, int]:
    counts = {}
    for pod in worker_pods(cluster):
        name = pod["metadata"]["name"]
        logs = cluster.kubectl("logs", "-n", NAMESPACE, name, "-c", "worker", check=False).stdout
        counts[name] = logs.count("msg=scrape finished outcome=success")
    return counts


def set_pool(cluster, **spec) -> None:
    cluster.kubectl("patch", "scraperpool", RELEASE, "-n", NAMESPACE, "--type", "merge",
                    "-p", json.dumps({"spec": spec}))


def test_operator_scales_workers_to_three_and_back(node_cluster, api_client):
    set_pool(node_cluster, pollIntervalSeconds=2, scaleDownStabilizationSeconds=SCALE_DOWN_WINDOW_S)
    wait_until(lambda: replicas(node_cluster) == 1, 120, what="pool at 1 worker")
    demo_admin(node_cluster, "/_demo/faults", "POST", {"latency_ms": 400})
    searches0 = demo_admin(node_cluster, "/_demo/stats")["searches"]
    rng = random.Random()
    numbers = sorted({existing_os_number(rng) for _ in range(18)})
    try:
        tasks = [api_client.post(f"{BASE}/buscar-os-async/{n}").json() for n in numbers]
        assert all(t["status"] == "queued" for t in tasks), tasks
        loaded = time.monotonic()
        wait_until(lambda: replicas(node_cluster) == 3, 120, 1, what="operator scales to 3")
        wait_until(lambda: len(ready_workers(node_cluster)) >= 3, 600, 2,
                   what="three worker pods Ready")
        reaction = time.monotonic() - loaded
        print(f"\n[cluster] queue loaded -> third worker pod Ready: {reaction:.1f} s")
        for t in tasks:
            wait_success(api_client, t["task_id"], timeout=900)
        shares = successes_by_pod(node_cluster)
        print(f"[cluster] scrapes per worker pod: {shares}")
    finally:
        demo_admin(node_cluster, "/_demo/faults", "POST", {"latency_ms": 0})
    assert sum(1 for c in shares.values() if c) >= 2, shares  # the work was shared
    in_list = ",".join(f"'{n}'" for n in numbers)
    assert psql(node_cluster, f"select count(*) from ordem_servico where numero_os in ({in_list})"
                ) == str(len(numbers))
    # each OS scraped once: the demo's own search counter
    assert demo_admin(node_cluster, "/_demo/stats")["searches"] - searches0 == len(numbers)
    wait_until(lambda: replicas(node_cluster) == 1, SCALE_DOWN_WINDOW_S + 180, 2,
               what="back to 1 worker after the scale-down window")


def test_worker_pod_deleted_mid_scrape_loses_and_duplicates_nothing(node_cluster, api_client):
    wait_until(lambda: replicas(node_cluster) == 1 and len(ready_workers(node_cluster)) == 1,
               300, 2, what="one Ready worker")
    (victim,) = ready_workers(node_cluster)
    numero = existing_os_number(random.Random())
    searches0 = demo_admin(node_cluster, "/_demo/stats")["searches"]
    demo_admin(node_cluster, "/_demo/faults", "POST", {"slow_os_ms": 8000})
    try:
        task = api_client.post(f"{BASE}/buscar-os-async/{numero}").json()
        # the scrape is under way: the demo has seen its search
        wait_until(lambda: demo_admin(node_cluster, "/_demo/stats")["searches"] > searches0,
                   180, 0.5, what="scrape reached the legacy system")
        node_cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")
        status = wait_success(api_client, task["task_id"], timeout=600)
    finally:
        demo_admin(node_cluster, "/_demo/faults", "POST", {"slow_os_ms": 0})
    assert status["numero_os"] == numero
    assert psql(node_cluster, f"select count(*) from ordem_servico where numero_os = '{numero}'"
                ) == "1"
    # finished by the grace period, not redone by another pod (the browser is a native
    # sidecar: it outlives the draining worker container)
    assert demo_admin(node_cluster, "/_demo/stats")["searches"] - searches0 == 1
