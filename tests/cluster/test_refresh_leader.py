"""The background refresh's scheduler in real worker pods: with two worker pods exactly
one holds the Redis lease (queue-status, each pod's own metrics, and the one pod whose
log shows the refresh it published); deleting that pod (what a rolling upgrade or a
scale-down does: SIGTERM) hands the lease to the other pod, still exactly one."""

from __future__ import annotations

import random
import re

import httpx

from tests.cluster.conftest import NAMESPACE, wait_until
from tests.cluster.test_flow import BASE, psql, wait_success
from tests.cluster.test_scaling import ready_workers, set_pool
from tests.support.release import PortForward

METRICS_PORT = 9808  # worker.metricsPort
LEADER_RE = re.compile(r"^registro_refresh_scheduler_leader (\S+)$", re.MULTILINE)


def open_os_number(rng: random.Random) -> str:
    """An OS the demo shows with an open status (refreshed by the scheduler)."""
    from registro.legacy_demo import data

    while True:
        numero = str(rng.randrange(100_000, 900_000))
        if data.exists(numero) and data.expected_record(numero).os.status not in (
                "Concluída", "Entregue", "Cancelada"):
            return numero


def leader_gauge(cluster, pod: str) -> float | None:
    forward = PortForward(cluster, NAMESPACE, f"pod/{pod}", METRICS_PORT)
    try:
        text = httpx.get(f"{forward.url}/metrics", timeout=10).text
    finally:
        forward.close()
    match = LEADER_RE.search(text)
    return float(match.group(1)) if match else None


def scheduler(api_client) -> dict:
    return api_client.get(f"{BASE}/queue-status").json()["atualizacao_automatica"]


def one_leader(cluster, api_client) -> str | None:
    """The lease holder's pod when exactly one Ready worker pod reports leading and it is
    the one queue-status names; else None."""
    pods = ready_workers(cluster)
    if len(pods) < 2:
        return None
    gauges = {pod: leader_gauge(cluster, pod) for pod in pods}
    leaders = [pod for pod, value in gauges.items() if value == 1.0]
    lider = scheduler(api_client).get("lider")
    if len(leaders) == 1 and lider == f"celery@{leaders[0]}":
        return leaders[0]
    return None


def test_exactly_one_worker_pod_holds_the_refresh_lease(node_cluster, api_client):
    set_pool(node_cluster, minReplicas=2)
    try:
        wait_until(lambda: len(ready_workers(node_cluster)) >= 2, 600, 2,
                   what="two Ready worker pods")
        leader = wait_until(lambda: one_leader(node_cluster, api_client), 120, 2,
                            what="exactly one worker pod holding the lease")
        assert scheduler(api_client)["habilitada"] is True

        # An open OS read 7 h ago (refresh.afterSeconds is 6 h): only the leader refreshes it.
        numero = open_os_number(random.Random())
        task = api_client.post(f"{BASE}/buscar-os-async/{numero}").json()
        wait_success(api_client, task["task_id"])
        psql(node_cluster, "update ordem_servico set scraped_at = now() - interval '7 hours' "
                           f"where numero_os = '{numero}'")
        wait_until(lambda: psql(node_cluster, "select count(*) from ordem_servico where "
                                f"numero_os = '{numero}' and scraped_at > now() - "
                                "interval '1 hour'") == "1",
                   300, 2, what="the background refresh of the OS")
        logs = {pod: node_cluster.kubectl("logs", "-n", NAMESPACE, pod, "-c", "worker",
                                          check=False).stdout
                for pod in ready_workers(node_cluster)}
        published = [pod for pod, text in logs.items()
                     if f"refresh queued numero_os={numero}" in text]
        assert published == [leader], {p: t[-1500:] for p, t in logs.items()}

        # SIGTERM to the leader (a rolling upgrade's or a scale-down's way): another pod
        # leads, and still exactly one.
        node_cluster.kubectl("delete", "pod", leader, "-n", NAMESPACE, "--wait=false")
        wait_until(lambda: (h := scheduler(api_client).get("lider")) and h != f"celery@{leader}",
                   120, 1, what="the lease handed over")
        wait_until(lambda: (pod := one_leader(node_cluster, api_client)) and pod != leader,
                   600, 2, what="exactly one leader among the new set of worker pods")
    finally:
        set_pool(node_cluster, minReplicas=1)
