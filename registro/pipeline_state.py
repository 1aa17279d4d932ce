"""Pipeline state kept in Redis, shared by the API and the workers.

- claim ``registro:claim:<numero_os>``: SET NX by the API, so one OS has at most one
  task queued or running; released by the worker when the task ends.
- task record ``registro:task:<task_id>``: written by the API for every task it
  created, so an unknown task id is a 404 rather than Celery's eternal PENDING. It
  keeps the claim token, so a lost task can be published again with it.
- open tasks ``registro:tasks:open``: sorted set of the recorded tasks that have not
  finished (score: when recorded); the reconciler (``registro.worker.reconciler``)
  publishes again the ones no queue, unacknowledged hash or live worker holds.
- durations ``registro:durations``: the last measured task durations, for the
  queue's time estimate.
- heartbeats ``registro:worker:<hostname>``: one key per live worker, with a TTL;
  their names in the set ``registro:workers`` (read without SCAN).
- suspects ``registro:tasks:suspect``: open tasks nothing held at the reconciler's last
  look, and since when; ``registro:tasks:republished`` counts the ones published again.
- the reconciler's lease ``registro:reconciler:lock`` (a ``registro.leases.Lease``: one
  pass at a time).

Callers use the operations below, never the keys: this module is the one writer of
every ``registro:`` key but the refresh scheduler's (``refresh_state``), the rate
limiters' (``worker/ratelimit.py``, ``api/security.py``) and the API's hot-path scripts,
which read these keys by the names given here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from registro.leases import Lease, release_if_owner
from registro.queue import QueueDepth, depth_keys

CLAIM_PREFIX = "registro:claim:"
TASK_PREFIX = "registro:task:"
DURATIONS_KEY = "registro:durations"
HEARTBEAT_PREFIX = "registro:worker:"
WORKERS_KEY = "registro:workers"  # names of workers that sent a heartbeat
FAILURE_PREFIX = "registro:failure:"
OPEN_TASKS_KEY = "registro:tasks:open"
SUSPECT_KEY = "registro:tasks:suspect"  # task id -> since when nothing holds it
REPUBLISHED_KEY = "registro:tasks:republished"  # counter of tasks published again
RECONCILER_LEASE_KEY = "registro:reconciler:lock"
DURATIONS_KEPT = 50
TASK_RECORD_TTL_S = 7 * 24 * 3600
DEFAULT_DURATION_S = 30.0  # before any task has been measured


def claim_ttl_s(time_limit_s: int, max_retries: int) -> int:
    """Long enough to cover every try at its hard limit plus backoff."""
    return time_limit_s * (max_retries + 1) + 600


def try_claim(client: redis.Redis, numero_os: str, token: str, ttl_s: int) -> bool:
    """Atomic: True for exactly one caller until the claim is released or expires."""
    return bool(client.set(CLAIM_PREFIX + numero_os, token, nx=True, ex=ttl_s))


def release_claim(client: redis.Redis, numero_os: str, token: str | None) -> bool:
    """Release a claim only if it is still the one taken with ``token``."""
    if token is None:
        return False
    return release_if_owner(client, CLAIM_PREFIX + numero_os, token)


def retake_claim(client: redis.Redis, numero_os: str, token: str, ttl_s: int) -> bool:
    """A task published again keeps its claim: taken again with its token if it expired
    meanwhile (False: someone else's claim holds the OS now)."""
    return bool(client.set(CLAIM_PREFIX + numero_os, token, nx=True, ex=ttl_s))


def reconciler_lease(client: redis.Redis, holder: str, ttl_s: float) -> Lease:
    return Lease(client, holder, ttl_s, RECONCILER_LEASE_KEY)


def claim_holder(client: redis.Redis, numero_os: str) -> str | None:
    raw = client.get(CLAIM_PREFIX + numero_os)
    return raw.decode() if isinstance(raw, bytes) else raw


def record_failure(client: redis.Redis, task_id: str, reason: str, message: str, *,
                   evidencia_id: str | None = None) -> None:
    """``evidencia_id``: the failure's evidence bundle in the database, if one was kept."""
    failure = {"reason": reason, "message": message}
    if evidencia_id:
        failure["evidencia_id"] = evidencia_id
    payload = json.dumps(failure)
    client.set(FAILURE_PREFIX + task_id, payload, ex=TASK_RECORD_TTL_S)


def read_failure(client: redis.Redis, task_id: str) -> dict | None:
    raw = client.get(FAILURE_PREFIX + task_id)
    return json.loads(raw) if raw else None


def clear_failure(client: redis.Redis, task_id: str) -> None:
    client.delete(FAILURE_PREFIX + task_id)


def _task_record(numero_os: str, now: float, claim_token: str | None, priority: int,
                 refresh: bool) -> str:
    return json.dumps({"numero_os": numero_os, "created_at": now, "claim_token": claim_token,
                       "priority": priority, "refresh": refresh})


def record_task(client: redis.Redis, task_id: str, numero_os: str,
                claim_token: str | None = None, *, priority: int = 0,
                refresh: bool = False) -> None:
    """Record a task about to be published, and mark it open until it finishes.
    ``priority`` and ``refresh`` are kept so that a task published again keeps its path."""
    now = time.time()
    payload = _task_record(numero_os, now, claim_token, priority, refresh)
    pipe = client.pipeline(transaction=True)
    pipe.set(TASK_PREFIX + task_id, payload, ex=TASK_RECORD_TTL_S)
    pipe.zadd(OPEN_TASKS_KEY, {task_id: now})
    pipe.hdel(SUSPECT_KEY, task_id)
    pipe.execute()


# Claim, record and publish a task in one round trip, atomically (no claim without its
# task). A[10] "claim": only with a live worker (else "no_worker") and a free claim
# (else "already"); "held": the caller holds it. Depth is read before the push.
# K (keys): 1 workers set, 2 claim, 3 task record, 4 open tasks, 5 suspects, 6 failure,
# 7 result, 8 the message's list, 9 durations, 10 unacked hash, 11.. priority lists.
# A (args): 1 heartbeat prefix, 2 token, 3 claim TTL, 4 record, 5 record TTL, 6 now,
# 7 task id, 8 message, 9 durations kept, 10 mode. The API's limiter runs it after its count.
ENQUEUE_BODY = """
local names = redis.call('SMEMBERS', K[1])
local beats, live = {}, 0
for i, name in ipairs(names) do
  beats[i] = redis.call('GET', A[1] .. name)
  if beats[i] then live = live + 1 else redis.call('SREM', K[1], name) end
end
local lengths = {}
for i = 11, #K do lengths[#lengths + 1] = redis.call('LLEN', K[i]) end
local reads = {names, beats, lengths, redis.call('HVALS', K[10]),
               redis.call('LRANGE', K[9], 0, tonumber(A[9]) - 1)}
if A[10] == 'claim' then
  if live == 0 then return {'no_worker', reads} end
  if not redis.call('SET', K[2], A[2], 'NX', 'EX', A[3]) then return {'already', reads} end
end
redis.call('DEL', K[6], K[7])
redis.call('SET', K[3], A[4], 'EX', A[5])
redis.call('ZADD', K[4], A[6], A[7])
redis.call('HDEL', K[5], A[7])
redis.call('LPUSH', K[8], A[8])
return {'queued', reads}
"""
_ENQUEUE = "local K, A = KEYS, ARGV\n" + ENQUEUE_BODY


@dataclass(frozen=True)
class Enqueued:
    """What the enqueue script did and saw: ``outcome`` is "queued", "already" (the
    claim was taken: the same task) or "no_worker"."""

    outcome: str
    workers: int
    slots: int  # parallel scrapes of the live workers
    depth: QueueDepth  # before this task was pushed
    mean_duration_s: float


@dataclass(frozen=True)
class EnqueueCall:
    """The script's keys and arguments: run it with ``.run`` or ``.run_async``."""

    keys: list[str]
    args: list

    def run(self, client: redis.Redis) -> Enqueued:
        return enqueued(client.register_script(_ENQUEUE)(keys=self.keys, args=self.args))

    async def run_async(self, client: aioredis.Redis) -> Enqueued:
        script = client.register_script(_ENQUEUE)
        return enqueued(await script(keys=self.keys, args=self.args))


def enqueue_call(numero_os: str, task_id: str, token: str, *, claim: bool, claim_ttl_s: int,
                 message_key: str, message: str, result_key: str, priority: int,
                 refresh: bool) -> EnqueueCall:
    """``claim``: take the OS's claim with ``token`` (else the caller holds it)."""
    now = time.time()
    record = _task_record(numero_os, now, token, priority, refresh)
    lists, unacked_key = depth_keys()
    keys = [WORKERS_KEY, CLAIM_PREFIX + numero_os, TASK_PREFIX + task_id, OPEN_TASKS_KEY,
            SUSPECT_KEY, FAILURE_PREFIX + task_id, result_key, message_key, DURATIONS_KEY,
            unacked_key, *lists]
    args = [HEARTBEAT_PREFIX, token, claim_ttl_s, record, TASK_RECORD_TTL_S, now, task_id,
            message, DURATIONS_KEPT, "claim" if claim else "held"]
    return EnqueueCall(keys, args)


def enqueued(reply: list) -> Enqueued:
    """The script's reply, read."""
    outcome, (names, beats, lengths, unacked, durations) = reply
    workers, slots, _dead = count_heartbeats(worker_names(names), beats)
    values = [float(v) for v in durations]
    return Enqueued(outcome.decode() if isinstance(outcome, bytes) else outcome,
                    workers, slots, QueueDepth.from_reads(lengths, unacked),
                    sum(values) / len(values) if values else DEFAULT_DURATION_S)


def finish_task(client: redis.Redis, task_id: str) -> None:
    """The task reached SUCCESS or FAILURE: nothing has to publish it again."""
    pipe = client.pipeline(transaction=True)
    pipe.zrem(OPEN_TASKS_KEY, task_id)
    pipe.hdel(SUSPECT_KEY, task_id)
    pipe.execute()


def still_open(client: redis.Redis, task_ids: list[str]) -> list[bool]:
    """For each task id: is it recorded and not finished? One round trip."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.zscore(OPEN_TASKS_KEY, task_id)
    return [score is not None for score in pipe.execute()]


def open_tasks(client: redis.Redis) -> dict[str, float]:
    """Recorded, unfinished tasks and when they were recorded."""
    pairs: list[tuple[bytes | str, float]] = client.zrange(  # type: ignore[assignment]
        OPEN_TASKS_KEY, 0, -1, withscores=True)
    return {(k.decode() if isinstance(k, bytes) else k): float(score) for k, score in pairs}


def read_task(client: redis.Redis, task_id: str) -> dict | None:
    raw = client.get(TASK_PREFIX + task_id)
    return json.loads(raw) if raw else None


def read_tasks(client: redis.Redis, task_ids: list[str],
               result_key: Callable[[str], str]) -> list[tuple[dict | None, str | None]]:
    """For each task id: its record (None: expired) and its stored Celery state (None:
    no result yet); ``result_key`` names the result backend's key of a task."""
    pipe = client.pipeline(transaction=False)
    pipe.mget([TASK_PREFIX + t for t in task_ids])
    pipe.mget([result_key(t) for t in task_ids])
    records, results = pipe.execute()
    return [(json.loads(raw) if raw else None,
             json.loads(result).get("status") if result else None)
            for raw, result in zip(records, results, strict=True)]


# --- suspects: open tasks nothing held at the reconciler's last look ------------------

def suspects(client: redis.Redis) -> dict[str, float]:
    """Suspect task ids and since when (epoch seconds) nothing has held them."""
    return {(k.decode() if isinstance(k, bytes) else k): float(v)
            for k, v in client.hgetall(SUSPECT_KEY).items()}


def update_suspects(client: redis.Redis, new: dict[str, float],
                    cleared: Iterable[str]) -> None:
    """Add the newly missing tasks (an earlier "since" is kept), drop the held again."""
    cleared = list(cleared)
    pipe = client.pipeline(transaction=False)
    for task_id, since in new.items():
        pipe.hsetnx(SUSPECT_KEY, task_id, repr(since))
    if cleared:
        pipe.hdel(SUSPECT_KEY, *cleared)
    pipe.execute()


def clear_suspects(client: redis.Redis) -> None:
    client.delete(SUSPECT_KEY)


def republished(client: redis.Redis, task_id: str) -> None:
    """A suspect task was published again: no longer suspect, counted."""
    pipe = client.pipeline(transaction=False)
    pipe.hdel(SUSPECT_KEY, task_id)
    pipe.incr(REPUBLISHED_KEY)
    pipe.execute()


def republished_count(client: redis.Redis) -> int:
    return int(client.get(REPUBLISHED_KEY) or 0)


def record_duration(client: redis.Redis, seconds: float) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.lpush(DURATIONS_KEY, f"{seconds:.3f}")
    pipe.ltrim(DURATIONS_KEY, 0, DURATIONS_KEPT - 1)
    pipe.execute()


def heartbeat(client: redis.Redis, hostname: str, concurrency: int, ttl_s: float,
              tasks: list[str] | None = None) -> None:
    """``tasks``: ids of the tasks this worker holds (reserved or running)."""
    payload = json.dumps({"concurrency": concurrency, "at": time.time(),
                          "tasks": tasks or []})
    pipe = client.pipeline(transaction=False)
    pipe.set(HEARTBEAT_PREFIX + hostname, payload, px=int(ttl_s * 1000))
    pipe.sadd(WORKERS_KEY, hostname)
    pipe.execute()


def forget_worker(client: redis.Redis, hostname: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.delete(HEARTBEAT_PREFIX + hostname)
    pipe.srem(WORKERS_KEY, hostname)
    pipe.execute()


def _heartbeats(client: redis.Redis) -> tuple[list[str], list]:
    """The names in the workers set and their heartbeats (None: expired): 2 round trips."""
    names = worker_names(client.smembers(WORKERS_KEY))
    return names, (client.mget([HEARTBEAT_PREFIX + n for n in names]) if names else [])


def workers_online(client: redis.Redis) -> tuple[int, int]:
    """(workers, total concurrency) from live heartbeat keys, no SCAN."""
    workers, slots, dead = count_heartbeats(*_heartbeats(client))
    if dead:
        client.srem(WORKERS_KEY, *dead)
    return workers, slots


def worker_names(members: set | list) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else n for n in members]


def count_heartbeats(names: list[str], heartbeats: list) -> tuple[int, int, list[str]]:
    workers = slots = 0
    dead = []
    for name, raw in zip(names, heartbeats, strict=True):
        if raw is None:
            dead.append(name)  # its heartbeat expired: the worker is gone
            continue
        workers += 1
        slots += int(json.loads(raw).get("concurrency", 1))
    return workers, slots, dead


def live_worker_tasks(client: redis.Redis) -> dict[str, list[str]]:
    """Each live worker (its heartbeat has not expired) and the task ids it holds."""
    return {name: list(json.loads(raw).get("tasks", []))
            for name, raw in zip(*_heartbeats(client), strict=True) if raw is not None}


def tasks_held_by_live_workers(client: redis.Redis) -> set[str]:
    """Task ids that live workers report holding in their heartbeats."""
    return {t for tasks in live_worker_tasks(client).values() for t in tasks}
