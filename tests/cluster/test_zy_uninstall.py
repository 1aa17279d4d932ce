"""``helm uninstall --wait`` of a release in use, with the operator running: it completes,
leaves no ScraperPool, finalizer or workload, keeps the generated Secret (resource
policy keep) and the PVCs, and the namespace then deletes.

Runs after the other tests of the session's release (file order: it uninstalls it), just
before test_zz_stop."""

from __future__ import annotations

import json
import random
import time

from tests.cluster.conftest import NAMESPACE, RELEASE, wait_until
from tests.cluster.test_flow import BASE, existing_os_number, wait_success


def _get(cluster, *args: str) -> list[dict]:
    out = cluster.kubectl("get", *args, "-n", NAMESPACE, "-o", "json", check=False)
    return json.loads(out.stdout)["items"] if out.returncode == 0 else []


def test_uninstall_with_the_operator_running_leaves_nothing(node_cluster, registro_release,
                                                            api_client):
    helm = registro_release["helm"]
    # A release in use: a lookup scraped and stored.
    queued = api_client.post(f"{BASE}/buscar-os-async/{existing_os_number(random.Random())}",
                             idempotent=True)
    assert queued.status_code in (200, 202), queued.text
    if queued.json()["status"] == "queued":
        wait_success(api_client, queued.json()["task_id"])
    # The operator serves the pool: kopf's finalizer is on it (what used to hang).
    pools = _get(node_cluster, "scraperpools")
    assert pools and any(f.startswith("kopf.zalando.org/")
                         for f in pools[0]["metadata"].get("finalizers", [])), pools
    secret_before = json.loads(node_cluster.kubectl(
        "get", "secret", f"{RELEASE}-secrets", "-n", NAMESPACE, "-o", "json").stdout)
    assert secret_before["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    t0 = time.monotonic()
    out = helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "4m", check=False)
    uninstall_s = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"\n[uninstall] helm uninstall --wait: {uninstall_s:.1f} s")

    assert _get(node_cluster, "scraperpools") == []
    for kind in ("deployments", "statefulsets", "jobs", "services", "roles",
                 "rolebindings", "networkpolicies"):
        left = [o["metadata"]["name"] for o in _get(node_cluster, kind)]
        assert left == [], (kind, left)
    wait_until(lambda: not _get(node_cluster, "pods"), 120, 1, what="every pod gone")

    # Kept: the generated secrets (the PVCs' data needs them) and the PVCs themselves.
    secret_after = json.loads(node_cluster.kubectl(
        "get", "secret", f"{RELEASE}-secrets", "-n", NAMESPACE, "-o", "json").stdout)
    assert secret_after["data"] == secret_before["data"]
    assert _get(node_cluster, "pvc")

    t1 = time.monotonic()
    node_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=180s")
    print(f"[uninstall] namespace deleted in {time.monotonic() - t1:.1f} s "
          f"(PVCs and the kept Secret with it)")
