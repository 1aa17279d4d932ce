"""Runs last in tests/cluster (file order): stop the session's cluster and prove that
nothing is left: no process, route, rule, bridge, cgroup, mount, and every kernel
setting back to its value before start. Later tests would start a new cluster."""

from __future__ import annotations

from tests.support import cluster as node


def test_stop_leaves_nothing_behind(own_cluster):
    before = dict(own_cluster.guard.sysctl_before)
    workdir = own_cluster.workdir
    assert own_cluster.named["kubelet"].poll() is None  # it was running
    assert own_cluster.named["metrics-server"].poll() is None
    own_cluster.stop()
    assert node.leftovers(workdir) == []
    now = node.sysctl_snapshot()
    assert {k: (v, now.get(k)) for k, v in before.items() if now.get(k) != v} == {}
