"""Runs first in tests/cluster, before the session's cluster starts. A test cluster whose
pytest is killed (a CI timeout, a session's end) leaves its bridge, rules, route, pod
namespaces, mounts, processes and changed kernel settings behind. Every cluster test of
the next run then failed on "bridge registro0 exists" (CI, December 2026). The next
start now undoes them (``node.reclaim``, called by the ``node_cluster`` fixture)."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.conftest import require
from tests.support import cluster as node

WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")  # in SYSCTL_PATHS, harmless


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)


def test_what_a_killed_cluster_left_is_undone_before_the_next_start():
    require(not node.missing_host_parts(),
            f"host parts for the test cluster: {node.missing_host_parts()}")
    lock = node.host_lock()
    proc = None
    try:
        node.reclaim(node.binaries())  # a real one left by an earlier run, if any
        assert node.leftovers() == []
        # What a start leaves if its process dies before stop(), made the way start does
        workdir = Path(tempfile.mkdtemp(prefix=Path(node.WORKDIR_PREFIX).name, dir="/var/tmp"))
        before = node.record_host_before(workdir)
        WATCHES.write_text(str(int(WATCHES.read_text()) + 1))
        dev = node.uplinks()[0]
        for binary in ("iptables", "ip6tables"):
            for table in ("filter", "mangle"):
                _sh(binary, "-w", "-t", table, "-I", "FORWARD", "1", "-o", dev, "-m", "comment",
                    "--comment", "registro-test-guardrail", "-j", "DROP")
        _sh("ip", "route", "add", "blackhole", str(node.SERVICE_CIDR))
        _sh("ip", "link", "add", node.BRIDGE, "type", "bridge")
        pod_netns = f"cni-{uuid.uuid4()}"
        _sh("ip", "netns", "add", pod_netns)
        (workdir / "rootfs").mkdir()
        _sh("mount", "-t", "tmpfs", "tmpfs", str(workdir / "rootfs"))
        proc = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 600', str(workdir / "kubelet")],
                                start_new_session=True)
        node.wait_until(lambda: any("process" in x for x in node.leftovers()), 10,
                        what="the stand-in kubelet running")
        left = node.leftovers(workdir)

        found = node.reclaim(node.binaries())

        assert set(left) <= set(found), (left, found)
        assert f"work directory {workdir}" in found
        assert node.leftovers(workdir) == []
        assert proc.wait(timeout=10) == -9  # SIGKILL
        assert not (node.NETNS_DIR / pod_netns).exists()
        assert node.sysctl_diff(before.sysctl_before) == {}
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        node.reclaim(node.binaries())
        lock.close()
