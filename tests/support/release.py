"""Registro installed with Helm on a real cluster: images imported into containerd,
storage stand-in, helm, port-forward and the demo system's admin API. Shared by
tests/cluster and benchmarks/bench_pods.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from pathlib import Path

from devstack import waits
from tests.support import cluster as node
from tests.support.images import lane_build_archives
from tests.support.kube import kubectl_binary

REPO = Path(__file__).resolve().parents[2]
RELEASE = "registro"
NAMESPACE = "registro"
CHART = REPO / "charts" / "registro"
IMAGE_NAMES = ("api", "worker", "operator", "demo", "selenium", "redis", "postgres", "flower")
# Built from this repo's code, so rebuilt by most commits; the others are stand-ins for
# third-party images, rebuilt only when their own recipe changes.
PROJECT_IMAGES = ("api", "worker", "operator", "demo")
# The chart's install guide (charts/registro/README.md, "Try it with the demo legacy
# system"), plus one API replica without the fallback browser: two cores shared by all.
INSTALL_VALUES = [
    "--set", "legacyDemo.enabled=true",
    "--set", f"legacy.url=http://{RELEASE}-legacy-demo:8080",
    "--set", "legacy.username=demo", "--set", "legacy.password=demo",
    "--set", "api.replicaCount=1", "--set", "api.fallbackBrowser.enabled=false",
]


def image_archives() -> dict[str, Path] | str:
    """The chart's images built by scripts/build-images.sh: ``{name: docker-archive}``
    from its manifest, or a string saying what is missing."""
    try:
        from tests.support.images import ensure_images
    except ImportError:
        ensure_images = None
    if ensure_images is not None:  # builds (or finds cached) the images; skips/fails else
        images = ensure_images()
        missing = [n for n in IMAGE_NAMES if n not in images]
        if missing:
            return f"images {missing} (scripts/build-images.sh)"
        return {n: Path(images[n].archive) for n in IMAGE_NAMES}
    manifest = node.CACHE_ROOT / "images" / "manifest.json"
    if not manifest.is_file():
        return f"image archives ({manifest}; scripts/build-images.sh)"
    entries = json.loads(manifest.read_text())["images"]
    missing = [n for n in IMAGE_NAMES if n not in entries
               or not Path(entries[n]["archive"]).is_file()]
    if missing:
        return f"image archives for {missing} (scripts/build-images.sh)"
    return {n: Path(entries[n]["archive"]) for n in IMAGE_NAMES}


def helm_binary() -> str | None:
    proc = subprocess.run([str(REPO / "scripts" / "build-helm.sh")], capture_output=True,
                          text=True, timeout=1800, check=False)
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else None


class Helm:
    def __init__(self, binary: str, kubeconfig: Path):
        self.binary, self.kubeconfig = binary, kubeconfig

    def __call__(self, *args: str, timeout: float = 900, check: bool = True
                 ) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.binary, "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc


def storage_stand_in(cluster, count: int = 2, name: str = "test") -> None:
    """hostPath PersistentVolumes in the cluster's work directory: the stand-in for a
    storage provisioner (this cluster has none) for Redis' and PostgreSQL's PVCs
    (``registro-<name>-pv<i>``)."""
    for i in range(count):
        d = cluster.workdir / "volumes" / (f"pv{i}" if name == "test" else f"{name}-pv{i}")
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o777)  # hostPath ignores fsGroup; the pods run as their own UIDs
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"registro-{name}-pv{i}"},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                     "hostPath": {"path": str(d), "type": "Directory"}}}))


_watched: list = []  # the session's cluster, for the diagnosis of a timed-out wait


def watch(cluster) -> None:
    """Every :func:`wait_until` from now on explains its timeout with this cluster's pods."""
    _watched[:] = [cluster]


