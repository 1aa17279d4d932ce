"""The fresh-machine trap of issue 18, made on purpose: pods first, then ``ip netns add``.

On a machine where /run/netns is no mount point yet, the first ``ip netns add`` binds
/run/netns over itself and hides the namespace mounts of pods already running: their
sandboxes can then not be removed and they stay Terminating past their grace period.
The cluster's start makes /run/netns a mount point before any pod, so a later
``ip netns add`` covers nothing; stop takes it down last (test_zz_stop checks that
nothing is left, hidden mounts included)."""

from __future__ import annotations

import json
import subprocess
import time

from tests.cluster.conftest import wait_until
from tests.support import cluster as node

GRACE_S = 5


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def _binds_at_netns_dir() -> int:
    return [m for m, _ in node.mount_points()].count(str(node.NETNS_DIR))


def test_run_netns_is_a_mount_point_before_any_pod(own_cluster):
    assert _binds_at_netns_dir() >= 1
    assert own_cluster.guard.netns_dir_binds_before + own_cluster.guard.netns_dir_mounted \
        == _binds_at_netns_dir()


def test_pods_first_then_ip_netns_add_still_terminate_in_their_grace(own_cluster,
                                                                     pod_namespace):
    spec = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "early"},
        "spec": {
            "terminationGracePeriodSeconds": GRACE_S, "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
            "containers": [{"name": "main", "image": node.TOOLBOX_IMAGE,
                            "imagePullPolicy": "Never", "args": ["sleep", "3600"]}]},
    }
    before = set(node.netns_mounts())
    own_cluster.kubectl("apply", "-n", pod_namespace, "-f", "-", input=json.dumps(spec))
    wait_until(lambda: own_cluster.kubectl(
        "get", "pod", "early", "-n", pod_namespace, "-o", "jsonpath={.status.phase}",
        check=False).stdout == "Running", 120, what="pod early Running")
    pod_mounts = set(node.netns_mounts()) - before  # this pod's sandbox namespace
    assert pod_mounts and all(m.rsplit("/", 1)[1].startswith("cni-") for m in pod_mounts), \
        pod_mounts

    binds = _binds_at_netns_dir()
    late = "rgt-late"
    try:
        _sh("ip", "netns", "add", late)
        # the namespace added after the pods covers none of their mounts
        assert _binds_at_netns_dir() == binds
        assert pod_mounts <= set(node.netns_mounts())
        t0 = time.monotonic()
        own_cluster.kubectl("delete", "pod", "early", "-n", pod_namespace, "--wait=false")
        wait_until(lambda: own_cluster.kubectl(
            "get", "pod", "early", "-n", pod_namespace, "--ignore-not-found", "-o", "name",
            check=False).stdout.strip() == "", GRACE_S + 60, 0.5, what="pod early deleted")
        print(f"\n[netns] pod deleted {time.monotonic() - t0:.1f} s after the request "
              f"(grace {GRACE_S} s)")
        # its sandbox's namespace was unmounted and removed by containerd
        wait_until(lambda: not (pod_mounts & set(node.netns_mounts())), 30,
                   what="the pod's network namespace unmounted")
    finally:
        _sh("ip", "netns", "delete", late, check=False)
