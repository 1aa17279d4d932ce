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
"""

from __future__ import annotations

import json
import math
import time

import redis

CLAIM_PREFIX = "registro:claim:"
TASK_PREFIX = "registro:task:"
DURATIONS_KEY = "registro:durations"
HEARTBEAT_PREFIX = "registro:worker:"
WORKERS_KEY = "registro:workers"  # names of workers that sent a heartbeat
FAILURE_PREFIX = "registro:failure:"
OPEN_TASKS_KEY = "registro:tasks:open"
SUSPECT_KEY = "registro:tasks:suspect"  # task id -> since when nothing holds it
REPUBLISHED_KEY = "registro:tasks:republished"  # counter of tasks published again
DURATIONS_KEPT = 50
TASK_RECORD_TTL_S = 7 * 24 * 3600
DEFAULT_DURATION_S = 30.0  # before any task has been measured


def claim_ttl_s(time_limit_s: int, max_retries: int) -> int:
    """Long enough to cover every try at its hard limit plus backoff."""
    return time_limit_s * (max_retries + 1) + 600


def try_claim(client: redis.Redis, numero_os: str, token: str, ttl_s: int) -> bool:
    """Atomic: True for exactly one caller until the claim is released or expires."""
    return bool(client.set(CLAIM_PREFIX + numero_os, token, nx=True, ex=ttl_s))


_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def release_claim(client: redis.Redis, numero_os: str, token: str | None) -> bool:
    """Release a claim only if it is still the one taken with ``token``."""
    if token is None:
        return False
    return bool(client.eval(_RELEASE_IF_OWNER, 1, CLAIM_PREFIX + numero_os, token))


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


def record_task(client: redis.Redis, task_id: str, numero_os: str,
                claim_token: str | None = None, *, priority: int = 0,
                refresh: bool = False) -> None:
    """Record a task about to be published, and mark it open until it finishes.
    ``priority`` and ``refresh`` are kept so that a task published again keeps its path."""
    now = time.time()
    payload = json.dumps({"numero_os": numero_os, "created_at": now,
                          "claim_token": claim_token, "priority": priority,
                          "refresh": refresh})
    pipe = client.pipeline(transaction=True)
    pipe.set(TASK_PREFIX + task_id, payload, ex=TASK_RECORD_TTL_S)
    pipe.zadd(OPEN_TASKS_KEY, {task_id: now})
    pipe.hdel(SUSPECT_KEY, task_id)
    pipe.execute()


def finish_task(client: redis.Redis, task_id: str) -> None:
    """The task reached SUCCESS or FAILURE: nothing has to publish it again."""
    pipe = client.pipeline(transaction=True)
    pipe.zrem(OPEN_TASKS_KEY, task_id)
    pipe.hdel(SUSPECT_KEY, task_id)
    pipe.execute()


def open_tasks(client: redis.Redis) -> dict[str, float]:
    """Recorded, unfinished tasks and when they were recorded."""
    pairs: list[tuple[bytes | str, float]] = client.zrange(  # type: ignore[assignment]
        OPEN_TASKS_KEY, 0, -1, withscores=True)
    return {(k.decode() if isinstance(k, bytes) else k): float(score) for k, score in pairs}


def read_task(client: redis.Redis, task_id: str) -> dict | None:
    raw = client.get(TASK_PREFIX + task_id)
    return json.loads(raw) if raw else None


def record_duration(client: redis.Redis, seconds: float) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.lpush(DURATIONS_KEY, f"{seconds:.3f}")
    pipe.ltrim(DURATIONS_KEY, 0, DURATIONS_KEPT - 1)
    pipe.execute()


def recent_mean_duration(client: redis.Redis) -> float:
    values = [float(v) for v in client.lrange(DURATIONS_KEY, 0, DURATIONS_KEPT - 1)]
    return sum(values) / len(values) if values else DEFAULT_DURATION_S


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


def workers_online(client: redis.Redis) -> tuple[int, int]:
    """(workers, total concurrency) from live heartbeat keys: two round trips, no SCAN."""
    names = worker_names(client.smembers(WORKERS_KEY))
    if not names:
        return 0, 0
    workers, slots, dead = count_heartbeats(
        names, client.mget([HEARTBEAT_PREFIX + n for n in names]))
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
    names = worker_names(client.smembers(WORKERS_KEY))
    if not names:
        return {}
    held: dict[str, list[str]] = {}
    for name, raw in zip(names, client.mget([HEARTBEAT_PREFIX + n for n in names]),
                         strict=True):
        if raw is not None:
            held[name] = list(json.loads(raw).get("tasks", []))
    return held


def tasks_held_by_live_workers(client: redis.Redis) -> set[str]:
    """Task ids that live workers report holding in their heartbeats."""
    return {t for tasks in live_worker_tasks(client).values() for t in tasks}


def estimate_seconds(depth: int, slots: int, mean_duration_s: float) -> tuple[float, float]:
    """Best and worst case until a new task finishes: it waits for ``depth`` tasks
    spread over ``slots`` parallel scrapes, then runs for one duration."""
    slots = max(slots, 1)
    rounds_ahead = depth / slots
    best = mean_duration_s * (1 + math.floor(rounds_ahead))
    worst = mean_duration_s * (1 + math.ceil(rounds_ahead)) * 1.5
    return best, worst


def humanize_range(best_s: float, worst_s: float) -> str:
    """Portuguese, like the guide's "2-5 minutos"."""
    if worst_s < 90:
        return f"{max(1, round(best_s))}-{max(2, round(worst_s))} segundos"
    lo, hi = max(1, round(best_s / 60)), max(2, math.ceil(worst_s / 60))
    return f"{lo}-{max(hi, lo + 1)} minutos"