def diagnosis(cluster, events: int = 25) -> str:
    """The pods that are not Ready (every namespace): phase, deletion, each container's
    state and restarts; then the cluster's latest events."""
    lines = ["pods not Ready:"]
    items = json.loads(cluster.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
    for pod in items:
        meta, status = pod["metadata"], pod.get("status", {})
        conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conds.get("Ready") == "True" and not meta.get("deletionTimestamp"):
            continue
        if status.get("phase") == "Succeeded":
            continue
        gone = f" Terminating since {meta['deletionTimestamp']}" \
            if meta.get("deletionTimestamp") else ""
        lines.append(f"  {meta['namespace']}/{meta['name']}: {status.get('phase')}{gone}")
        for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            state = ", ".join(f"{k} {v.get('reason', '')} {v.get('message', '')}".strip()
                              for k, v in c.get("state", {}).items())
            lines.append(f"    {c['name']}: ready={c.get('ready')} restarts="
                         f"{c.get('restartCount', 0)} {state}")
    out = cluster.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False).stdout
    lines.append(f"latest events:\n{chr(10).join(out.splitlines()[-events:])}")
    return "\n".join(lines)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """:func:`devstack.waits.wait_until`, whose timeout also says what the watched
    cluster's pods were doing."""
    cluster = _watched[0] if _watched else None
    return waits.wait_until(predicate, timeout, interval, what,
                            diagnose=(lambda: diagnosis(cluster)) if cluster else None)


def pods(cluster, namespace: str = NAMESPACE, selector: str | None = None) -> list[dict]:
    args = ["get", "pods", "-n", namespace, "-o", "json"]
    if selector:
        args += ["-l", selector]
    return json.loads(cluster.kubectl(*args).stdout)["items"]


def pods_ready(cluster, namespace: str = NAMESPACE) -> dict[str, bool]:
    ready = {}
    for pod in pods(cluster, namespace):
        if pod["metadata"].get("annotations", {}).get("helm.sh/hook"):
            continue
        if pod["status"].get("phase") == "Succeeded":  # a finished Job's (the migrations)
            continue
        conds = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        # a terminating pod keeps its Ready condition until its probe fails: it is leaving
        ready[pod["metadata"]["name"]] = (conds.get("Ready") == "True"
                                          and not pod["metadata"].get("deletionTimestamp"))
    return ready


def settled(cluster, namespace: str = NAMESPACE) -> bool:
    """Every pod of the namespace Ready and none terminating: what a test leaves behind."""
    ready = pods_ready(cluster, namespace)
    return bool(ready) and all(ready.values())


def _archive_id(archive: Path) -> tuple[str, int, int]:
    """What identifies one written archive: the build writes a new file and renames it
    over the old one, so a rebuilt image has a new inode."""
    st = archive.stat()
    return str(archive), st.st_ino, st.st_mtime_ns


class Preimport:
    """Imports images into the cluster in a thread while this commit's images may still
    be building (scripts/pytest-tiers.sh starts the cluster tier alongside ``make
    images``): the stand-ins of the last build (``manifest.json``), then each image of
    this build as soon as it is done; :func:`install` imports only what this missed.
    Measured: the stand-ins are most of the 63-78 s of imports that the first install
    waited for; the four app images took 25 s more on a quiet machine."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.imported: set[tuple[str, int, int]] = set()
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="preimport", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        manifest = node.CACHE_ROOT / "images" / "manifest.json"
        t0 = time.monotonic()
        try:
            entries = json.loads(manifest.read_text())["images"] if manifest.is_file() else {}
            for name in IMAGE_NAMES:
                if name in PROJECT_IMAGES or name not in entries:
                    continue
                self._import(Path(entries[name]["archive"]))
            for name, archive in lane_build_archives():
                if name in IMAGE_NAMES:
                    self._import(archive)
        except BaseException as e:  # noqa: BLE001 - install() imports whatever this missed
            self.error = e
        self.seconds = time.monotonic() - t0

    def _import(self, archive: Path) -> None:
        if archive.is_file() and (ident := _archive_id(archive)) not in self.imported:
            self.cluster.import_image(archive)
            self.imported.add(ident)

    def done(self) -> set[tuple[str, int, int]]:
        """The archives imported, once the thread has ended."""
        self.thread.join()
        return self.imported


_preimport: list[Preimport] = []


def start_preimport(cluster) -> None:
    """Start :class:`Preimport` for the session's own cluster."""
    if isinstance(cluster, node.NodeCluster) and not os.environ.get("REGISTRO_NO_PREIMPORT"):
        _preimport[:] = [Preimport(cluster)]


def preimport_summary() -> str:
    if not _preimport:
        return "no pre-import"
    pre = _preimport[0]
    error = f", stopped by {pre.error!r}" if pre.error else ""
    return f"{len(pre.done())} images pre-imported in {pre.seconds:.1f} s{error}"


