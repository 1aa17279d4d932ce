"""End to end against the real API server: the operator, with its ServiceAccount's token,
follows a real Redis queue read from the real API's /metrics."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.operator.conftest import (
    GROUP,
    PLURAL,
    VERSION,
    deployment,
    running_operator,
    scraperpool,
    wait_until,
)
from tests.operator.test_crd import HEADER

pytestmark = pytest.mark.k8s
FAST = {"pollIntervalSeconds": 1, "scaleDownStabilizationSeconds": 4}


@pytest.fixture
def apis(admin_api):
    import kubernetes

    return (kubernetes.client.AppsV1Api(admin_api), kubernetes.client.CustomObjectsApi(admin_api),
            kubernetes.client.CoreV1Api(admin_api))


def replicas(apps, namespace, name="workers") -> int:
    return apps.read_namespaced_deployment_scale(name, namespace).spec.replicas


def pool_status(custom, namespace, name="pool") -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                               name).get("status") or {}


def polls_seen(custom, namespace, count: int, timeout: float = 60) -> None:
    """Wait until the operator has written ``count`` more poll times into the status:
    proof that it looked at the pool again, however slow the machine (no fixed sleep).
    The times have one-second resolution, so this can only wait longer, never less."""
    seen = {pool_status(custom, namespace).get("lastPollTime")}
    wanted = len(seen) + count

    def more() -> bool:
        seen.add(pool_status(custom, namespace).get("lastPollTime"))
        return len(seen) >= wanted

    wait_until(more, timeout, interval=0.2, what=f"{count} more polls in the status")


def condition(status: dict, type_: str) -> dict:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def events(core, namespace, name="pool") -> list:
    return core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}").items


def test_scales_1_to_3_with_the_queue_and_back_after_the_window(
        kube_cluster, apis, operator_kubeconfig, namespace, queue_api, real_queue):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url, **FAST))

    with running_operator(operator_kubeconfig, namespace) as runner:
        wait_until(lambda: condition(pool_status(custom, namespace), "Stable").get("status")
                   == "True", 60, what="first poll: Stable")
        status = pool_status(custom, namespace)
        assert (status["queueDepth"], status["desiredReplicas"], status["currentReplicas"]) \
            == (0, 1, 1)
        assert condition(status, "MetricsAvailable")["status"] == "True"
        assert condition(status, "TargetFound")["status"] == "True"
        assert status["observedGeneration"] == 1

        real_queue.enqueue(12)
        wait_until(lambda: replicas(apps, namespace) == 3, 20, what="scale up to 3")
        status = wait_until(lambda: (s := pool_status(custom, namespace)).get(
            "desiredReplicas") == 3 and s, 10, what="status desired 3")
        assert status["queueDepth"] == 12
        assert status["lastScaleTime"]
        assert "queue 12 > 3 per worker × 1" in status["lastScaleReason"]
        assert condition(status, "Scaling")["reason"] == "ScaledUp"
        ups = wait_until(lambda: [e for e in events(core, namespace) if e.reason == "ScaledUp"],
                         10, what="ScaledUp event")
        assert ups[0].type == "Normal"
        assert ups[0].message == "1 → 3: queue 12 > 3 per worker × 1"
        row = kube_cluster.kubectl("get", "scraperpools", "-n", namespace).stdout.splitlines()
        assert row[0].split() == HEADER
        assert row[1].split()[:6] == ["pool", "True", "12", "3", "3", "false"]

        drained_at = time.monotonic()
        assert real_queue.drain() == 12
        wait_until(lambda: replicas(apps, namespace) == 1, 30, what="scale down to 1")
        # not before the queue stayed low for the window (minus one poll of slack)
        assert time.monotonic() - drained_at >= FAST["scaleDownStabilizationSeconds"] - 1
        downs = wait_until(
            lambda: [e for e in events(core, namespace) if e.reason == "ScaledDown"], 10,
            what="ScaledDown event")
        assert downs[0].message == "3 → 1: queue 0 ≤ 3 per worker × 1 for 4s"
        status = wait_until(lambda: (s := pool_status(custom, namespace)).get(
            "currentReplicas") == 1 and s, 10, what="status current 1")
        assert status["queueDepth"] == 0
        # exactly one scale each way: no flapping, over further polls
        polls_seen(custom, namespace, 2)
        scales = [e.reason for e in events(core, namespace) if e.reason.startswith("Scaled")]
        assert sorted(scales) == ["ScaledDown", "ScaledUp"]
        assert all((e.count or 1) == 1 for e in events(core, namespace)
                   if e.reason.startswith("Scaled"))

        # the operator's own metrics
        exposed = httpx.get(runner.metrics_url, timeout=5).text
        labels = f'namespace="{namespace}",pool="pool"'
        assert f'registro_operator_decisions_total{{decision="ScaledUp",{labels}}} 1.0' in exposed
        assert f'registro_operator_decisions_total{{decision="ScaledDown",{labels}}} 1.0' \
            in exposed
        assert f"registro_operator_desired_replicas{{{labels}}} 1.0" in exposed
        assert f"registro_operator_queue_depth{{{labels}}} 0.0" in exposed

    assert runner.exception is None
    assert runner.exit_code == 0


def test_metrics_down_holds_replicas_sets_condition_and_emits_event(
        apis, operator_kubeconfig, namespace, queue_api, real_queue):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url,
                    pollIntervalSeconds=1, scaleDownStabilizationSeconds=2))
    with running_operator(operator_kubeconfig, namespace) as runner:
        real_queue.enqueue(6)
        wait_until(lambda: replicas(apps, namespace) == 2, 30, what="scale up to 2")
        queue_api.stop()
        wait_until(lambda: condition(pool_status(custom, namespace), "MetricsAvailable").get(
            "status") == "False", 20, what="MetricsAvailable=False")
        warned = wait_until(
            lambda: [e for e in events(core, namespace) if e.reason == "MetricsUnavailable"],
            10, what="MetricsUnavailable event")
        assert warned[0].type == "Warning"
        assert "holding 2 replicas" in warned[0].message
        # several polls and more than the down window (2 s) later: nothing moved
        polls_seen(custom, namespace, 4)
        assert replicas(apps, namespace) == 2
        status = pool_status(custom, namespace)
        assert status["desiredReplicas"] == 2
        assert "holding 2 replicas" in condition(status, "MetricsAvailable")["message"]
        assert condition(status, "Stable")["status"] == "False"
        queue_api.start()
        wait_until(lambda: condition(pool_status(custom, namespace), "MetricsAvailable").get(
            "status") == "True", 20, what="MetricsAvailable=True again")
    assert runner.exception is None


def test_target_deleted_and_recreated_recovers(apis, operator_kubeconfig, namespace, queue_api,
                                               real_queue):
    apps, custom, core = apis
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url, pollIntervalSeconds=1))
    with running_operator(operator_kubeconfig, namespace) as runner:
        wait_until(lambda: condition(pool_status(custom, namespace), "TargetFound").get(
            "status") == "True", 30, what="TargetFound=True")
        apps.delete_namespaced_deployment("workers", namespace)
        wait_until(lambda: condition(pool_status(custom, namespace), "TargetFound").get(
            "status") == "False", 20, what="TargetFound=False")
        assert wait_until(
            lambda: [e for e in events(core, namespace) if e.reason == "TargetNotFound"],
            10, what="TargetNotFound event")[0].type == "Warning"
        real_queue.enqueue(9)
        polls_seen(custom, namespace, 2)  # polls keep running, no crash loop
        apps.create_namespaced_deployment(namespace, deployment("workers", 1))
        wait_until(lambda: replicas(apps, namespace) == 3, 30, what="recovered and scaled")
        # The scale and the status are two writes of one tick: the status follows.
        wait_until(lambda: condition(pool_status(custom, namespace), "TargetFound").get(
            "status") == "True", 10, what="TargetFound=True again")
        assert condition(pool_status(custom, namespace), "TargetFound")["status"] == "True"
        # kopf posts events from a queue of its own: the event may follow the status
        assert wait_until(
            lambda: [e for e in events(core, namespace) if e.reason == "TargetFound"],
            10, what="TargetFound event")[0].type == "Normal"
    assert runner.exception is None
    assert runner.exit_code == 0


def test_a_restarted_operator_continues_the_scale_down_window(
        apis, operator_kubeconfig, namespace, queue_api, real_queue):
    """The window's state lives in the status: a new operator does not start it over."""
    apps, custom, _core = apis
    window = 8
    apps.create_namespaced_deployment(namespace, deployment("workers", 1))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        scraperpool("pool", "workers", queue_api.metrics_url, pollIntervalSeconds=1,
                    scaleDownStabilizationSeconds=window))
    with running_operator(operator_kubeconfig, namespace):
        real_queue.enqueue(9)
        wait_until(lambda: replicas(apps, namespace) == 3, 30, what="scale up to 3")
        real_queue.drain()
        # the operator saw the empty queue, and polled on for about half the window
        wait_until(lambda: pool_status(custom, namespace).get("queueDepth") == 0, 30,
                   what="the drained queue in the status")
        polls_seen(custom, namespace, window // 2 - 1)
    assert replicas(apps, namespace) == 3
    restarted = time.monotonic()
    with running_operator(operator_kubeconfig, namespace) as runner:
        wait_until(lambda: replicas(apps, namespace) == 1, 30, what="scale down to 1")
        # a fresh window would end `window` seconds after the restart at the earliest
        assert time.monotonic() - restarted < window - 1
    assert runner.exception is None
