"""Fixtures of the real-pod tests: a one-node cluster (tests/support/cluster.py) started
lazily by the first test that needs it and reused for the session, or the cluster of
``$KUBECONFIG`` when it points at a file (nothing is started then).

It is a different API server from the control-plane-only ``kube_cluster`` of
tests/operator and tests/delivery on purpose: that one needs no root, changes nothing on
the host and starts in seconds, so those suites stay cheap; this one needs root, a bridge,
iptables rules and 30+ s, and is only worth it where pods must really run.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support import cluster as node
from tests.support import release
from tests.support.release import (  # noqa: F401 - re-exported for the test modules
    CHART,
    NAMESPACE,
    RELEASE,
    demo_admin,
    pods,
    pods_ready,
    settled,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]


def _build_tools() -> None:
    """``BUILD_NODE=1 scripts/build-k8s.sh``: quick when cached (make test builds first)."""
    proc = subprocess.run([str(REPO / "scripts" / "build-k8s.sh")], capture_output=True,
                          text=True, timeout=3600, check=False,
                          env=dict(os.environ, BUILD_NODE="1"))
    require(proc.returncode == 0, f"cluster tools (build-k8s.sh: {proc.stderr[-1500:]})")


RELEASE_FIXTURES = {"registro_release", "api_client", "helm", "sentinel_release"}


def pytest_collection_modifyitems(items):
    """A cluster test may carry the session's cluster start, image import and helm
    install in its setup: 30 minutes instead of the suite's 10 (a slow machine). They
    run in one pytest process of their own (scripts/pytest-tiers.sh): test_reclaim
    before the cluster starts, one cluster, the tests that need no release first (they overlap the image build that
    scripts/pytest-tiers.sh runs alongside), then the others in file order, and
    test_zz_stop last."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.fspath).parents]
    for item in ours:
        item.add_marker(pytest.mark.timeout(1800))

    def phase(item) -> int:
        if Path(item.fspath).name == "test_reclaim.py":  # before the session's cluster
            return -1
        if Path(item.fspath).name == "test_zz_stop.py":
            return 2
        return 1 if RELEASE_FIXTURES & set(getattr(item, "fixturenames", ())) else 0

    if ours and len(ours) == len(items):  # only when the cluster tier runs alone
        items[:] = sorted(items, key=phase)  # stable: file order within a phase


@pytest.fixture(scope="session")
def node_cluster():
    """The session's one-node cluster (started on first use, stopped at session end)."""
    external = os.environ.get("KUBECONFIG")
    if external and Path(external).is_file():
        from tests.support.kube import external_cluster

        ext = external_cluster(Path(external))
        release.watch(ext)
        yield ext
        ext.stop()
        return
    require(not node.missing_host_parts(),
            f"host parts for the test cluster: {node.missing_host_parts()}")
    if node.binaries() is None:
        _build_tools()
    bins = node.binaries()
    require(bins is not None, "cluster binaries (BUILD_NODE=1 scripts/build-k8s.sh)")
    marker = bins.k8s.parent / ".cluster-started"
    kind = "warm" if marker.exists() else "cold (first start with these binaries)"
    # One test cluster per host (it owns the bridge and /run/netns): a second pytest
    # waits here for the first to stop; what a killed one left is undone.
    lock = node.host_lock()
    reclaimed = node.reclaim(bins)
    if reclaimed:
        print(f"\n[cluster] undid a test cluster that was not stopped: {reclaimed}")
    t0 = time.monotonic()
    cluster = node.start_node_cluster(bins)
    release.watch(cluster)
    release.start_preimport(cluster)
    marker.touch()
    print(f"\n[cluster] {kind} start: {time.monotonic() - t0:.1f} s "
          f"(API server {cluster.timings['apiserver_ready_s']:.1f} s, "
          f"node Ready {cluster.timings['node_ready_s']:.1f} s)")
    try:
        yield cluster
    finally:
        workdir = cluster.workdir
        try:
            cluster.stop()
            left = node.leftovers(workdir)
        finally:
            lock.close()
        assert not left, f"the test cluster left things behind: {left}"


@pytest.fixture(scope="session")
def own_cluster(node_cluster):
    """Only the cluster this session started (guardrail tests inspect the host)."""
    if not isinstance(node_cluster, node.NodeCluster):
        pytest.skip("KUBECONFIG points at an external cluster: host guardrails not ours")
    return node_cluster


@pytest.fixture
def pod_namespace(node_cluster):
    name = f"pods-{uuid.uuid4().hex[:6]}"
    node_cluster.kubectl("create", "namespace", name)
    wait_until(lambda: node_cluster.kubectl("get", "serviceaccount", "default", "-n", name,
                                            check=False).returncode == 0,
               60, what="default ServiceAccount")
    yield name
    node_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def run_pod(cluster, namespace: str, name: str, image: str, args: list[str],
            timeout: float = 120) -> tuple[str, str]:
    """Run a pod to completion; return (phase, logs)."""
    import json

    spec = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "main", "image": image, "imagePullPolicy": "Never", "args": args,
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}}],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(spec))

    def finished():
        phase = cluster.kubectl("get", "pod", name, "-n", namespace, "-o",
                                "jsonpath={.status.phase}", check=False).stdout
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_until(finished, timeout, what=f"pod {name} finished")
    logs = cluster.kubectl("logs", name, "-n", namespace, check=False).stdout
    return phase, logs


# --- Registro installed with Helm, for real (tests/support/release.py) ---------------


@pytest.fixture(scope="session")
def helm(node_cluster) -> release.Helm:
    binary = release.helm_binary()
    require(binary is not None, "helm (scripts/build-helm.sh)")
    return release.Helm(binary, node_cluster.admin_kubeconfig)


@pytest.fixture(scope="session")
def registro_release(node_cluster, helm):
    """``helm install`` of charts/registro with the built images imported into containerd;
    returns when every pod is Ready through its own probes."""
    archives = release.image_archives()
    require(isinstance(archives, dict), str(archives))
    timings = release.install(node_cluster, helm, archives)
    print(f"\n[cluster] {release.preimport_summary()}; the rest imported in "
          f"{timings['import_s']:.1f} s, helm install --wait "
          f"{timings['install_s']:.1f} s; start to Ready: {release.start_to_ready(node_cluster)}")
    yield {"helm": helm}
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m", check=False)


@pytest.fixture(scope="session")
def api_client(node_cluster, registro_release):
    """A client on the API Service (port-forward, forwarded again when its pod is
    replaced) with the release's API key."""
    client = release.ForwardedClient(
        node_cluster, NAMESPACE, f"svc/{RELEASE}-api", 80,
        headers={"Authorization": f"Bearer {release.api_key(node_cluster)}"})
    yield client
    client.close()
