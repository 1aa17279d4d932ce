"""A real one-node Kubernetes cluster for the tests, started and stopped here.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd 2.x, kubelet,
kube-proxy (iptables mode), CoreDNS (host process, no ``forward`` plugin) and
metrics-server (host process behind the aggregation layer, for the HPA), built by
``BUILD_NODE=1 scripts/build-k8s.sh``; runc, iptables and the CNI plugins from Debian.
Needs root (it creates a bridge, routes, iptables rules and cgroups).

Guardrails (see ``shared`` note "real containers and pods"): before any pod starts,
the service CIDR is blackholed on the host, FORWARD/ip6tables FORWARD drop everything
to and from the machine's uplink(s), the CNI bridge masquerades nothing and gives pods
no default route, and the DNS server has nowhere to forward to. Kernel settings are
snapshotted before start and every one the cluster changed is restored at stop; stop
kills every process (shims and pod processes too), unmounts and deletes what start made.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devstack.processes import free_port, wait_for_port
from devstack.waits import wait_until
from tests.support.kube import (
    CACHE_ROOT,
    K8S_VERSION,
    KubeCluster,
    _b64,
    _cert,
    _name,
    _pem_cert,
    _pem_key,
    _wait_ready,
    write_kubeconfig,
)

CONTAINERD_VERSION = os.environ.get("CONTAINERD_VERSION", "v2.4.2")
COREDNS_VERSION = os.environ.get("COREDNS_VERSION", "v1.15.0")
METRICS_SERVER_VERSION = os.environ.get("METRICS_SERVER_VERSION", "v0.8.0")

# Addresses of the test cluster. Nothing here is routed off the machine.
BRIDGE = "registro0"
POD_CIDR = ipaddress.ip_network("10.250.0.0/24")
GATEWAY = "10.250.0.1"          # the bridge's address: node IP, API server, DNS server
SERVICE_CIDR = ipaddress.ip_network("10.251.0.0/24")
KUBERNETES_SERVICE_IP = "10.251.0.1"
NODE_NAME = "registro-node"
PAUSE_IMAGE = "localhost/registro/pause:3.10"
TOOLBOX_IMAGE = "localhost/registro/toolbox:test"
CLUSTER_DOMAIN = "cluster.local"
WORKDIR_PREFIX = "/var/tmp/rgc-"  # short: unix socket paths under it must stay < 108 bytes

NODE_BINARIES = ("etcd", "kube-apiserver", "kubectl", "kube-controller-manager",
                 "kube-scheduler", "kubelet", "kube-proxy")
CONTAINERD_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr")
CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")

# Kernel settings the cluster may change (kubelet, kube-proxy, our forwarding):
# snapshotted before start, restored at stop when they differ.
SYSCTL_PATHS = (
    "vm", "kernel/panic", "kernel/panic_on_oops", "kernel/panic_on_warn", "kernel/keys",
    "kernel/pid_max", "kernel/threads-max", "net/ipv4/ip_forward", "net/ipv4/conf/all",
    "net/ipv4/conf/default", "net/ipv6/conf/all/forwarding", "net/bridge",
    "net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait", "fs/inotify", "fs/file-max",
)
_VOLATILE_SYSCTL = re.compile(r"^vm/(stat_refresh|drop_caches|compact_memory|nr_)")


def _run(*cmd: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout, **kw)


# --- what the cluster needs on this machine -------------------------------------------


@dataclass
class Binaries:
    k8s: Path
    containerd: Path
    coredns: Path
    metrics_server: Path

    @property
    def kubectl(self) -> Path:
        return self.k8s / "kubectl"


def binaries() -> Binaries | None:
    """The cached binaries (``BUILD_NODE=1 scripts/build-k8s.sh``), or None."""
    k8s = CACHE_ROOT / f"k8s-{K8S_VERSION}" / "bin"
    ctrd = CACHE_ROOT / f"containerd-{CONTAINERD_VERSION}" / "bin"
    dns = CACHE_ROOT / f"coredns-{COREDNS_VERSION}" / "bin" / "coredns"
    ms = CACHE_ROOT / f"metrics-server-{METRICS_SERVER_VERSION}" / "bin" / "metrics-server"
    ok = (all((k8s / b).is_file() for b in NODE_BINARIES)
          and all((ctrd / b).is_file() for b in CONTAINERD_BINARIES) and dns.is_file()
          and ms.is_file())
    return Binaries(k8s, ctrd, dns, ms) if ok else None


def missing_host_parts() -> list[str]:
    """Host requirements other than our binaries; empty when the cluster can start."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for tool in ("runc", "iptables", "ip6tables", "ip", "conntrack"):
        if shutil.which(tool) is None:
            missing.append(tool)
    missing += [f"{CNI_DIR}/{p}" for p in CNI_PLUGINS if not (CNI_DIR / p).is_file()]
    for path in ("/usr/bin/catatonit", "/bin/busybox"):
        if not Path(path).is_file():
            missing.append(f"{path} (catatonit, busybox-static)")
    return missing


