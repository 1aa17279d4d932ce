"""Scale-in with real worker pods: three workers, one busy on a slow OS, two idle.

Run twice on the same release: first as before issue 21 (the pool reads the API's
/metrics, so busy and idle are unknown and Kubernetes picks the pods to remove), then
with the chart's default (the depth and the workers' heartbeats from Redis: the busy pod
is marked with a high pod-deletion-cost and only idle pods are removed). Each run prints
which pod went, how many searches were redone and how long the scale-down took.

``make test`` runs the "after" half only (the "before" half doubles the test's time and
proves nothing about this code). ``REGISTRO_SCALE_IN_COMPARE=1`` adds the "before" half
on this code and the endpoint source; ``REGISTRO_SCALE_IN_BEFORE_OPERATOR=<docker
archive>`` runs it with that operator image (tagged ``registro-operator:before``, e.g.
built from the commit this branch started from)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

from tests.cluster.conftest import NAMESPACE, RELEASE, demo_admin, wait_until
from tests.cluster.test_flow import BASE, existing_os_number, wait_success
from tests.cluster.test_scaling import WORKER_SELECTOR, ready_workers, replicas

WINDOW_S = 10
POLL_S = 2
# The OS page and its data each take 15 s: under the workers' page timeout (20 s), so
# the worker Deployment is not rolled to raise it (two rollouts cost this test 40-60 s),
# and the lookup (30+ s) still outlasts the window and the idle pods' exit by far.
SLOW_OS_MS = 15_000
ENDPOINT = {"endpoint": {"url": f"http://{RELEASE}-api.{NAMESPACE}.svc:80/metrics",
                         "metric": "registro_queue_depth"}, "redis": None}
REDIS = {"redis": {"queue": "scraping"}, "endpoint": None}


def all_worker_pods(cluster) -> list[str]:
    """Worker pods, Terminating ones included: a scale-down is over when they are gone."""
    out = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", WORKER_SELECTOR, "-o", "json")
    return sorted(p["metadata"]["name"] for p in json.loads(out.stdout)["items"])


def patch_pool(cluster, **spec) -> None:
    cluster.kubectl("patch", "scraperpool", RELEASE, "-n", NAMESPACE, "--type", "merge",
                    "-p", json.dumps({"spec": spec}))


def pod_running(cluster, task_id: str) -> str | None:
    for pod in ready_workers(cluster):
        logs = cluster.kubectl("logs", "-n", NAMESPACE, pod, "-c", "worker",
                               check=False).stdout
        if f"task_id={task_id}" in logs:
            return pod
    return None


def scenario(cluster, api_client, metrics: dict) -> dict:
    patch_pool(cluster, metrics=metrics, minReplicas=3, pollIntervalSeconds=POLL_S,
               scaleDownStabilizationSeconds=WINDOW_S)
    wait_until(lambda: replicas(cluster) == 3, 120, 1, what="3 workers asked")
    wait_until(lambda: len(ready_workers(cluster)) == 3 and len(all_worker_pods(cluster)) == 3,
               900, 2, what="three Ready worker pods, no other")
    demo_admin(cluster, "/_demo/faults", "POST", {"slow_os_ms": SLOW_OS_MS})
    searches0 = demo_admin(cluster, "/_demo/stats")["searches"]
    numero = existing_os_number(random.Random())
    try:
        task = api_client.post(f"{BASE}/buscar-os-async/{numero}?forcar=true").json()
        wait_until(lambda: demo_admin(cluster, "/_demo/stats")["searches"] > searches0,
                   180, 0.5, what="the lookup reached the legacy system")
        busy = wait_until(lambda: pod_running(cluster, task["task_id"]), 60, 1,
                          what="the pod running the lookup")
        pods_before = all_worker_pods(cluster)
        lowered_at = time.monotonic()
        patch_pool(cluster, minReplicas=1)  # the window starts: the queue (1) needs 1
        wait_until(lambda: replicas(cluster) < 3, WINDOW_S + 120, 0.5, what="scale-down")
        scaled_s = time.monotonic() - lowered_at
        wait_until(lambda: len(all_worker_pods(cluster)) == 1, 600, 0.5,
                   what="two worker pods gone")
        done_s = time.monotonic() - lowered_at
        (kept,) = all_worker_pods(cluster)
        wait_success(api_client, task["task_id"], timeout=600)
        lookup_s = time.monotonic() - lowered_at
    finally:
        demo_admin(cluster, "/_demo/faults", "POST", {"slow_os_ms": 0})
    searches = demo_admin(cluster, "/_demo/stats")["searches"] - searches0
    return {"busy": busy, "kept": kept, "removed": sorted(set(pods_before) - {kept}),
            "busy_pod_kept": kept == busy, "lookups": 1, "searches": searches,
            "redone": searches - 1, "scaled_after_s": round(scaled_s, 1),
            "scale_down_done_s": round(done_s, 1), "lookup_done_s": round(lookup_s, 1)}


BEFORE_IMAGE = "docker.io/library/registro-operator:before"


def set_operator_image(cluster, image: str) -> None:
    cluster.kubectl("set", "image", f"deployment/{RELEASE}-operator", "-n", NAMESPACE,
                    f"operator={image}")
    cluster.kubectl("rollout", "status", f"deployment/{RELEASE}-operator", "-n", NAMESPACE,
                    "--timeout=300s", timeout=330)


def test_scale_in_keeps_the_busy_pod_and_redoes_nothing(node_cluster, api_client):
    results = {}
    archive = os.environ.get("REGISTRO_SCALE_IN_BEFORE_OPERATOR")
    ours = node_cluster.kubectl(
        "get", "deployment", f"{RELEASE}-operator", "-n", NAMESPACE, "-o",
        "jsonpath={.spec.template.spec.containers[0].image}").stdout
    before_label = "before (API /metrics, Kubernetes picks)"
    try:
        if archive:
            node_cluster.import_image(Path(archive))
            set_operator_image(node_cluster, BEFORE_IMAGE)
            before_label = "before (the pre-issue operator image, API /metrics)"
        if archive or os.environ.get("REGISTRO_SCALE_IN_COMPARE") == "1":
            results["before"] = scenario(node_cluster, api_client, ENDPOINT)
            print(f"\n[scale-in] {before_label}: {json.dumps(results['before'])}")
        if archive:
            set_operator_image(node_cluster, ours)
        results["after"] = scenario(node_cluster, api_client, REDIS)
        print(f"\n[scale-in] after (Redis, idle pods first): {json.dumps(results['after'])}")
    finally:
        if archive:
            set_operator_image(node_cluster, ours)
        patch_pool(node_cluster, metrics=REDIS, minReplicas=1)
    after = results["after"]
    assert after["busy_pod_kept"], after
    assert after["redone"] == 0, after  # the demo's search counter rose by exactly one
    # the replicas drop within a poll (plus a loaded machine's slack) of the window ...
    assert after["scaled_after_s"] <= WINDOW_S + POLL_S + 10, after
    # ... and the idle pods are gone long before the lookup ends: no grace-period wait
    assert after["scale_down_done_s"] < after["lookup_done_s"], after
    before = results.get("before")
    assert before is None or before["redone"] == 0, before  # warm shutdown finishes it
    pool = json.loads(node_cluster.kubectl("get", "scraperpool", RELEASE, "-n", NAMESPACE,
                                           "-o", "json").stdout)
    assert {c["type"]: c["status"] for c in pool["status"]["conditions"]}["Ready"] == "True"
