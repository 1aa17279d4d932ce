"""Which worker runs a task now, so that a second delivery of a running task is not run
twice. Celery redelivers a late-acknowledged task when its worker's broker connection
drops (kombu restores the channel's unacknowledged messages when it closes it: a Redis
restart), while that worker still runs it; another worker then takes the copy.

Owner of ``registro:run:<task id>``: the hostname of the worker running the task. A copy
is dropped while that worker's heartbeat lists the task (waited for a little, as a Redis
restart expires every heartbeat until the next beat); it runs when that worker is gone
or no longer holds the task (its pool process was killed, the hard time limit)."""

from __future__ import annotations

import time

import redis

from registro import pipeline_state as state
from registro.leases import release_if_owner

RUN_PREFIX = "registro:run:"


def running_elsewhere(client: redis.Redis, task_id: str, hostname: str, *, ttl_s: int,
                      wait_live_s: float) -> str | None:
    """The live worker already running ``task_id``; None once it is marked as ours."""
    key = RUN_PREFIX + task_id
    if client.set(key, hostname, nx=True, ex=ttl_s):
        return None
    raw = client.get(key)
    holder = raw.decode() if isinstance(raw, bytes) else raw
    if holder and holder != hostname:
        deadline = time.monotonic() + wait_live_s
        while True:
            if task_id in state.live_worker_tasks(client).get(holder, ()):
                return holder
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    client.set(key, hostname, ex=ttl_s)  # ours: a dead worker's, or our own earlier run
    return None


def run_ended(client: redis.Redis, task_id: str, hostname: str) -> None:
    release_if_owner(client, RUN_PREFIX + task_id, hostname)
