"""How fast the operator reacts: from the queue crossing the threshold to the worker
Deployment's replicas being patched, against KEDA's Redis scaler + HPA defaults.

    .venv/bin/python benchmarks/bench_operator.py [--trials 5] [--poll 10 1]

Real parts: etcd + kube-apiserver (scripts/build-k8s.sh), Redis with real Celery task
messages, the Registro API's /metrics, and the operator (kopf, in-process) logged in
with its ServiceAccount token. The KEDA/HPA figure is not measured (no KEDA here): it is
a Monte Carlo of their documented default loops with random phases, stated as such.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml

from devstack import processes
from tests.operator.conftest import (
    CRD_PATH,
    GROUP,
    PLURAL,
    VERSION,
    QueueApi,
    RealQueue,
    deployment,
    rbac_documents,
    running_operator,
    scraperpool,
    wait_until,
)
from tests.support import kube

KEDA_POLLING_S = 30.0  # KEDA ScaledObject pollingInterval default
HPA_SYNC_S = 15.0  # kube-controller-manager --horizontal-pod-autoscaler-sync-period default


def keda_hpa_model(samples: int = 100_000, seed: int = 7) -> dict[str, list[float]]:
    """Latency from a queue step to the HPA's scale write, random loop phases.

    serial: KEDA reads Redis every 30 s and the HPA acts on that value at its next
            15 s sync (the two loops in series, as with KEDA's cached metrics);
    hpa-only: the HPA's sync asks KEDA's metrics adapter, which reads Redis at that moment
            (KEDA's default useCachedMetrics=false), so only the 15 s sync counts.
    """
    rng = random.Random(seed)
    serial, hpa_only = [], []
    for _ in range(samples):
        keda_wait = rng.uniform(0, KEDA_POLLING_S)
        hpa_phase = rng.uniform(0, HPA_SYNC_S)
        # next HPA sync at or after the KEDA read
        t_keda = keda_wait
        k = -(-(t_keda - hpa_phase) // HPA_SYNC_S)
        serial.append(hpa_phase + max(k, 0) * HPA_SYNC_S)
        hpa_only.append(rng.uniform(0, HPA_SYNC_S))
    return {"serial": serial, "hpa-only": hpa_only}


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return (f"mean {statistics.mean(xs):6.2f} s  median {statistics.median(xs):6.2f} s  "
            f"p95 {p95:6.2f} s  max {xs[-1]:6.2f} s  (n={len(xs)})")


def measure(cluster, admin, poll_s: int, trials: int, api: QueueApi, queue: RealQueue,
            sa_kubeconfig: Path, namespace: str) -> list[float]:
    import kubernetes

    apps = kubernetes.client.AppsV1Api(admin)
    custom = kubernetes.client.CustomObjectsApi(admin)
    name = f"workers-{poll_s}"
    apps.create_namespaced_deployment(namespace, deployment(name, 1))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, scraperpool(
        f"pool-{poll_s}", name, api.metrics_url, pollIntervalSeconds=poll_s))
    latencies = []
    try:
        with running_operator(sa_kubeconfig, namespace, tick_s=0.2):
            wait_until(lambda: (custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, f"pool-{poll_s}").get("status") or {})
                .get("currentReplicas") == 1, 60, what="first poll")
            for _ in range(trials):
                time.sleep(random.uniform(0, poll_s))  # random phase against the poll
                crossed = time.monotonic()
                queue.enqueue(12)  # 12 > 3 per worker × 1: the threshold is crossed
                wait_until(lambda: apps.read_namespaced_deployment_scale(
                    name, namespace).spec.replicas == 3, 120, interval=0.02,
                    what="scale to 3")
                latencies.append(time.monotonic() - crossed)
                queue.drain()
                apps.patch_namespaced_deployment_scale(name, namespace,
                                                       {"spec": {"replicas": 1}})
                time.sleep(poll_s + 0.5)  # the operator sees the empty queue at 1 replica
    finally:
        apps.delete_namespaced_deployment(name, namespace)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--poll", type=int, nargs="+", default=[10, 1],
                        help="pollIntervalSeconds values to measure (10 is the default)")
    args = parser.parse_args()

    bins = kube.bin_dir()
    if bins is None:
        sys.exit("control plane not built: run `make k8s-tools` first")
    import kubernetes

    redis_srv = processes.start_redis()
    cluster = kube.start_control_plane(bins)
    workdir = Path(tempfile.mkdtemp(prefix="registro-bench-op-"))
    api = QueueApi(redis_srv.url, workdir)
    queue = RealQueue(redis_srv.url)
    admin = cluster.api_client()
    try:
        api.start()
        cluster.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                        f"crd/{PLURAL}.{GROUP}")
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kubernetes.client.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
        cluster.kubectl("apply", "-n", namespace, "-f", "-",
                        input=yaml.safe_dump_all(rbac_documents(namespace)))
        sa = cluster.service_account_kubeconfig(namespace, "registro-operator")

        print("Queue crosses the threshold (0 -> 12 tasks, 3 per worker) -> Deployment "
              "scale patched to 3")
        for poll in args.poll:
            xs = measure(cluster, admin, poll, args.trials, api, queue, sa, namespace)
            print(f"  registro-operator, pollIntervalSeconds={poll:<3} measured: {summary(xs)}")
        model = keda_hpa_model()
        print(f"  KEDA 30 s polling + HPA 15 s sync (modelled, serial loops): "
              f"{summary(model['serial'])}")
        print(f"  HPA 15 s sync reading KEDA's adapter directly (modelled):  "
              f"{summary(model['hpa-only'])}")
    finally:
        admin.close()
        queue.close()
        api.close()
        cluster.stop()
        redis_srv.stop()


if __name__ == "__main__":
    main()
