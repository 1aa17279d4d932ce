"""Real pods, measured: the one-node test cluster and the chart installed on it.

    .venv/bin/python benchmarks/bench_pods.py [--scrapes 200] [--skip-memory]

Prints: cold and warm cluster start (cold = the first start in this run, with an empty
containerd and cold page cache for its files if nothing ran before; warm = stop, then
start again), image sizes (from the images manifest), image import and ``helm install``
times, pod start to Ready per component, the operator's reaction from a loaded queue to
the third worker pod Ready, and the memory of one worker pod (worker + browser sidecar:
the pod's cgroup working set and the summed PSS of its processes) over ``--scrapes``
scrapes. Goal: under 600 MiB and under 10 % growth from the first 10 % of the scrapes
to the end. Needs root (see tests/support/cluster.py). Stops everything it starts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import cluster as node
from tests.support import release

BASE = "/api/desenvolvimento"
MIB = 2**20


def os_numbers(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        k = rng.randrange(100_000, 900_000)
        if k % 97:
            out.add(str(k))
    return sorted(out)


def pod_cgroup_dirs(pod_uid: str) -> list[Path]:
    root = Path("/sys/fs/cgroup/memory/kubepods")
    marker = "pod" + pod_uid
    return [d for d in root.rglob(marker) if d.is_dir()]


def pod_memory(pod_uid: str) -> dict[str, float]:
    """Working set (usage - inactive file cache) of the pod's memory cgroup and the
    summed PSS of every process in it, in MiB."""
    dirs = pod_cgroup_dirs(pod_uid)
    if not dirs:
        return {"working_set_mib": float("nan"), "pss_mib": float("nan")}
    d = dirs[0]
    usage = int((d / "memory.usage_in_bytes").read_text())
    stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
    working = usage - int(stat.get("total_inactive_file", 0))
    pids: set[int] = set()
    for procs in d.rglob("cgroup.procs"):
        pids.update(int(x) for x in procs.read_text().split())
    pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return {"working_set_mib": working / MIB, "pss_mib": pss / MIB}


def scale_pool(cluster, **spec) -> None:
    cluster.kubectl("patch", "scraperpool", release.RELEASE, "-n", release.NAMESPACE,
                    "--type", "merge", "-p", json.dumps({"spec": spec}))


def replicas(cluster) -> int:
    return int(cluster.kubectl("get", "deploy", f"{release.RELEASE}-worker", "-n",
                               release.NAMESPACE, "-o", "jsonpath={.spec.replicas}").stdout)


def ready_workers(cluster) -> list[dict]:
    return [p for p in release.pods(cluster, selector="app.kubernetes.io/component=worker")
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True"
                   for c in p["status"].get("conditions", []))]


def lookup(client, numero: str) -> str | None:
    """POST buscar-os-async, waiting out the key's per-minute limit; the task id (None when
    the OS was already stored)."""
    while True:
        answer = client.post(f"{BASE}/buscar-os-async/{numero}")
        if answer.status_code != 429:
            answer.raise_for_status()
            return answer.json().get("task_id")
        time.sleep(float(answer.headers.get("Retry-After", "5")))


def wait_tasks(client, task_ids: list[str], timeout: float) -> None:
    pending = set(task_ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for t in list(pending):
            answer = client.get(f"{BASE}/scraping-status/{t}")
            if answer.status_code == 429:  # the key's per-minute limit: wait as told
                time.sleep(float(answer.headers.get("Retry-After", "5")))
                break
            answer.raise_for_status()
            if answer.json()["status"] in ("SUCCESS", "FAILURE"):
                pending.discard(t)
        time.sleep(1)
    if pending:
        raise TimeoutError(f"{len(pending)} tasks unfinished")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    missing = node.missing_host_parts()
    bins = node.binaries()
    archives = release.image_archives()
    helm_bin = release.helm_binary()
    if missing or bins is None or not isinstance(archives, dict) or helm_bin is None:
        sys.exit(f"bench-pods: missing {missing or ''} {'' if bins else 'cluster binaries'} "
                 f"{'' if isinstance(archives, dict) else archives} {'' if helm_bin else 'helm'}"
                 " (make k8s-tools helm-tool; scripts/build-images.sh)")
    import httpx

    figures: dict[str, object] = {}
    t0 = time.monotonic()
    cluster = node.start_node_cluster(bins)
    figures["cluster_start_cold_s"] = round(time.monotonic() - t0, 1)
    cluster.stop()
    t0 = time.monotonic()
    cluster = node.start_node_cluster(bins)
    figures["cluster_start_warm_s"] = round(time.monotonic() - t0, 1)
    forward = None
    try:
        manifest = json.loads((node.CACHE_ROOT / "images" / "manifest.json").read_text())
        figures["image_size_mib"] = {n: round(e["size_bytes"] / MIB)
                                     for n, e in manifest["images"].items()
                                     if n in release.IMAGE_NAMES}
        helm = release.Helm(helm_bin, cluster.admin_kubeconfig)
        figures.update({k: round(v, 1) for k, v in release.install(cluster, helm,
                                                                  archives).items()})
        figures["start_to_ready_s"] = {k: round(v, 1)
                                       for k, v in release.start_to_ready(cluster).items()}
        forward = release.PortForward(cluster, release.NAMESPACE, f"svc/{release.RELEASE}-api",
                                      80)
        client = httpx.Client(base_url=forward.url, timeout=30, headers={
            "Authorization": f"Bearer {release.api_key(cluster)}"})
        rng = random.Random(8)

        # operator reaction: queue loaded -> third worker pod Ready
        scale_pool(cluster, pollIntervalSeconds=2, scaleDownStabilizationSeconds=20)
        release.demo_admin(cluster, "/_demo/faults", "POST", {"latency_ms": 400})
        tasks = [t for n in os_numbers(18, rng) if (t := lookup(client, n))]
        loaded = time.monotonic()
        release.wait_until(lambda: len(ready_workers(cluster)) >= 3, 900, 1,
                           what="three Ready workers")
        figures["queue_to_third_worker_ready_s"] = round(time.monotonic() - loaded, 1)
        wait_tasks(client, tasks, 900)
        release.demo_admin(cluster, "/_demo/faults", "POST", {"latency_ms": 0})

        if not args.skip_memory:
            # one worker pod, --scrapes scrapes, sampled as it goes
            scale_pool(cluster, minReplicas=1, maxReplicas=1)
            release.wait_until(lambda: replicas(cluster) == 1 and len(ready_workers(cluster)) == 1,
                               600, 2, what="one worker")
            (pod,) = ready_workers(cluster)
            uid = pod["metadata"]["uid"]
            samples = [pod_memory(uid)]
            numbers = os_numbers(args.scrapes, rng)
            batch = max(1, args.scrapes // 10)
            scraped = 0
            for i in range(0, len(numbers), batch):
                ids = [t for n in numbers[i:i + batch] if (t := lookup(client, n))]
                scraped += len(ids)
                wait_tasks(client, ids, 1800)
                samples.append(pod_memory(uid))
                print(f"  {min(i + batch, len(numbers))} scrapes: "
                      f"working set {samples[-1]['working_set_mib']:.0f} MiB, "
                      f"PSS {samples[-1]['pss_mib']:.0f} MiB", flush=True)
            first, last = samples[1], samples[-1]
            peak = max(s["working_set_mib"] for s in samples)
            growth = (last["working_set_mib"] - first["working_set_mib"]) / first["working_set_mib"]
            figures["worker_pod_memory"] = {
                "scrapes": scraped, "after_first_batch_mib": round(first["working_set_mib"]),
                "end_mib": round(last["working_set_mib"]), "peak_mib": round(peak),
                "pss_end_mib": round(last["pss_mib"]), "growth_pct": round(100 * growth, 1),
                "goal_met": peak < 600 and growth < 0.10,
            }
        client.close()
    finally:
        if forward:
            forward.close()
        workdir = cluster.workdir
        cluster.stop()
        left = node.leftovers(workdir)
    print(json.dumps(figures, indent=2))
    if left:
        sys.exit(f"bench-pods: left behind: {left}")


if __name__ == "__main__":
    main()
