"""The single Redis pod is deleted with lookups in flight, gracefully and then forced
(``--grace-period=0 --force``), and (``REGISTRO_REDIS_RESTART_MODES``) its redis-server
SIGKILLed from the host (the kubelet restarts the container in the same pod): every
lookup still ends SUCCESS and every OS is stored exactly once.

A killed process loses no acknowledged write with ``appendfsync everysec``: Redis
write()s the AOF before it replies, so the kernel holds it; everysec only bounds what a
crash of the node itself loses (1 s), which no test here provokes.

The demo legacy system is slowed so that one lookup is being scraped and the others
wait in the queue when Redis goes. While Redis is away the test keeps asking the API
for each task's status (and re-posts one lookup), records what it answered, and
measures how long Redis could not be written through its Service (a SET from the API
pod, every probe a new connection). A status answered 404 afterwards (the API's task
record did not survive) is counted as lost and the lookup posted again, as a client
would; the test fails on it, so a loss is never hidden by the retry.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import NAMESPACE, RELEASE, demo_admin, wait_until
from tests.cluster.test_flow import BASE, existing_os_number, psql

LOOKUPS = 4
# Each OS page and its data wait this long: ~7 s per scrape, so the queue of LOOKUPS
# outlasts the outage (measured 10-20 s, see the test's printout).
SLOW_OS_MS = 3000
REDIS_POD = f"{RELEASE}-redis-0"
PROBE = ("import os, redis\n"
         "r = redis.Redis.from_url(os.environ['REDIS_URL'], socket_timeout=1,"
         " socket_connect_timeout=1)\n"
         "print(r.set('registro:test:redis-restart', '1', ex=60))\n")


def redis_writable(cluster) -> bool:
    """A SET through the Redis Service from the API pod (its REDIS_URL, password and
    network policy): what the API itself can do."""
    out = cluster.kubectl("exec", "-n", NAMESPACE, f"deploy/{RELEASE}-api", "-c", "api",
                          "--", "python", "-c", PROBE, check=False, timeout=30)
    return out.returncode == 0 and out.stdout.strip() == "True"


def redis_pod_uid(cluster) -> str | None:
    out = cluster.kubectl("get", "pod", REDIS_POD, "-n", NAMESPACE, "-o",
                          "jsonpath={.metadata.uid}", check=False)
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def redis_restarts(cluster) -> int:
    out = cluster.kubectl("get", "pod", REDIS_POD, "-n", NAMESPACE, "-o",
                          "jsonpath={.status.containerStatuses[0].restartCount}", check=False)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else -1


def kill_redis_server(cluster) -> int:
    """SIGKILL the Redis pod's redis-server from the host (inside the pod it is PID 1,
    which ignores signals sent from its own namespace). Found by the pod's UID in its
    cgroup path (``pod<uid>`` or, with the systemd driver, underscores)."""
    uid = redis_pod_uid(cluster)
    assert uid, "no Redis pod"
    marks = (uid, uid.replace("-", "_"))
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "redis-server":
                continue
            if any(m in (proc / "cgroup").read_text() for m in marks):
                os.kill(int(proc.name), signal.SIGKILL)
                return int(proc.name)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    raise AssertionError(f"no redis-server process in the cgroup of pod {uid}")


def answer(response) -> str:
    """``<code>`` plus the task's status or the error's code, for the outage's tally."""
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code)
    detail = body.get("status") or str(body.get("detail", ""))[:60]
    return f"{response.status_code} {detail}".strip()


def start_lookups(api_client, admin) -> tuple[dict[str, str], int]:
    """Slow the demo (``admin``: its admin API), queue LOOKUPS new OS and return once
    the first reached the legacy system: ``({numero: task_id}, searches before)``."""
    numeros = sorted({existing_os_number(random.Random()) for _ in range(LOOKUPS)})
    admin("/_demo/faults", "POST", {"slow_os_ms": SLOW_OS_MS})
    searches0 = admin("/_demo/stats")["searches"]
    tasks = {}
    for numero in numeros:
        r = api_client.post(f"{BASE}/buscar-os-async/{numero}", idempotent=True)
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
        tasks[numero] = r.json()["task_id"]
    wait_until(lambda: admin("/_demo/stats")["searches"] > searches0, 180, 0.5,
               what="the first lookup reached the legacy system")
    return tasks, searches0


