"""What on-call and GitOps tools see, against the real API server: ``spec.paused``,
``spec.fallbackReplicas`` after N failed reads, ``kubectl wait --for=condition=Ready``,
no duplicate events; the queue depth read from Redis while the database (and so the
API's readiness) is down; idle-first scale-in with pod-deletion-cost."""

from __future__ import annotations

import collections

import httpx
import pytest
import redis

from devstack.processes import free_port
from registro import pipeline_state
from registro_operator.reconcile import BUSY_COST, DELETION_COST, IDLE_COST
from tests.operator.conftest import (
    GROUP,
    PLURAL,
    VERSION,
    deployment,
    running_operator,
    scraperpool,
    wait_until,
)
from tests.operator.test_autoscale import condition, events, polls_seen, pool_status, replicas

pytestmark = pytest.mark.k8s


@pytest.fixture
def apis(admin_api):
    import kubernetes

    return (kubernetes.client.AppsV1Api(admin_api), kubernetes.client.CustomObjectsApi(admin_api),
            kubernetes.client.CoreV1Api(admin_api))


def ready(custom, namespace) -> dict:
    return condition(pool_status(custom, namespace), "Ready")


def assert_no_duplicate_events(core, namespace) -> None:
    """kopf's own "Logging" copies are off; each (reason, message) is posted once."""
    got = events(core, namespace)
    assert not [e for e in got if e.reason == "Logging"], [e.message for e in got]
    counts = collections.Counter((e.reason, e.message) for e in got)
    assert all(n == 1 for n in counts.values()), counts
    assert all((e.count or 1) == 1 for e in got), [(e.reason, e.count) for e in got]


def test_paused_holds_under_load_and_resumes(kube_cluster, apis, operator_kubeconfig, namespace,
                                             queue_api, real_queue):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url, pollIntervalSeconds=1,
                    paused=True))
    with running_operator(operator_kubeconfig, namespace) as runner:
        real_queue.enqueue(12)
        wait_until(lambda: pool_status(custom, namespace).get("queueDepth") == 12, 30,
                   what="the loaded queue read")
        polls_seen(custom, namespace, 3)
        assert replicas(apps, namespace) == 1
        status = pool_status(custom, namespace)
        assert status["paused"] is True
        assert (ready(custom, namespace)["status"], ready(custom, namespace)["reason"]) \
            == ("True", "Paused")
        assert "would be 3" in condition(status, "Scaling")["message"]
        row = kube_cluster.kubectl("get", "sp", "pool", "-n", namespace).stdout.splitlines()[1]
        assert row.split()[:6] == ["pool", "True", "12", "1", "1", "true"]
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pool",
                                              {"spec": {"paused": False}})
        wait_until(lambda: replicas(apps, namespace) == 3, 30, what="resumed: scale up to 3")
        wait_until(lambda: {"Paused", "Resumed", "ScaledUp"}
                   <= {e.reason for e in events(core, namespace)}, 10, what="events")
        polls_seen(custom, namespace, 2)
        assert_no_duplicate_events(core, namespace)
    assert runner.exception is None


def test_fallback_after_n_failed_reads_and_kubectl_wait_ready(
        kube_cluster, apis, operator_kubeconfig, namespace, queue_api, real_queue):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url, pollIntervalSeconds=1,
                    fallbackReplicas=2, failureThreshold=3))
    with running_operator(operator_kubeconfig, namespace) as runner:
        waited = kube_cluster.kubectl("wait", "--for=condition=Ready", "scraperpool/pool",
                                      "-n", namespace, "--timeout=60s", check=False)
        assert waited.returncode == 0, waited.stderr
        assert "condition met" in waited.stdout

        queue_api.stop()
        failed = wait_until(
            lambda: (s := pool_status(custom, namespace)).get("policy", {}).get(
                "failedReads", 0) >= 1 and s, 30, what="a failed read")
        # below the threshold nothing moves and the pool is still Ready
        assert failed["policy"]["failedReads"] < 3 or replicas(apps, namespace) == 2
        wait_until(lambda: replicas(apps, namespace) == 2, 30, what="fallback to 2 replicas")
        # the scale is written before the status and the event of the same poll
        status = wait_until(lambda: (s := pool_status(custom, namespace))["policy"].get(
            "failedReads", 0) >= 3 and condition(s, "Ready")["status"] == "False" and s,
            30, what="the fallback in the status")
        assert condition(status, "Ready")["reason"] == "FallbackActive"
        wait_until(lambda: [e.type for e in events(core, namespace)
                            if e.reason == "FallbackActive"], 30, what="the fallback event")
        assert [e.type for e in events(core, namespace) if e.reason == "FallbackActive"] \
            == ["Warning"]
        polls_seen(custom, namespace, 2)
        assert replicas(apps, namespace) == 2  # applied once, held

        queue_api.start()
        real_queue.enqueue(9)  # reads are back: the queue decides again
        wait_until(lambda: replicas(apps, namespace) == 3, 30, what="cleared: scale up to 3")
        wait_until(lambda: ready(custom, namespace).get("status") == "True", 20,
                   what="Ready again")
        assert pool_status(custom, namespace)["policy"]["failedReads"] == 0
        waited = kube_cluster.kubectl("wait", "--for=condition=Ready", "scraperpool/pool",
                                      "-n", namespace, "--timeout=30s", check=False)
        assert waited.returncode == 0, waited.stderr
        assert_no_duplicate_events(core, namespace)
    assert runner.exception is None


