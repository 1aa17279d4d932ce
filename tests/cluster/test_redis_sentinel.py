"""Sentinel mode in real pods: a second release (``redis.sentinel.enabled=true``) in a
namespace of its own, next to the session's; with lookups in flight the master's pod is
deleted. A replica is promoted; every lookup ends SUCCESS, none is lost or stored
twice; the test prints how long no master could be written (a SET through the API pod's
own Sentinel-aware client) and what the API answered meanwhile.

The release keeps Redis and PostgreSQL in emptyDirs (the storage stand-in's two volumes
belong to the session's release): a deleted pod comes back empty, which is the case the
chart's start script guards (it waits for the Sentinels' failover instead of coming back
as an empty master the replicas would copy)."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import time

import pytest

from tests.cluster.conftest import wait_until
from tests.cluster.test_flow import BASE
from tests.cluster.test_redis_restart import start_lookups, tally, until_success
from tests.support import release

NS = "registro-sentinel"
REL = release.RELEASE
MASTER_NAME = "registro"
VALUES = [*release.INSTALL_VALUES, "--set", "redis.sentinel.enabled=true",
          "--set", "redis.persistence.enabled=false",
          "--set", "postgresql.persistence.enabled=false"]
PROBE = ("from registro.redis_clients import sync_client\n"
         "from registro.settings import get_settings\n"
         "c = sync_client(get_settings(), socket_timeout=1, socket_connect_timeout=1)\n"
         "print(c.set('registro:test:sentinel', '1', ex=60))\n")


def kubectl(cluster, *args: str, check: bool = True, timeout: float = 60):
    return cluster.kubectl(*args, check=check, timeout=timeout)


def sentinel_master(cluster) -> str | None:
    """The pod the Sentinels name master (asked of any pod's Sentinel that answers)."""
    for i in range(3):
        out = kubectl(cluster, "exec", "-n", NS, f"{REL}-redis-{i}", "-c", "sentinel", "--",
                      "redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name",
                      MASTER_NAME, check=False, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0].split(".")[0]
    return None


def role(cluster, pod: str) -> str | None:
    out = kubectl(cluster, "exec", "-n", NS, pod, "-c", "redis", "--", "redis-cli", "role",
                  check=False, timeout=20)
    return out.stdout.split()[0] if out.returncode == 0 and out.stdout.strip() else None


def writable(cluster, seen: dict) -> bool:
    """A SET through the API pod's own Sentinel-aware client (``seen``: its last output,
    for a timeout's message)."""
    out = kubectl(cluster, "exec", "-n", NS, f"deploy/{REL}-api", "-c", "api", "--",
                  "python", "-c", PROBE, check=False, timeout=30)
    seen["probe"] = (out.stdout + out.stderr).strip()[-300:]
    return out.returncode == 0 and out.stdout.strip() == "True"


def demo(cluster, path: str, method: str = "GET", body: dict | None = None) -> dict:
    script = ("import os, httpx\n"
              "h = {'Authorization': 'Bearer ' + os.environ['REGISTRO_DEMO_ADMIN_TOKEN']}\n"
              f"r = httpx.request({method!r}, 'http://127.0.0.1:8080{path}', headers=h,"
              f" json={body!r}, timeout=10)\nprint(r.text)\n")
    return json.loads(kubectl(cluster, "exec", "-n", NS, f"deploy/{REL}-legacy-demo", "--",
                              "python", "-c", script).stdout)


def stored(cluster, numero: str) -> str:
    return kubectl(cluster, "exec", "-n", NS, f"statefulset/{REL}-postgresql", "--", "psql",
                   "-U", "registro", "-d", "registro", "-tAc",
                   f"select count(*) from ordem_servico where numero_os = '{numero}'"
                   ).stdout.strip()


def switch_master_at(cluster, pod: str) -> dt.datetime | None:
    """When ``pod``'s Sentinel logged the last ``+switch-master`` (its log's UTC clock,
    the host's)."""
    log = kubectl(cluster, "logs", "-n", NS, pod, "-c", "sentinel", check=False).stdout
    lines = [ln for ln in log.splitlines() if "+switch-master" in ln]
    if not lines:
        return None
    stamp = " ".join(lines[-1].split()[1:5])  # "1:X 07 Dec 2026 05:11:21.892 # ..."
    return dt.datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").replace(tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sentinel_release(node_cluster, helm, registro_release):
    """The second release (the images are in containerd already: the session's)."""
    kubectl(node_cluster, "create", "namespace", NS, check=False)
    t0 = time.monotonic()
    try:
        helm("install", REL, str(release.CHART), "-n", NS, *VALUES, "--wait",
             "--timeout", "15m", timeout=960)
        wait_until(lambda: release.settled(node_cluster, NS), 600, 2,
                   what="every pod of the Sentinel release Ready")
        print(f"\n[sentinel-pods] installed in {time.monotonic() - t0:.1f} s")
        secret = json.loads(kubectl(node_cluster, "get", "secret", f"{REL}-secrets", "-n", NS,
                                    "-o", "json").stdout)
        key = base64.b64decode(secret["data"]["api-keys"]).decode().split(",")[0]
        client = release.ForwardedClient(node_cluster, NS, f"svc/{REL}-api", 80,
                                         headers={"Authorization": f"Bearer {key}"})
        try:
            yield client
        finally:
            client.close()
    finally:
        # The pre-delete hook releases the pool; the pods and the namespace then go in the
        # background (waiting for them took minutes of the tier; the uninstall itself is
        # proven by test_zy_uninstall, and test_zz_stop finds anything left on the host).
        t1 = time.monotonic()
        helm("uninstall", REL, "-n", NS, "--timeout", "5m", check=False)
        kubectl(node_cluster, "delete", "namespace", NS, "--wait=false", check=False)
        print(f"\n[sentinel-pods] uninstall started in {time.monotonic() - t1:.1f} s")


def test_master_pod_deleted_a_replica_takes_over_and_nothing_is_lost(node_cluster,
                                                                     sentinel_release):
    cluster, api = node_cluster, sentinel_release
    old = wait_until(lambda: sentinel_master(cluster), 120, 1, what="the Sentinels' master")
    roles = {f"{REL}-redis-{i}": role(cluster, f"{REL}-redis-{i}") for i in range(3)}
    assert sorted(roles.values()) == ["master", "slave", "slave"] and roles[old] == "master", \
        roles
    during: collections.Counter[str] = collections.Counter()
    lost: dict[str, str] = {}
    reposted: dict[str, str] = {}
    try:
        tasks, searches0 = start_lookups(api, lambda *a: demo(cluster, *a))
        numeros = sorted(tasks)
        t0, deleted_at = time.monotonic(), dt.datetime.now(dt.UTC)
        kubectl(cluster, "delete", "pod", old, "-n", NS, "--wait=false")
        failed: list[float] = []
        seen: dict[str, str | None] = {}

        def promoted() -> str | None:
            tally(api, tasks, during, post=numeros[-1])
            if not writable(cluster, seen):
                failed[:] = failed or [time.monotonic() - t0]
                return None
            new = seen["master"] = sentinel_master(cluster)
            return new if new not in (None, old) else None

        try:
            new = wait_until(promoted, 300, 0.3, what="a promoted replica written through")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast probe and master: {seen}") from None
        no_master_s = time.monotonic() - t0
        switched = switch_master_at(cluster, new)

        until_success(api, tasks, lost, reposted)
        done_s = time.monotonic() - t0
        # the deleted pod comes back as a replica of the promoted one
        wait_until(lambda: role(cluster, old) == "slave", 300, 2,
                   what=f"{old} back as a replica")
        rejoined_s = time.monotonic() - t0
    finally:
        demo(cluster, "/_demo/faults", "POST", {"slow_os_ms": 0})
    rows = {n: stored(cluster, n) for n in numeros}
    second = {n: api.post(f"{BASE}/buscar-os-async/{n}").json()["status"] for n in numeros}
    pool = json.loads(kubectl(cluster, "get", "scraperpool", REL, "-n", NS, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in pool["status"].get("conditions", [])}
    result = {"old_master": old, "new_master": new, "lookups": len(numeros),
              "no_writable_master_s": round(no_master_s, 1),
              "switch_master_after_s": round((switched - deleted_at).total_seconds(), 1)
              if switched else None,
              "first_failed_write_s": round(failed[0], 1) if failed else None,
              "all_success_s": round(done_s, 1), "old_master_replica_again_s":
              round(rejoined_s, 1), "api_answers_during_failover": dict(during),
              "lost": lost, "reposted": reposted, "stored_rows": rows, "second_lookup": second,
              "searches": demo(cluster, "/_demo/stats")["searches"] - searches0,
              "pool_conditions": conditions}
    print(f"\n[sentinel-pods] {json.dumps(result)}")
    assert lost == {}, result
    assert set(rows.values()) == {"1"}, result
    assert set(second.values()) == {"found_existing"}, result
    assert result["searches"] == len(numeros), result
    # the operator reads the queue through the Sentinels too
    assert conditions.get("MetricsAvailable") == "True", result