def uplinks() -> list[str]:
    """Interfaces that carry a default route (IPv4 or IPv6): the ways off this machine."""
    devs: set[str] = set()
    for fam in ("-4", "-6"):
        out = _run("ip", "-j", fam, "route", "show", "default", check=False).stdout or "[]"
        devs.update(r["dev"] for r in json.loads(out) if r.get("dev"))
    # Without any default route, still drop towards every non-loopback physical link.
    if not devs:
        for link in json.loads(_run("ip", "-j", "link", "show").stdout):
            if link["ifname"] != "lo" and link.get("link_type") == "ether":
                devs.add(link["ifname"])
    return sorted(devs)


# --- kernel settings ---------------------------------------------------------------


def sysctl_snapshot() -> dict[str, str]:
    snap: dict[str, str] = {}
    root = Path("/proc/sys")
    for rel in SYSCTL_PATHS:
        base = root / rel
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in paths:
            key = str(p.relative_to(root))
            if _VOLATILE_SYSCTL.match(key) or not os.access(p, os.W_OK):
                continue
            with contextlib.suppress(OSError):
                snap[key] = p.read_text().strip()
    return snap


def sysctl_diff(before: dict[str, str]) -> dict[str, tuple[str, str]]:
    now = sysctl_snapshot()
    return {k: (v, now[k]) for k, v in before.items() if k in now and now[k] != v}