def test_database_down_redis_up_the_operator_still_scales(
        apis, operator_kubeconfig, namespace, queue_api_server, redis_url, real_queue):
    """The API over a database that does not answer is unready (its Service would have
    no endpoints, so its /metrics is out of reach); ``metrics.redis`` reads the broker."""
    apps, custom, _core = apis
    queue_api_server.stop()
    dead_db = f"postgresql+psycopg://registro:x@127.0.0.1:{free_port()}/registro"
    queue_api_server.start(database_url=dead_db)
    try:
        readyz = httpx.get(f"http://127.0.0.1:{queue_api_server.port}/readyz", timeout=30)
        assert readyz.status_code == 503, readyz.text
        apps.create_namespaced_deployment(namespace, deployment("workers", 1))
        body = scraperpool("pool", "workers", queue_api_server.metrics_url,
                           pollIntervalSeconds=1, scaleDownStabilizationSeconds=2)
        body["spec"]["metrics"] = {"redis": {}, "timeoutSeconds": 2}
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        with running_operator(operator_kubeconfig, namespace, redis_url=redis_url) as runner:
            real_queue.enqueue(12)
            wait_until(lambda: replicas(apps, namespace) == 3, 30, what="scale up from Redis")
            status = pool_status(custom, namespace)
            assert condition(status, "MetricsAvailable")["message"] == \
                "read redis queue 'scraping'"
            assert real_queue.drain() == 12
            wait_until(lambda: replicas(apps, namespace) == 1, 30, what="scale down from Redis")
        assert runner.exception is None
    finally:
        queue_api_server.stop()
        queue_api_server.start()


def worker_pod(name: str) -> dict:
    """A worker pod object (no kubelet here: it stays Pending; only its labels and
    annotations matter to the operator)."""
    return {"metadata": {"name": name, "labels": {"app": "workers"}},
            "spec": {"containers": [{"name": "worker", "image": "registro-worker:test"}]}}


def cost(core, namespace, pod) -> str | None:
    return (core.read_namespaced_pod(pod, namespace).metadata.annotations or {}).get(
        DELETION_COST)


def test_scale_in_marks_busy_pods_and_removes_only_idle_ones(
        apis, operator_kubeconfig, namespace, redis_url):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 3))
    for name in ("w-busy", "w-idle", "w-starting"):
        core.create_namespaced_pod(namespace, worker_pod(name))
    r = redis.Redis.from_url(redis_url)
    # the heartbeats the workers publish (celery@<pod name>); w-starting has none yet
    pipeline_state.heartbeat(r, "celery@w-busy", 1, 600, ["scraping_1"])
    pipeline_state.heartbeat(r, "celery@w-idle", 1, 600, [])
    body = scraperpool("pool", "workers", "http://unused.invalid/metrics",
                       pollIntervalSeconds=1, scaleDownStabilizationSeconds=2)
    body["spec"]["metrics"] = {"redis": {}, "timeoutSeconds": 2}
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    with running_operator(operator_kubeconfig, namespace, redis_url=redis_url) as runner:
        # an empty queue wants 1; only one pod is known idle: 3 -> 2, not 3 -> 1
        wait_until(lambda: replicas(apps, namespace) == 2, 30, what="3 -> 2")
        assert (cost(core, namespace, "w-busy"), cost(core, namespace, "w-idle"),
                cost(core, namespace, "w-starting")) == (BUSY_COST, IDLE_COST, None)
        polls_seen(custom, namespace, 3)
        assert replicas(apps, namespace) == 2  # the same pods, still one idle: no second cut
        # (no ReplicaSet controller here removes a pod; the operator waits for one)
        status = pool_status(custom, namespace)
        assert (status["busyWorkers"], status["idleWorkers"]) == (1, 1)

        # every pod busy: nothing is removed, and the condition says why
        core.delete_namespaced_pod("w-idle", namespace, grace_period_seconds=0)
        core.delete_namespaced_pod("w-starting", namespace, grace_period_seconds=0)
        core.create_namespaced_pod(namespace, worker_pod("w-busy-2"))
        pipeline_state.heartbeat(r, "celery@w-busy-2", 1, 600, ["scraping_2"])
        wait_until(lambda: condition(pool_status(custom, namespace), "Scaling").get("reason")
                   == "WaitingForIdle", 30, what="WaitingForIdle")
        polls_seen(custom, namespace, 2)
        assert replicas(apps, namespace) == 2

        # the lookup finishes: its pod turns idle and goes
        pipeline_state.heartbeat(r, "celery@w-busy-2", 1, 600, [])
        wait_until(lambda: replicas(apps, namespace) == 1, 30, what="2 -> 1 once idle")
        assert (cost(core, namespace, "w-busy"), cost(core, namespace, "w-busy-2")) \
            == (BUSY_COST, IDLE_COST)
    r.close()
    assert runner.exception is None