def install(cluster, helm: Helm, archives: dict[str, Path]) -> dict[str, float]:
    """Import the images (those not already imported by :class:`Preimport`), add the
    storage stand-in, ``helm install --wait``; timings."""
    t0 = time.monotonic()
    if isinstance(cluster, node.NodeCluster):
        already = _preimport[0].done() if _preimport else set()
        t0 = time.monotonic()  # the wait for the thread is not this import's time
        for archive in archives.values():
            if _archive_id(archive) not in already:
                cluster.import_image(archive)
        storage_stand_in(cluster)
    t1 = time.monotonic()
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    helm("install", RELEASE, str(CHART), "-n", NAMESPACE, *INSTALL_VALUES,
         "--wait", "--timeout", "15m")
    wait_until(lambda: settled(cluster), 600, 2, what="every Registro pod Ready")
    return {"import_s": t1 - t0, "install_s": time.monotonic() - t1}


def start_to_ready(cluster) -> dict[str, float]:
    """Per pod of the release: seconds from creation to its Ready condition."""
    import datetime as dt

    def ts(s: str) -> dt.datetime:
        return dt.datetime.fromisoformat(s)

    out = {}
    for pod in pods(cluster):
        conds = {c["type"]: c for c in pod["status"].get("conditions", [])}
        if conds.get("Ready", {}).get("status") != "True":
            continue
        comp = pod["metadata"]["labels"].get("app.kubernetes.io/component", "?")
        out[f"{comp}/{pod['metadata']['name']}"] = (
            ts(conds["Ready"]["lastTransitionTime"])
            - ts(pod["metadata"]["creationTimestamp"])).total_seconds()
    return out


class PortForward:
    """``kubectl port-forward`` to a Service on a free loopback port."""

    def __init__(self, cluster, namespace: str, target: str, port: int):
        from devstack.processes import free_port

        self.local = free_port()
        self.proc = subprocess.Popen(
            [str(kubectl_binary()), "--kubeconfig", str(cluster.admin_kubeconfig), "-n",
             namespace, "port-forward", "--address", "127.0.0.1", target,
             f"{self.local}:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        line = self.proc.stdout.readline()
        if "Forwarding from" not in line:
            self.close()
            raise RuntimeError(f"port-forward {target}: {line}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdout.close()


class ForwardedClient:
    """An httpx client on a Service through ``kubectl port-forward``. A port-forward holds
    one pod: when that pod is replaced (a rolled Deployment, a restart), the forward ends
    and requests fail. The client then forwards again, to a pod that is there now, and
    sends the request once more: any request that never reached the server, and GETs
    whatever broke (a POST that may have been served is not sent twice, unless the caller
    says it is idempotent: a lookup of one OS is, its claim gives a second POST the same
    task)."""

    def __init__(self, cluster, namespace: str, target: str, port: int,
                 headers: dict[str, str]):
        self._args = (cluster, namespace, target, port)
        self._headers = headers
        self._open()

    def _open(self) -> None:
        import httpx

        self.forward = PortForward(*self._args)
        self.client = httpx.Client(base_url=self.forward.url, timeout=30,
                                   headers=self._headers)

    def _reopen(self) -> None:
        self.close()
        self._open()

    def request(self, method: str, url: str, *, idempotent: bool = False, **kwargs):
        import httpx

        if self.forward.proc.poll() is not None:  # the forward already ended
            self._reopen()
        try:
            return self.client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if not (method == "GET" or idempotent or isinstance(exc, httpx.ConnectError)):
                raise
            self._reopen()
            return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, *, idempotent: bool = False, **kwargs):
        return self.request("POST", url, idempotent=idempotent, **kwargs)

    def close(self) -> None:
        self.client.close()
        self.forward.close()


def api_key(cluster) -> str:
    secret = json.loads(cluster.kubectl("get", "secret", f"{RELEASE}-secrets", "-n",
                                        NAMESPACE, "-o", "json").stdout)
    return base64.b64decode(secret["data"]["api-keys"]).decode().split(",")[0]


def demo_admin(cluster, path: str, method: str = "GET", body: dict | None = None) -> dict:
    """The demo legacy system's loopback-only admin API, from inside its pod."""
    script = (
        "import os, httpx\n"
        "h = {'Authorization': 'Bearer ' + os.environ['REGISTRO_DEMO_ADMIN_TOKEN']}\n"
        f"r = httpx.request({method!r}, 'http://127.0.0.1:8080{path}', headers=h,"
        f" json={body!r}, timeout=10)\n"
        "print(r.text)\n")
    out = cluster.kubectl("exec", "-n", NAMESPACE, f"deploy/{RELEASE}-legacy-demo", "--",
                          "python", "-c", script).stdout
    return json.loads(out)