def sysctl_restore(before: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Write back every recorded setting that changed; return what was restored."""
    changed = sysctl_diff(before)
    for key, (old, _new) in changed.items():
        with contextlib.suppress(OSError):
            (Path("/proc/sys") / key).write_text(old + "\n")
    return changed


def write_sysctl(key: str, value: str) -> None:
    (Path("/proc/sys") / key.replace(".", "/")).write_text(value + "\n")


# --- the pause image, made here ----------------------------------------------------


NETNS_DIR = Path("/run/netns")


def mount_points(prefix: str = "") -> list[tuple[str, str]]:
    """``(mount point, fs type)`` of every mount in mount order, hidden ones included:
    /proc/self/mountinfo lists a mount that another mount covers, /proc/mounts' view
    of the path does not help unmount it."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        point = fields[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix):
            found.append((point, fields[sep + 1]))
    return found


def netns_mounts() -> list[str]:
    """Network namespace files mounted under /run/netns (nsfs), hidden or not."""
    return [m for m, fs in mount_points(f"{NETNS_DIR}/") if fs == "nsfs"]


def own_netns_dir() -> bool:
    """Make /run/netns a shared mount point of its own, as ``ip netns add`` does the first
    time it runs, but before any pod's namespace is mounted in it. Done later, by
    ``ip netns add`` after pods started, the new bind covers their namespace mounts:
    containerd can then neither unmount nor remove them, and the pods stay Terminating
    (issue 18; a fresh machine or a reboot). True when this call made the mount."""
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    made = not any(m == str(NETNS_DIR) for m, _ in mount_points(str(NETNS_DIR)))
    if made:
        _run("mount", "--bind", str(NETNS_DIR), str(NETNS_DIR))
    _run("mount", "--make-shared", str(NETNS_DIR))
    return made


def image_archive(dest: Path, tag: str, files: dict[str, str], entrypoint: list[str],
                  user: str = "65535:65535") -> Path:
    """A one-layer docker-archive ``FROM scratch`` holding host ``files`` ({path in image:
    host path}), importable with ``ctr images import``."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for arcname, host_path in files.items():
            info = tar.gettarinfo(host_path, arcname=arcname.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(host_path, "rb") as f:
                tar.addfile(info, f)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(dest, "w") as out:
        for name, data in (("layer.tar", layer_bytes), (config_name, config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def pause_image_archive(dest: Path) -> Path:
    """The sandbox image: catatonit as ``/pause`` (~700 kB), as the note describes."""
    return image_archive(dest, PAUSE_IMAGE, {"/pause": "/usr/bin/catatonit"}, ["/pause", "-P"])


def toolbox_image_archive(dest: Path) -> Path:
    """A tiny image with Debian's static busybox (sh, nc, nslookup, wget) for probing the
    network from inside a pod."""
    return image_archive(dest, TOOLBOX_IMAGE, {"/bin/busybox": "/bin/busybox"},
                         ["/bin/busybox"])


# --- certificates ------------------------------------------------------------------


METRICS_SERVER_SVC = "metrics-server.kube-system.svc"


def cluster_pki(d: Path) -> dict[str, Path]:
    """CA, API server serving cert and one client cert per component; a front-proxy CA
    of its own and the client cert the aggregator proxies to metrics-server with."""
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("registro-cluster-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    files: dict[str, bytes] = {"ca.crt": _pem_cert(ca), "ca.key": _pem_key(ca_key)}
    srv_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                  "kubernetes.default.svc",
                                  f"kubernetes.default.svc.{CLUSTER_DOMAIN}")]
    sans += [x509.IPAddress(ipaddress.ip_address(a))
             for a in ("127.0.0.1", GATEWAY, KUBERNETES_SERVICE_IP)]
    files["apiserver.crt"] = _pem_cert(_cert(_name("kube-apiserver"), srv_key, ca_name, ca_key,
                                             server=True, sans=sans))
    files["apiserver.key"] = _pem_key(srv_key)
    clients = {
        "admin": ("registro-admin", "system:masters"),
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
        "controller-manager": ("system:kube-controller-manager", None),
        "scheduler": ("system:kube-scheduler", None),
        "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
        "kube-proxy": ("system:kube-proxy", None),
        "coredns": ("registro-test:coredns", None),
        "metrics-server": ("registro-test:metrics-server", None),
    }
    for name, (cn, org) in clients.items():
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{name}.crt"] = _pem_cert(_cert(_name(cn, org), key, ca_name, ca_key))
        files[f"{name}.key"] = _pem_key(key)
    # metrics-server serves on the bridge address; the aggregator checks the Service name
    ms_key = ec.generate_private_key(ec.SECP256R1())
    files["metrics-server-serving.crt"] = _pem_cert(_cert(
        _name("metrics-server"), ms_key, ca_name, ca_key, server=True,
        sans=[x509.DNSName(METRICS_SERVER_SVC), x509.IPAddress(ipaddress.ip_address(GATEWAY))]))
    files["metrics-server-serving.key"] = _pem_key(ms_key)
    # request headers (X-Remote-User...) are trusted only from certs of this CA
    fp_key = ec.generate_private_key(ec.SECP256R1())
    fp_name = _name("registro-front-proxy-ca")
    files["front-proxy-ca.crt"] = _pem_cert(_cert(fp_name, fp_key, fp_name, fp_key, ca=True))
    fpc_key = ec.generate_private_key(ec.SECP256R1())
    files["front-proxy-client.crt"] = _pem_cert(_cert(_name("front-proxy-client"), fpc_key,
                                                      fp_name, fp_key))
    files["front-proxy-client.key"] = _pem_key(fpc_key)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files["sa.key"] = _pem_key(sa_key)
    files["sa.pub"] = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    paths = {}
    for fname, data in files.items():
        p = d / fname
        p.write_bytes(data)
        p.chmod(0o600)
        paths[fname] = p
    return paths


# --- the cluster -------------------------------------------------------------------


COREDNS_RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "registro-test:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "registro-test:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "registro-test:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "registro-test:coredns"}
"""


# metrics-server: upstream's RBAC (system:metrics-server, auth delegation) for its own
# client cert, and the APIService. The Service has no selector: its one endpoint is the
# host process on the bridge address (PORT, GATEWAY and CA_BUNDLE are filled in at start).
METRICS_SERVER_OBJECTS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "registro-test:metrics-server"}
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "registro-test:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,
          name: "registro-test:metrics-server"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "registro-test:metrics-server"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "registro-test:metrics-server:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "registro-test:metrics-server"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "registro-test:metrics-server:auth-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role,
          name: "extension-apiserver-authentication-reader"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "registro-test:metrics-server"}
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec:
  ports: [{name: https, port: 443, targetPort: PORT, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: metrics-server, namespace: kube-system}
subsets:
- addresses: [{ip: "GATEWAY"}]
  ports: [{name: https, port: PORT, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: CA_BUNDLE
  service: {name: metrics-server, namespace: kube-system, port: 443}
"""


@dataclass
class Guardrails:
    """What start changed on the host, so that stop can undo exactly that."""

    sysctl_before: dict[str, str] = field(default_factory=dict)
    drop_rules: list[tuple[str, list[str]]] = field(default_factory=list)  # (binary, rule)
    routes: list[str] = field(default_factory=list)
    bridge_created: bool = False
    netns_before: set[str] = field(default_factory=set)
    netns_dir_binds_before: int = 0  # mounts at /run/netns itself before start
    netns_dir_mounted: bool = False  # start made /run/netns a mount point; stop undoes it
    sysctl_changed_by_cluster: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class NodeCluster(KubeCluster):
    """A :class:`KubeCluster` with a real node. ``stop()`` undoes everything."""

    bins: Binaries | None = None
    guard: Guardrails = field(default_factory=Guardrails)
    containerd_socket: Path | None = None
    named: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    stopped: bool = False

    # -- helpers for tests --
    def ctr(self, *args: str, input_file: Path | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
        assert self.bins and self.containerd_socket
        cmd = [str(self.bins.containerd / "ctr"), "--address", str(self.containerd_socket),
               "-n", "k8s.io", *args]
        if input_file is None:
            return _run(*cmd, timeout=timeout)
        with open(input_file, "rb") as f:
            return subprocess.run(cmd, stdin=f, capture_output=True, text=True, check=True,
                                  timeout=timeout)

    def import_image(self, archive: Path) -> None:
        """``ctr -n k8s.io images import`` of a docker/OCI archive."""
        self.ctr("images", "import", str(archive))

    def drop_packet_count(self) -> int:
        """Packets our uplink DROP rules have dropped (IPv4 + IPv6)."""
        total = 0
        for binary in ("iptables", "ip6tables"):
            for table in ("filter", "mangle"):
                out = _run(binary, "-w", "-t", table, "-L", "FORWARD", "-v", "-x", "-n").stdout
                for line in out.splitlines():
                    if "registro-test-guardrail" in line:
                        total += int(line.split()[0])
        return total

    # -- lifecycle --
    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=env or os.environ.copy(), start_new_session=True)
        self.processes.append(proc)
        self.named[name] = proc
        return proc

    def log_tail(self, name: str, n: int = 3000) -> str:
        p = self.workdir / f"{name}.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        errors: list[str] = []

        def step(what, fn, *a):
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001 - teardown continues, errors reported at end
                errors.append(f"{what}: {e!r}")

        def terminate(name: str, timeout: float = 15) -> None:
            proc = self.named.get(name)
            if proc is None or proc.poll() is not None:
                return
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        # 1. the node: kubelet first so it restarts nothing, then every container
        step("kubelet", terminate, "kubelet")
        if self.containerd_socket and self.named.get("containerd") \
                and self.named["containerd"].poll() is None:
            step("containers", self._kill_all_tasks)
        step("pod processes", self._kill_cgroup_tree)
        step("kube-proxy", terminate, "kube-proxy")
        if self.bins:
            step("kube-proxy cleanup", lambda: _run(str(self.bins.k8s / "kube-proxy"),
                                                    "--cleanup", check=False, timeout=60))
        step("containerd", terminate, "containerd")
        step("shims", self._kill_leftover_processes)
        step("pod processes", self._kill_cgroup_tree)
        # 2. the control plane, the DNS server and metrics-server
        for name in ("metrics-server", "coredns", "kube-scheduler", "kube-controller-manager",
                     "kube-apiserver", "etcd"):
            step(name, terminate, name)
        for proc in self.processes:  # anything else started here
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for f in self.logs:
            f.close()
        # 3. the host: mounts, netns, cgroups, network, kernel settings
        step("mounts", self._unmount_all)
        step("netns", self._delete_netns)
        step("cgroups", self._remove_cgroups)
        step("network", self._remove_network)
        self.guard.sysctl_changed_by_cluster = sysctl_diff(self.guard.sysctl_before)
        step("sysctl", sysctl_restore, self.guard.sysctl_before)
        if os.environ.get("REGISTRO_KEEP_CLUSTER_LOGS"):
            keep = Path(os.environ["REGISTRO_KEEP_CLUSTER_LOGS"])
            keep.mkdir(parents=True, exist_ok=True)
            for log in self.workdir.glob("*.log"):
                shutil.copy(log, keep / log.name)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise RuntimeError("cluster stop had errors: " + "; ".join(errors))

    def _kill_all_tasks(self) -> None:
        ctr = [str(self.bins.containerd / "ctr"), "--address", str(self.containerd_socket),
               "-n", "k8s.io"]
        tasks = _run(*ctr, "tasks", "list", "-q", check=False).stdout.split()
        for t in tasks:
            _run(*ctr, "tasks", "kill", "-a", "-s", "SIGKILL", t, check=False)
        deadline = time.monotonic() + 30
        for t in tasks:
            while time.monotonic() < deadline and _run(
                    *ctr, "tasks", "delete", t, check=False).returncode != 0:
                time.sleep(0.3)
        for c in _run(*ctr, "containers", "list", "-q", check=False).stdout.split():
            _run(*ctr, "containers", "delete", c, check=False)

    def _kill_leftover_processes(self) -> None:
        """Every process whose command line names this cluster's work directory (shims)."""
        _kill_naming(str(self.workdir))

    @staticmethod
    def _kubepods_dirs() -> list[Path]:
        dirs = []
        for ctl in Path("/sys/fs/cgroup").iterdir():
            kp = ctl / "kubepods"
            if kp.is_dir():
                dirs.append(kp)
        return dirs

    def _kill_cgroup_tree(self) -> None:
        """SIGKILL every process left in the kubelet's ``kubepods`` cgroups."""
        for _ in range(20):
            pids = set()
            for kp in self._kubepods_dirs():
                for procs in kp.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        pids.update(int(x) for x in procs.read_text().split())
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        raise RuntimeError(f"processes survive in kubepods cgroups: {sorted(pids)}")

    def _remove_cgroups(self) -> None:
        for kp in self._kubepods_dirs():
            for d in [*sorted((p for p in kp.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True), kp]:
                with contextlib.suppress(OSError):
                    d.rmdir()

    def _unmount_all(self) -> None:
        """Our mounts, newest first. A bind over /run/netns made after pods started (an
        ``ip netns add`` on a machine where it was no mount point) hides their namespace
        mounts: it comes off first, then they do (issue 18)."""
        me, netns = str(self.workdir), str(NETNS_DIR)
        allowed = self.guard.netns_dir_binds_before + self.guard.netns_dir_mounted

        def state() -> tuple[list[str], int]:
            points = [m for m, _ in mount_points()]
            mine = [m for m in points if m.startswith(me) or (
                m.startswith(netns + "/") and m.rsplit("/", 1)[1] not in self.guard.netns_before)]
            return mine, points.count(netns) - allowed

        for _ in range(10):
            mine, extra_binds = state()
            if not mine and extra_binds <= 0:
                return
            for m in reversed(mine):
                _run("umount", m, check=False)
            mine, extra_binds = state()
            if extra_binds > 0 and any(m.startswith(netns + "/") for m in mine):
                _run("umount", netns, check=False)
        raise RuntimeError(f"mounts left: {state()[0]}")

    def _delete_netns(self) -> None:
        if NETNS_DIR.is_dir():
            for ns in NETNS_DIR.iterdir():
                if ns.name not in self.guard.netns_before:
                    ns.unlink()
        if self.guard.netns_dir_mounted:  # start made it a mount point: it goes last
            _run("umount", str(NETNS_DIR))
            self.guard.netns_dir_mounted = False

    def _remove_network(self) -> None:
        # veth ends of dead pods disappear with their namespaces; the bridge is ours.
        if self.guard.bridge_created:
            _run("ip", "link", "delete", BRIDGE, check=False)
        for route in self.guard.routes:
            _run("ip", "route", "del", *route.split(), check=False)
        for binary, rule in self.guard.drop_rules:
            _run(binary, "-w", "-t", rule[1], "-D", *rule[2:], check=False)
        # kubelet's own chains (KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT, KUBE-FIREWALL...),
        # which kube-proxy --cleanup leaves: rules first, then the chains
        for binary in ("iptables", "ip6tables"):
            for table in ("filter", "nat", "mangle"):
                rules = _run(binary, "-w", "-t", table, "-S", check=False).stdout.splitlines()
                for line in rules:  # jumps from built-in chains into KUBE-* chains
                    if line.startswith("-A") and not line.startswith("-A KUBE-") \
                            and "KUBE-" in line:
                        _run(binary, "-w", "-t", table,
                             *shlex.split(line.replace("-A", "-D", 1)), check=False)
                chains = [line.split()[1] for line in rules if line.startswith("-N KUBE-")]
                for chain in chains:
                    _run(binary, "-w", "-t", table, "-F", chain, check=False)
                for chain in chains:
                    _run(binary, "-w", "-t", table, "-X", chain, check=False)
        # CNI portmap/bridge chains, if any were made
        for table in ("nat", "filter"):
            for line in _run("iptables", "-w", "-t", table, "-S", check=False).stdout.splitlines():
                if line.startswith("-A") and "CNI-" in line:
                    _run("iptables", "-w", "-t", table, *line.replace("-A", "-D", 1).split(),
                         check=False)
            for line in _run("iptables", "-w", "-t", table, "-S", check=False).stdout.splitlines():
                if line.startswith("-N CNI-"):
                    chain = line.split()[1]
                    _run("iptables", "-w", "-t", table, "-F", chain, check=False)
                    _run("iptables", "-w", "-t", table, "-X", chain, check=False)


def _kill_naming(path: str) -> None:
    """SIGKILL every process whose command line contains ``path``."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if path in (p / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(p.name), signal.SIGKILL)


def leftovers(workdir: Path | None = None) -> list[str]:
    """Everything a stopped cluster may have left behind: processes, routes, rules,
    the bridge, kubepods cgroups, mounts. Empty when the host is clean."""
    found = []
    names = {"kubelet", "containerd", "containerd-shim-runc-v2", "etcd", "kube-apiserver",
             "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns",
             "metrics-server"}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv0 = (p / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            cmdline = (p / "cmdline").read_bytes().decode(errors="replace")
            # every test cluster lives under /var/tmp/rgc-*: its processes name that path
            # (the operator tests' own etcd/kube-apiserver do not, and are not ours)
            if Path(argv0).name in names and WORKDIR_PREFIX in cmdline:
                found.append(f"process {p.name}: {argv0}")
    routes = _run("ip", "route", "show", "type", "blackhole", check=False).stdout
    if str(SERVICE_CIDR) in routes:
        found.append(f"route blackhole {SERVICE_CIDR}")
    if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        found.append(f"bridge {BRIDGE}")
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "mangle"):
            rules = _run(binary, "-w", "-t", table, "-S", check=False).stdout
            if "registro-test-guardrail" in rules:
                found.append(f"{binary} {table} guardrail rule")
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = _run(binary, "-w", "-t", table, "-S", check=False).stdout
            if "KUBE-" in rules or "CNI-" in rules:
                found.append(f"{binary} {table}: kubelet/kube-proxy/CNI chains")
    for ctl in Path("/sys/fs/cgroup").iterdir():
        if (ctl / "kubepods").is_dir():
            found.append(f"cgroup {ctl / 'kubepods'}")
    hidden_or_not = [m for m in netns_mounts() if Path(m).name.startswith("cni-")]
    if hidden_or_not:
        found.append(f"pod network namespace mounts {hidden_or_not}")
    if workdir:
        mounts = Path("/proc/mounts").read_text()
        if str(workdir) in mounts:
            found.append(f"mounts under {workdir}")
        if workdir.exists():
            found.append(f"work directory {workdir}")
    return found


# An abstract unix socket: scoped, like the bridge and the iptables rules, by network
# namespace, and freed by the kernel when its process dies, however it dies.
HOST_LOCK = "\0registro-test-cluster"
HOST_BEFORE = "host-before.json"  # in the work directory: host state before start


def host_lock() -> socket.socket:
    """Held while this process's test cluster exists (closing frees it). A second
    pytest waits here for the first cluster to stop instead of failing on its bridge."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    waiting = False
    while True:
        try:
            sock.bind(HOST_LOCK)
            return sock
        except OSError:
            if not waiting:
                print("\n[cluster] another test cluster is running here: waiting for it")
                waiting = True
            time.sleep(1)


def record_host_before(workdir: Path) -> Guardrails:
    """The host state a cluster's start must know to undo itself; saved in ``workdir``
    too, for :func:`reclaim` if this process dies before ``stop()``."""
    guard = Guardrails(
        sysctl_before=sysctl_snapshot(),
        netns_before={p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set(),
        netns_dir_binds_before=[m for m, _ in mount_points()].count(str(NETNS_DIR)))
    guard.netns_dir_mounted = own_netns_dir()
    (workdir / HOST_BEFORE).write_text(json.dumps({
        "sysctl": guard.sysctl_before, "netns": sorted(guard.netns_before),
        "netns_dir_binds": guard.netns_dir_binds_before,
        "netns_dir_mounted": guard.netns_dir_mounted}))
    return guard


def reclaim(bins: Binaries | None) -> list[str]:
    """Undo test clusters that were never stopped: their pytest was killed (a CI
    timeout, a session's end) and left the bridge, rules, routes, namespaces, mounts,
    processes and kernel settings behind. Call with :func:`host_lock` held, so that no
    live cluster owns them. Returns what was found; raises if any of it remains."""
    prefix = Path(WORKDIR_PREFIX)
    stale = sorted(p for p in prefix.parent.glob(prefix.name + "*") if p.is_dir())
    found = list(dict.fromkeys(leftovers() + [x for p in stale for x in leftovers(p)]))
    if not found:
        return []
    errors = []
    _kill_naming(WORKDIR_PREFIX)  # the kubelets first: they would restart pods
    for workdir in stale or [Path(tempfile.mkdtemp(prefix=prefix.name, dir=prefix.parent))]:
        cluster = NodeCluster(workdir / "admin.kubeconfig", workdir, bins=bins,
                              guard=_guard_left_by(workdir))
        try:
            cluster.stop()
        except RuntimeError as e:
            errors.append(str(e))
    left = leftovers()
    if left:
        raise RuntimeError(f"a test cluster that was not stopped left {left} ({errors})")
    return found


def _guard_left_by(workdir: Path) -> Guardrails:
    """What a dead cluster's stop() would have undone: the host state it recorded before
    start, and the rules, route and bridge that carry our names."""
    saved = workdir / HOST_BEFORE
    before = json.loads(saved.read_text()) if saved.is_file() else {}
    netns_now = {p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()
    guard = Guardrails(
        sysctl_before=before.get("sysctl", {}),  # unknown: nothing to restore
        netns_before=set(before.get("netns", (n for n in netns_now if not n.startswith("cni-")))),
        netns_dir_binds_before=before.get(
            "netns_dir_binds", [m for m, _ in mount_points()].count(str(NETNS_DIR))),
        netns_dir_mounted=before.get("netns_dir_mounted", False),
        bridge_created=_run("ip", "link", "show", BRIDGE, check=False).returncode == 0)
    if str(SERVICE_CIDR) in _run("ip", "route", "show", "type", "blackhole", check=False).stdout:
        guard.routes.append(f"blackhole {SERVICE_CIDR}")
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "mangle"):
            for line in _run(binary, "-w", "-t", table, "-S", "FORWARD",
                             check=False).stdout.splitlines():
                if line.startswith("-A FORWARD") and "registro-test-guardrail" in line:
                    guard.drop_rules.append((binary, ["-t", table, *shlex.split(line)[1:]]))
    return guard


def _write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def start_node_cluster(bins: Binaries) -> NodeCluster:
    """Start the whole one-node cluster; ``stop()`` on any failure."""
    t0 = time.monotonic()
    # /var/tmp: overlayfs upper dirs and unix sockets need a real, short path
    workdir = Path(tempfile.mkdtemp(prefix=Path(WORKDIR_PREFIX).name, dir="/var/tmp"))
    workdir.chmod(0o755)
    cluster = NodeCluster(workdir / "admin.kubeconfig", workdir, bins=bins)
    try:
        # -- guardrails, before anything can start a pod --
        cluster.guard = guard = record_host_before(workdir)
        if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            raise RuntimeError(f"bridge {BRIDGE} exists: another test cluster is running or "
                               "a previous one was not stopped")
        # filter FORWARD, first; and mangle FORWARD, which every packet crosses before
        # filter: kube-proxy and kubelet prepend their own jumps to filter FORWARD later.
        for dev in uplinks():
            for binary in ("iptables", "ip6tables"):
                for table in ("filter", "mangle"):
                    for direction in ("-o", "-i"):
                        rule = ["-t", table, "FORWARD", direction, dev, "-m", "comment",
                                "--comment", "registro-test-guardrail", "-j", "DROP"]
                        _run(binary, "-w", "-t", table, "-I", "FORWARD", "1", *rule[3:])
                        guard.drop_rules.append((binary, rule))
        route = f"blackhole {SERVICE_CIDR}"
        _run("ip", "route", "add", *route.split())
        guard.routes.append(route)
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        guard.bridge_created = True
        _run("ip", "addr", "add", f"{GATEWAY}/{POD_CIDR.prefixlen}", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        # pod -> Service IP -> pod on the same bridge is routed by the host
        write_sysctl("net.ipv4.ip_forward", "1")
        write_sysctl("net.bridge.bridge-nf-call-iptables", "1")

        # -- certificates, kubeconfigs --
        pki = cluster_pki(workdir / "pki")
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        server = f"https://{GATEWAY}:{api_port}"
        ca_pem = pki["ca.crt"].read_bytes()

        def kubeconfig(name: str) -> Path:
            return write_kubeconfig(workdir / f"{name}.kubeconfig", server, ca_pem, {
                "client-certificate-data": _b64(pki[f"{name}.crt"].read_bytes()),
                "client-key-data": _b64(pki[f"{name}.key"].read_bytes())})

        kubeconfig("admin")
        # -- etcd + kube-apiserver --
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        etcd = cluster._spawn("etcd", [
            str(bins.k8s / "etcd"), "--name", "default", "--data-dir", str(workdir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"default={peer_url}", "--unsafe-no-fsync", "--log-level", "warn"])
        wait_for_port(etcd_port, proc=etcd)
        api = cluster._spawn("kube-apiserver", [
            str(bins.k8s / "kube-apiserver"), f"--etcd-servers={etcd_url}",
            f"--secure-port={api_port}", f"--bind-address={GATEWAY}",
            f"--advertise-address={GATEWAY}",
            f"--cert-dir={workdir / 'pki'}",
            f"--tls-cert-file={pki['apiserver.crt']}",
            f"--tls-private-key-file={pki['apiserver.key']}",
            f"--client-ca-file={pki['ca.crt']}",
            f"--kubelet-client-certificate={pki['apiserver-kubelet-client.crt']}",
            f"--kubelet-client-key={pki['apiserver-kubelet-client.key']}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",  # ServiceAccount is on by default
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki['sa.pub']}",
            f"--service-account-signing-key-file={pki['sa.key']}",
            # the aggregation layer, for metrics.k8s.io (metrics-server)
            f"--requestheader-client-ca-file={pki['front-proxy-ca.crt']}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={pki['front-proxy-client.crt']}",
            f"--proxy-client-key-file={pki['front-proxy-client.key']}",
            # to the endpoint (the bridge address), not through the Service IP
            "--enable-aggregator-routing=true",
            "--v=1"])
        _wait_ready(server, {"ca.crt": pki["ca.crt"], "admin.crt": pki["admin.crt"],
                             "admin.key": pki["admin.key"]}, api, workdir / "kube-apiserver.log")
        cluster.timings["apiserver_ready_s"] = time.monotonic() - t0

        # -- controller manager (ServiceAccount token controller needs the signing key) --
        cluster._spawn("kube-controller-manager", [
            str(bins.k8s / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig('controller-manager')}",
            f"--authentication-kubeconfig={workdir / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={workdir / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki['sa.key']}",
            f"--root-ca-file={pki['ca.crt']}",
            f"--cluster-signing-cert-file={pki['ca.crt']}",
            f"--cluster-signing-key-file={pki['ca.key']}",
            "--allocate-node-cidrs=false",
            # the HPA test: a decision every 5 s instead of 15 s
            "--horizontal-pod-autoscaler-sync-period=5s", "--v=1"])
        cluster._spawn("kube-scheduler", [
            str(bins.k8s / "kube-scheduler"), f"--kubeconfig={kubeconfig('scheduler')}",
            f"--authentication-kubeconfig={workdir / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={workdir / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--v=1"])

        # -- the objects CoreDNS and metrics-server need, in one kubectl run --
        ms_port = free_port()
        cluster.kubectl("apply", "-f", "-", input=COREDNS_RBAC + "---" + METRICS_SERVER_OBJECTS
                        .replace("PORT", str(ms_port)).replace("GATEWAY", GATEWAY)
                        .replace("CA_BUNDLE", _b64(ca_pem)))

        # -- CoreDNS as a host process on the bridge address; nothing to forward to --
        dns_health, dns_ready = free_port(), free_port()
        (workdir / "Corefile").write_text(
            f".:53 {{\n  bind {GATEWAY}\n  errors\n"
            f"  health 127.0.0.1:{dns_health}\n  ready 127.0.0.1:{dns_ready}\n"
            f"  kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
            f"    kubeconfig {kubeconfig('coredns')} registro\n"
            "    pods insecure\n  }\n  cache 5\n}\n")
        coredns = cluster._spawn("coredns", [str(bins.coredns), "-conf",
                                             str(workdir / "Corefile")])

        # -- metrics-server as a host process on the bridge address, behind the
        # aggregation layer; nobody waits for it here (only the HPA test needs it) --
        ms_kubeconfig = str(kubeconfig("metrics-server"))
        cluster._spawn("metrics-server", [
            str(bins.metrics_server), f"--kubeconfig={ms_kubeconfig}",
            f"--authentication-kubeconfig={ms_kubeconfig}",
            f"--authorization-kubeconfig={ms_kubeconfig}",
            f"--bind-address={GATEWAY}", f"--secure-port={ms_port}",
            f"--tls-cert-file={pki['metrics-server-serving.crt']}",
            f"--tls-private-key-file={pki['metrics-server-serving.key']}",
            # the kubelet's serving cert is self-signed
            "--kubelet-insecure-tls", "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",  # the kubelet's port is a free one, not 10250
            # its lowest resolution; it must exceed the kubelet timeout (10 s by default)
            "--metric-resolution=10s", "--kubelet-request-timeout=5s", "--v=1"])

        # -- containerd --
        sock = workdir / "containerd" / "containerd.sock"
        cluster.containerd_socket = sock
        cni_conf = workdir / "cni" / "net.d"
        cni_conf.mkdir(parents=True)
        (cni_conf / "10-registro.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "registro",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "isDefaultGateway": False,
                 "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(workdir / "cni" / "ipam"),
                          "ranges": [[{"subnet": str(POD_CIDR), "gateway": GATEWAY}]],
                          # Service IPs only: no default route, nothing else is reachable
                          "routes": [{"dst": str(SERVICE_CIDR)}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ]}, indent=1))
        (workdir / "containerd.toml").write_text(f"""
version = 3
imports = []
root = "{workdir}/containerd/root"
state = "{workdir}/containerd/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "{workdir}/containerd/opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{shutil.which('runc')}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_DIR}"]
    conf_dir = "{cni_conf}"
    max_conf_num = 1
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
""")
        env = dict(os.environ, PATH=f"{bins.containerd}:{os.environ.get('PATH', '')}")
        containerd = cluster._spawn("containerd", [
            str(bins.containerd / "containerd"), "--config", str(workdir / "containerd.toml")],
            env=env)
        deadline = time.monotonic() + 60
        while not sock.exists():
            if containerd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start:\n" + cluster.log_tail("containerd"))
            time.sleep(0.2)
        cluster.import_image(pause_image_archive(workdir / "pause.tar"))
        cluster.import_image(toolbox_image_archive(workdir / "toolbox.tar"))

        # -- kubelet --
        resolv = workdir / "resolv.conf"
        resolv.write_text("# no upstream resolvers: pods use the cluster DNS only\n"
                          "options ndots:5\n")
        kubelet_dir = workdir / "kubelet"
        kubelet_cfg = _write_yaml(workdir / "kubelet.yaml", {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "protectKernelDefaults": False, "evictionHard": {},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "resolvConf": str(resolv), "clusterDNS": [GATEWAY], "clusterDomain": CLUSTER_DOMAIN,
            "containerRuntimeEndpoint": f"unix://{sock}",
            "address": GATEWAY, "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "podLogsDir": str(workdir / "pod-logs"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pki["ca.crt"])}},
            "authorization": {"mode": "Webhook"},
            "serializeImagePulls": False, "registerNode": True,
            "shutdownGracePeriod": "0s", "maxPods": 50,
        })
        cluster._spawn("kubelet", [
            str(bins.k8s / "kubelet"), f"--config={kubelet_cfg}",
            f"--kubeconfig={kubeconfig('kubelet')}", f"--root-dir={kubelet_dir}",
            f"--cert-dir={workdir / 'kubelet-pki'}", f"--node-ip={GATEWAY}",
            f"--hostname-override={NODE_NAME}", "--v=1"], env=env)

        # -- kube-proxy --
        proxy_cfg = _write_yaml(workdir / "kube-proxy.yaml", {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clusterCIDR": str(POD_CIDR), "hostnameOverride": NODE_NAME,
            "clientConnection": {"kubeconfig": str(kubeconfig("kube-proxy"))},
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "nodePortAddresses": [f"{GATEWAY}/32"],
            # leave the host's conntrack table sizes and timeouts alone
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        })
        cluster._spawn("kube-proxy", [str(bins.k8s / "kube-proxy"), f"--config={proxy_cfg}",
                                      "--v=1"])

        # -- wait for a Ready node and the DNS server --
        def node_ready() -> bool:
            for name, proc in cluster.named.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n"
                                       + cluster.log_tail(name))
            return cluster.kubectl("get", "node", NODE_NAME, "-o",
                                   "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                                   check=False).stdout == "True"

        wait_until(node_ready, 180, interval=0.5, what=f"node {NODE_NAME} Ready",
                   diagnose=lambda: cluster.log_tail("kubelet"))
        wait_for_port(dns_ready, proc=coredns, timeout=60)
        cluster.timings["node_ready_s"] = time.monotonic() - t0
        # ServiceAccount "default" exists once the controller manager runs
        wait_until(lambda: cluster.kubectl("get", "serviceaccount", "default",
                                           check=False).returncode == 0,
                   60, interval=0.5, what="the default ServiceAccount",
                   diagnose=lambda: cluster.log_tail("kube-controller-manager"))
        cluster.guard.sysctl_changed_by_cluster = sysctl_diff(guard.sysctl_before)
        cluster.timings["ready_s"] = time.monotonic() - t0
        return cluster
    except BaseException:
        with contextlib.suppress(Exception):
            keep = Path(tempfile.mkdtemp(prefix="rgc-failed-logs-"))
            for log in workdir.glob("*.log"):
                shutil.copy(log, keep / log.name)
        cluster.stop()
        raise


def _main(argv: list[str]) -> int:
    """``python -m tests.support.cluster reclaim [--new-machine]`` (as root): wait for any
    test cluster in use to stop, then undo what killed ones left. ``--new-machine`` also
    unmounts /run/netns, as a new machine or a reboot has it (issue 18;
    scripts/fresh-machine-check.sh)."""
    if not argv or argv[0] != "reclaim" or set(argv[1:]) - {"--new-machine"}:
        print(_main.__doc__)
        return 2
    lock = host_lock()
    try:
        found = reclaim(binaries())
        print(f"undone: {found}" if found else "no test cluster left anything behind")
        if "--new-machine" in argv:
            for point, fs in reversed(mount_points(f"{NETNS_DIR}/")):
                if fs == "nsfs":
                    _run("umount", "-l", point, check=False)
            for _ in range(10):
                if not any(m == str(NETNS_DIR) for m, _ in mount_points(str(NETNS_DIR))):
                    break
                print(f"unmounting {NETNS_DIR} (a new machine has no mount there)")
                _run("umount", "-l", str(NETNS_DIR))
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
