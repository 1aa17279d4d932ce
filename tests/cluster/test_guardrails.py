"""Guardrails of the test cluster: no packet leaves the machine, the DNS server forwards
nothing, and the kernel settings the cluster changes are known (restored at stop, checked
in test_zz_stop.py)."""

from __future__ import annotations

import json
import subprocess

from tests.cluster.conftest import run_pod
from tests.support import cluster as node

# TEST-NET-3 (RFC 5737): documentation addresses, never a real host. Not 192.0.2.0/24:
# on these machines that is the uplink's own subnet.
OFF_MACHINE = "203.0.113.7"


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def test_uplink_forward_drop_rules_are_in_place(own_cluster):
    uplinks = node.uplinks()
    assert uplinks, "the machine has an uplink; the guardrail must name it"
    for binary in ("iptables", "ip6tables"):
        for table in ("mangle", "filter"):
            rules = _sh(binary, "-w", "-t", table, "-S", "FORWARD").stdout.splitlines()
            body = [r for r in rules if r.startswith("-A FORWARD")]
            guard = [r for r in body if "registro-test-guardrail" in r]
            assert len(guard) == 2 * len(uplinks), (table, rules)
            for dev in uplinks:
                assert any(f"-o {dev} " in r and r.endswith("-j DROP") for r in guard)
            if table == "mangle":
                # mangle FORWARD runs before any filter rule kube-proxy or kubelet prepend,
                # and ours come first in it
                assert all("registro-test-guardrail" in r for r in body[:len(guard)]), rules


def test_service_cidr_is_blackholed(own_cluster):
    routes = json.loads(_sh("ip", "-j", "route", "show", "type", "blackhole").stdout)
    assert any(r["dst"] == str(node.SERVICE_CIDR) for r in routes), routes


def test_bridge_does_not_masquerade_and_pods_have_no_default_route(own_cluster, pod_namespace):
    conf = json.loads(next((own_cluster.workdir / "cni" / "net.d").glob("*.conflist"))
                      .read_text())
    bridge = conf["plugins"][0]
    assert bridge["ipMasq"] is False and not bridge.get("isDefaultGateway")
    phase, logs = run_pod(own_cluster, pod_namespace, "routes", node.TOOLBOX_IMAGE,
                          ["ip", "route"])
    assert phase == "Succeeded", logs
    assert "default" not in logs and str(node.SERVICE_CIDR) in logs, logs


def test_pod_cannot_reach_an_address_off_the_machine(own_cluster, pod_namespace):
    # Without a route the connect fails in the pod itself; "unreachable" proves that.
    phase, logs = run_pod(own_cluster, pod_namespace, "offmachine", node.TOOLBOX_IMAGE, [
        "sh", "-c", (f"nc -w 3 {OFF_MACHINE} 80 </dev/null; echo rc=$?; "
                    f"ip route get {OFF_MACHINE} 2>&1; exit 0")])
    assert phase == "Succeeded", logs
    assert "rc=0" not in logs and "unreachable" in logs.lower(), logs


def test_forwarded_packet_to_the_uplink_is_dropped(own_cluster):
    """Even a namespace WITH a default route through the host (which no pod has) cannot
    get a packet out: the FORWARD DROP rule counts it. A network namespace made here."""
    before = own_cluster.drop_packet_count()
    ns, host_if, ns_if = "rgt-guard", "rgt-guard-h", "rgt-guard-n"
    # refuse to send anything unless the DROP rules are in place
    assert "registro-test-guardrail" in _sh("iptables", "-w", "-t", "mangle", "-S",
                                            "FORWARD").stdout
    try:
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _sh("ip", "link", "set", ns_if, "netns", ns)
        _sh("ip", "addr", "add", "10.252.0.1/30", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "-n", ns, "addr", "add", "10.252.0.2/30", "dev", ns_if)
        _sh("ip", "-n", ns, "link", "set", ns_if, "up")
        _sh("ip", "-n", ns, "route", "add", "default", "via", "10.252.0.1")
        # three TCP connection attempts (at least one SYN each), none can succeed
        _sh("ip", "netns", "exec", ns, "/bin/busybox", "sh", "-c",
            f"for i in 1 2 3; do nc -w 1 {OFF_MACHINE} 9 </dev/null; done", check=False)
    finally:
        _sh("ip", "link", "delete", host_if, check=False)
        _sh("ip", "netns", "delete", ns, check=False)
    assert own_cluster.drop_packet_count() >= before + 3


def test_dns_answers_cluster_names_and_forwards_nothing(own_cluster, pod_namespace):
    plugins = _sh(str(own_cluster.bins.coredns), "-plugins").stdout.split()
    assert "kubernetes" in plugins and "forward" not in plugins, plugins
    phase, logs = run_pod(own_cluster, pod_namespace, "dns", node.TOOLBOX_IMAGE, [
        "sh", "-c", ("nslookup kubernetes.default.svc.cluster.local; echo ---; "
                    "nslookup example.com; echo rc=$?")])
    assert phase == "Succeeded", logs
    inside, outside = logs.split("---", 1)
    assert node.KUBERNETES_SERVICE_IP in inside, logs
    assert "rc=0" not in outside and "rc=" in outside, logs


def test_kernel_settings_the_cluster_changes_are_recorded(own_cluster):
    changed = own_cluster.guard.sysctl_changed_by_cluster
    print(f"\n[cluster] kernel settings changed while running: {changed}")
    assert "net/ipv4/ip_forward" in changed or own_cluster.guard.sysctl_before.get(
        "net/ipv4/ip_forward") == "1"
    for key in ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"):
        assert key in own_cluster.guard.sysctl_before, key
