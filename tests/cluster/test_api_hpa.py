"""The API's HorizontalPodAutoscaler (autoscaling/v2) on real pods.

metrics-server (a host process of the test cluster, behind the aggregation layer)
reports the API pods' CPU; under real HTTP load through the API Service the HPA adds a
replica that gets Ready, and once the load stops it goes back to one. The installed
release is upgraded with the HPA for the test and rolled back after it."""

from __future__ import annotations

import json
import time

from tests.cluster.conftest import CHART, NAMESPACE, RELEASE, pods, settled, wait_until

API = f"{RELEASE}-api"
API_SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=api"
# Small numbers keep the test short: 50 % of the API's 100m CPU request is a few dozen
# requests a second; a 5 s scale-down window (the chart's default is 300 s).
HPA_VALUES = ("api.autoscaling.enabled=true,api.autoscaling.minReplicas=1,"
              "api.autoscaling.maxReplicas=2,api.autoscaling.targetCPUUtilizationPercentage=50,"
              "api.autoscaling.scaleDownStabilizationSeconds=5")

# Real HTTP to the API Service from a pod: one new connection per request, so kube-proxy
# spreads them over every API pod. It prints its counts; SIGTERM ends it at once.
LOADER = r"""
import http.client, signal, sys, threading, time
host, threads = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
counts = [[0, 0] for _ in range(threads)]
def run(mine):
    while True:
        try:
            c = http.client.HTTPConnection(host, 80, timeout=5)
            c.request("GET", "/healthz")
            mine[0 if c.getresponse().status == 200 else 1] += 1
            c.close()
        except OSError:
            mine[1] += 1
            time.sleep(0.1)
for mine in counts:
    threading.Thread(target=run, args=(mine,), daemon=True).start()
while True:
    time.sleep(2)
    print("ok=%d errors=%d" % (sum(c[0] for c in counts), sum(c[1] for c in counts)), flush=True)
"""


def hpa(cluster) -> dict:
    return json.loads(cluster.kubectl("get", "hpa", API, "-n", NAMESPACE, "-o", "json").stdout)


def deployment(cluster) -> dict:
    return json.loads(cluster.kubectl("get", "deploy", API, "-n", NAMESPACE, "-o",
                                      "json").stdout)


def api_pod_cpu(cluster) -> dict[str, int]:
    """metrics.k8s.io: each API pod's CPU in millicores."""
    out = cluster.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}"
                          f"/pods?labelSelector={API_SELECTOR}", check=False)
    if out.returncode:
        return {}
    return {item["metadata"]["name"]: round(sum(_millicores(c["usage"]["cpu"])
                                                for c in item["containers"]))
            for item in json.loads(out.stdout)["items"]}


def _millicores(quantity: str) -> float:
    """A CPU quantity as metrics-server writes it: "12345678n", "150u", "15m" or "1"."""
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in scale:
        return int(quantity[:-1]) * scale[quantity[-1]]
    return float(quantity) * 1000


def test_api_hpa_scales_up_under_load_and_back(node_cluster, registro_release, pod_namespace):
    t0 = time.monotonic()
    cluster, helm = node_cluster, registro_release["helm"]
    history = json.loads(helm("history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    revision = history[-1]["revision"]
    # metrics-server started with the cluster, in the background: available by now or soon
    wait_until(lambda: api_pod_cpu(cluster), 180, 2,
               what="metrics.k8s.io reporting the API pods' CPU")
    helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
         "--set", HPA_VALUES, "--wait", "--timeout", "5m")
    try:
        # the HPA has read the idle API's CPU once and keeps one replica
        wait_until(lambda: (s := hpa(cluster).get("status", {})).get("currentMetrics")
                   and s.get("desiredReplicas") == 1, 120, 1, what="the HPA reading CPU at rest")
        image = deployment(cluster)["spec"]["template"]["spec"]["containers"][0]["image"]
        loader = {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-load"},
            "spec": {
                "restartPolicy": "Never", "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 5,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "load", "image": image, "imagePullPolicy": "Never",
                    "command": ["python", "-c", LOADER,
                                f"{API}.{NAMESPACE}.svc.cluster.local", "8"],
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}}]}}
        cluster.kubectl("apply", "-n", pod_namespace, "-f", "-", input=json.dumps(loader))
        loaded = time.monotonic()
        peak: dict[str, int] = {}

        def scaled_up() -> bool:
            for pod, m in api_pod_cpu(cluster).items():
                peak[pod] = max(peak.get(pod, 0), m)
            return (hpa(cluster)["status"].get("desiredReplicas", 0) >= 2
                    and deployment(cluster)["status"].get("readyReplicas", 0) >= 2)

        wait_until(scaled_up, 240, 2, what="the HPA at 2 API replicas, both Ready")
        scale_up_s = time.monotonic() - loaded
        logs = cluster.kubectl("logs", "api-load", "-n", pod_namespace).stdout.split()
        cluster.kubectl("delete", "pod", "api-load", "-n", pod_namespace, "--wait=false")
        unloaded = time.monotonic()
        counts = dict(kv.split("=") for kv in logs[-2:])
        assert int(counts["ok"]) > 100, logs[-2:]  # the load was HTTP the API answered
        assert max(peak.values()) > 50, peak  # above the target: 50 % of 100m

        def back_to_one() -> bool:
            d = deployment(cluster)
            return (hpa(cluster)["status"].get("desiredReplicas") == 1
                    and d["spec"].get("replicas") == 1 and d["status"].get("replicas") == 1)

        wait_until(back_to_one, 180, 2, what="the HPA back at 1 API replica")
        scale_down_s = time.monotonic() - unloaded
    finally:
        cluster.kubectl("delete", "pod", "api-load", "-n", pod_namespace, "--wait=false",
                        "--ignore-not-found", check=False)
        restoring = time.monotonic()
        helm("rollback", RELEASE, str(revision), "-n", NAMESPACE, "--wait", "--timeout", "5m")
    # the HPA's scale-in leaves a terminating API pod for its preStop and drain
    leaving = [p["metadata"]["name"] for p in pods(cluster, NAMESPACE)
               if p["metadata"].get("deletionTimestamp")]
    wait_until(lambda: settled(cluster, NAMESPACE), 300, 2,
               what="every pod Ready and none terminating after the rollback")
    restore_s = time.monotonic() - restoring
    assert cluster.kubectl("get", "hpa", "-n", NAMESPACE, "-o", "name").stdout.strip() == ""
    print(f"\n[hpa] API pods' peak CPU {peak} m (requests {counts}); load -> 2 Ready replicas "
          f"{scale_up_s:.1f} s; load stopped -> 1 replica {scale_down_s:.1f} s; rollback "
          f"{restore_s:.1f} s (terminating when the rollback returned: {leaving}); "
          f"test {time.monotonic() - t0:.1f} s")