def tally(api_client, tasks: dict[str, str], during: collections.Counter[str],
          post: str | None = None) -> None:
    """Count what the API answers now for each task's status (and a POST of ``post``)."""
    for task_id in tasks.values():
        during[answer(api_client.get(f"{BASE}/scraping-status/{task_id}"))] += 1
    if post is not None:
        r = api_client.post(f"{BASE}/buscar-os-async/{post}", idempotent=True)
        during[f"POST {answer(r)}"] += 1


def until_success(api_client, tasks: dict[str, str], lost: dict[str, str],
                  reposted: dict[str, str]) -> None:
    """Every task to SUCCESS. A 404 (its record is gone) or a FAILURE goes to ``lost``
    and the lookup is posted again, as a client would (``reposted``: the answer)."""
    def finished(numero: str) -> bool:
        r = api_client.get(f"{BASE}/scraping-status/{tasks[numero]}")
        status = r.json().get("status") if r.status_code == 200 else None
        if r.status_code == 404 or status == "FAILURE":
            lost[numero] = answer(r)
            again = api_client.post(f"{BASE}/buscar-os-async/{numero}", idempotent=True)
            reposted[numero] = answer(again)
            if again.json().get("status") == "found_existing":
                return True
            tasks[numero] = again.json()["task_id"]
            return False
        return status == "SUCCESS"

    for numero in list(tasks):
        wait_until(lambda n=numero: finished(n), 600, 1,
                   what=f"OS {numero} ({tasks[numero]}) SUCCESS")


def scenario(cluster, api_client, *, mode: str) -> dict:
    during: collections.Counter[str] = collections.Counter()
    reposted: dict[str, str] = {}
    lost: dict[str, str] = {}
    try:
        tasks, searches0 = start_lookups(
            api_client, lambda *a: demo_admin(cluster, *a))
        numeros = sorted(tasks)
        uid, restarts = redis_pod_uid(cluster), redis_restarts(cluster)
        t0 = time.monotonic()
        if mode == "killed":
            kill_redis_server(cluster)
        else:
            extra = ["--grace-period=0", "--force"] if mode == "forced" else []
            cluster.kubectl("delete", "pod", REDIS_POD, "-n", NAMESPACE, "--wait=false",
                            *extra)
        first_failure: list[float] = []

        def restarted() -> bool:
            if mode == "killed":  # the same pod, its container started again
                return redis_restarts(cluster) > restarts
            return redis_pod_uid(cluster) not in (None, uid)

        def back() -> bool:
            tally(api_client, tasks, during, post=numeros[-1])
            if not redis_writable(cluster):
                first_failure[:] = first_failure or [time.monotonic() - t0]
                return False
            # a write that lands on the old process before it stops does not count
            return restarted()

        wait_until(back, 300, 0.3, what="Redis writable again through its Service")
        unwritable_s = time.monotonic() - t0

        until_success(api_client, tasks, lost, reposted)
        done_s = time.monotonic() - t0
    finally:
        demo_admin(cluster, "/_demo/faults", "POST", {"slow_os_ms": 0})
    stored = {n: psql(cluster, "select count(*) from ordem_servico "
                               f"where numero_os = '{n}'") for n in numeros}
    found = {n: api_client.post(f"{BASE}/buscar-os-async/{n}", idempotent=True)
             .json()["status"] for n in numeros}
    return {"mode": mode, "lookups": len(numeros),
            "unwritable_s": round(unwritable_s, 1),
            "first_failed_probe_s": round(first_failure[0], 1) if first_failure else None,
            "all_success_s": round(done_s, 1),
            "api_answers_during_outage": dict(during), "lost": lost,
            "reposted": reposted, "stored_rows": stored, "second_lookup": found,
            "searches": demo_admin(cluster, "/_demo/stats")["searches"] - searches0}


# The two deletions by default; the host-side SIGKILL (about a minute more of
# the cluster tier, the slowest of make test's lanes) with
# REGISTRO_REDIS_RESTART_MODES=graceful,forced,killed.
MODES = os.environ.get("REGISTRO_REDIS_RESTART_MODES", "graceful,forced").split(",")


@pytest.mark.parametrize("mode", MODES)
def test_redis_pod_deleted_with_lookups_in_flight_loses_nothing(request, node_cluster,
                                                                api_client, mode):
    if mode == "killed":
        request.getfixturevalue("own_cluster")  # the host's processes are ours to signal
    result = scenario(node_cluster, api_client, mode=mode)
    print(f"\n[redis-restart] {json.dumps(result)}")
    assert result["lost"] == {}, result
    assert set(result["stored_rows"].values()) == {"1"}, result
    assert set(result["second_lookup"].values()) == {"found_existing"}, result
    # each OS scraped once: none redone after the restart
    assert result["searches"] == result["lookups"], result
