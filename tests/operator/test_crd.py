"""The ScraperPool CRD against the real API server: defaults, validation, printer columns."""

from __future__ import annotations

import json

import pytest

from tests.operator.conftest import GROUP, PLURAL, VERSION, scraperpool

pytestmark = pytest.mark.k8s
URL = "http://registro-api.registro:8000/metrics"
ONE_SOURCE = "set exactly one of metrics.redis, metrics.prometheus or metrics.endpoint"
HEADER = ["NAME", "READY", "QUEUE", "DESIRED", "CURRENT", "PAUSED", "LAST", "SCALE", "AGE"]


def create(kube_cluster, namespace, body):
    return kube_cluster.kubectl("create", "-n", namespace, "-f", "-", "-o", "json",
                                input=json.dumps(body), check=False)


def test_crd_installs_and_applies_defaults(kube_cluster, scraperpool_crd, namespace):
    result = create(kube_cluster, namespace, scraperpool("pool", "workers", URL))
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)["spec"]
    assert spec["minReplicas"] == 1
    assert spec["maxReplicas"] == 3
    assert spec["tasksPerWorker"] == 3
    assert spec["pollIntervalSeconds"] == 10
    assert spec["scaleUpStabilizationSeconds"] == 0
    assert spec["scaleDownStabilizationSeconds"] == 600
    assert spec["metrics"]["endpoint"]["metric"] == "registro_queue_depth"
    assert (spec["paused"], spec["failureThreshold"]) == (False, 3)
    assert "fallbackReplicas" not in spec and "scaleDownStepLimit" not in spec
    # the short name and the category work too
    listed = kube_cluster.kubectl("get", "sp", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == f"scraperpool.{GROUP}/pool"


@pytest.mark.parametrize(("name", "spec_patch", "message"), [
    ("min-gt-max", {"minReplicas": 3, "maxReplicas": 2},
     "minReplicas must be less than or equal to maxReplicas"),
    ("min-gt-default-max", {"minReplicas": 5},
     "minReplicas must be less than or equal to maxReplicas"),
    ("negative-min", {"minReplicas": -1}, "spec.minReplicas: Invalid value: -1"),
    ("zero-per-worker", {"tasksPerWorker": 0}, "spec.tasksPerWorker: Invalid value: 0"),
    ("negative-window", {"scaleDownStabilizationSeconds": -5},
     "spec.scaleDownStabilizationSeconds: Invalid value: -5"),
    ("unknown-field", {"maxReplica": 4}, 'unknown field "spec.maxReplica"'),
    ("bad-target", {"targetRef": {"name": "Not_A_Name"}}, "spec.targetRef.name"),
    ("two-sources", {"metrics": {"endpoint": {"url": URL},
                                 "prometheus": {"url": "http://p:9090", "query": "q"}}},
     ONE_SOURCE),
    ("no-source", {"metrics": {}}, ONE_SOURCE),
    ("redis-and-endpoint", {"metrics": {"redis": {}, "endpoint": {"url": URL}}}, ONE_SOURCE),
    ("fallback-above-max", {"fallbackReplicas": 4},
     "fallbackReplicas must be between minReplicas and maxReplicas"),
    ("zero-step", {"scaleDownStepLimit": 0}, "spec.scaleDownStepLimit: Invalid value: 0"),
    ("zero-threshold", {"failureThreshold": 0}, "spec.failureThreshold: Invalid value: 0"),
    ("bad-url", {"metrics": {"endpoint": {"url": "file:///etc/passwd"}}},
     "spec.metrics.endpoint.url"),
])
def test_invalid_scraperpools_are_rejected_with_a_clear_message(
        kube_cluster, scraperpool_crd, namespace, name, spec_patch, message):
    body = scraperpool(name, "workers", URL)
    body["spec"].update(spec_patch)
    result = create(kube_cluster, namespace, body)
    assert result.returncode != 0, f"{name} was accepted"
    assert message in result.stderr, result.stderr
    assert kube_cluster.kubectl("get", PLURAL, name, "-n", namespace,
                                check=False).returncode != 0


def test_status_is_a_subresource_with_declared_fields(kube_cluster, admin_api, scraperpool_crd,
                                                        namespace):
    import kubernetes

    custom = kubernetes.client.CustomObjectsApi(admin_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                           scraperpool("pool", "workers", URL))
    # status written through the main resource is ignored ...
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pool",
                                          {"status": {"queueDepth": 99}})
    got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pool")
    assert got.get("status", {}).get("queueDepth") is None
    # ... through /status it is kept, undeclared fields are pruned
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "pool",
        {"status": {"queueDepth": 7, "desiredReplicas": 3, "currentReplicas": 1,
                    "lastScaleTime": "2026-01-01T00:00:00Z", "undeclared": "x"}})
    got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pool")
    assert got["status"]["queueDepth"] == 7
    assert "undeclared" not in got["status"]
    table = kube_cluster.kubectl("get", PLURAL, "pool", "-n", namespace).stdout.splitlines()
    assert table[0].split() == HEADER
    # no Ready condition yet: that cell is blank
    assert table[1].split()[:5] == ["pool", "7", "3", "1", "false"]


def test_redis_source_defaults_its_queue(kube_cluster, scraperpool_crd, namespace):
    body = scraperpool("pool", "workers", URL)
    body["spec"]["metrics"] = {"redis": {}}
    result = create(kube_cluster, namespace, body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["metrics"]["redis"] == {"queue": "scraping"}
