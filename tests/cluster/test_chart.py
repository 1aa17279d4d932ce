"""The chart installed for real: every component's pod Ready through its own probes,
``helm test`` passing, and a second value set (Flower) on the same release."""

from __future__ import annotations

import json

from tests.cluster.conftest import NAMESPACE, RELEASE, settled, wait_until


def _components(cluster) -> dict[str, list[dict]]:
    pods = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)
    by: dict[str, list[dict]] = {}
    for pod in pods["items"]:
        comp = pod["metadata"]["labels"].get("app.kubernetes.io/component", "?")
        by.setdefault(comp, []).append(pod)
    return by


def test_every_component_runs_and_is_ready(node_cluster, registro_release):
    # a test before this one may have scaled a Deployment in: its pod leaves in its own time
    wait_until(lambda: settled(node_cluster, NAMESPACE), 300, 2,
               what="every pod Ready and none terminating")
    by = _components(node_cluster)
    for comp in ("api", "worker", "redis", "postgresql", "operator", "legacy-demo"):
        assert comp in by, f"no {comp} pod: {sorted(by)}"
        for pod in by[comp]:
            # native sidecars (the browser) report among the init container statuses
            statuses = pod["status"]["containerStatuses"] + [
                s for s in pod["status"].get("initContainerStatuses", [])
                if s["name"] == "browser"]
            assert all(s["ready"] for s in statuses), (comp, statuses)
    worker = by["worker"][0]
    assert [c["name"] for c in worker["spec"]["containers"]] == ["worker"]
    browser = [s for s in worker["status"]["initContainerStatuses"] if s["name"] == "browser"]
    assert browser and browser[0]["ready"] and browser[0]["started"], worker["status"]
    # the operator is the only one with a ServiceAccount token, and it uses it
    op_logs = node_cluster.kubectl("logs", "-n", NAMESPACE, f"deploy/{RELEASE}-operator").stdout
    assert "Forbidden" not in op_logs and "Unauthorized" not in op_logs, op_logs[-2000:]


def test_helm_test_passes(node_cluster, registro_release):
    out = registro_release["helm"]("test", RELEASE, "-n", NAMESPACE, "--timeout", "5m")
    assert "Phase:          Succeeded" in out.stdout or "Succeeded" in out.stdout, out.stdout
