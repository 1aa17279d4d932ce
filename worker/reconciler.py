"""Every task the API recorded finishes or is published again.

Where a task's message can be (kombu's Redis transport, ``kombu/transport/redis.py``):
the API LPUSHes it to the list ``scraping``; a worker takes it with BRPOP, which removes
it from Redis, and only then writes it to the ``unacked`` hash (with ``unacked_index``);
late acknowledgement deletes it from there when the task ends. Between the BRPOP and
that HSET the message exists only in the worker's memory: milliseconds normally, but
unbounded when the worker is frozen (SIGSTOP, a paused container, swapping), and lost
for good if Redis dies meanwhile or the worker never resumes. kombu's visibility
timeout only restores what reached ``unacked``.

So the guarantee is kept end to end, above the transport: the API records each task in
``registro:tasks:open`` before publishing it; the worker removes it when the task
reaches SUCCESS or FAILURE. Every ``reconcile_interval_s`` one worker (whichever holds
the Redis lock) compares the open tasks with one atomic snapshot of the queue lists and
the ``unacked`` hash, and with the task ids that live workers list in their heartbeats.
A task held by none of them for ``reconcile_grace_s`` is published again with its claim
token. A task that finished but is still open (its worker died between storing the
result and closing it) is closed and its claim released. Hence the bound: a lost task
is published again at most ``reconcile_grace_s + reconcile_interval_s`` (15 + 5 s by
default) after it was lost, counted from when Redis and one worker are up.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from registro import pipeline_state as state
from registro.queue import QUEUE_NAME, UNACKED_KEY, priority_queue_keys

log = logging.getLogger("registro.worker.reconciler")

LOCK_KEY = "registro:reconciler:lock"
RESULT_PREFIX = "celery-task-meta-"  # Celery's Redis result backend key
FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Verdict(StrEnum):
    HELD = "held"  # in a queue list, in unacked, or reported by a live worker
    FINISHED = "finished"  # SUCCESS/FAILURE stored: close it, release its claim
    FORGOTTEN = "forgotten"  # its record expired: nothing to do but drop it
    MISSING = "missing"  # recorded, unfinished, held by nothing


def verdict(task_id: str, has_record: bool, result_state: str | None,
            held: set[str]) -> Verdict:
    if not has_record:
        return Verdict.FORGOTTEN
    if result_state in FINAL_STATES:
        return Verdict.FINISHED
    if task_id in held:
        return Verdict.HELD
    return Verdict.MISSING


@dataclass
class Plan:
    republish: list[str] = field(default_factory=list)
    close: list[str] = field(default_factory=list)  # finished or forgotten
    suspect: dict[str, float] = field(default_factory=dict)  # newly missing: since now
    cleared: list[str] = field(default_factory=list)  # were suspect, held again


def plan(verdicts: dict[str, Verdict], suspects: dict[str, float], now: float,
         grace_s: float) -> Plan:
    """Pure decision: republish what has been missing for ``grace_s`` or longer."""
    out = Plan()
    for task_id, v in verdicts.items():
        if v in (Verdict.FINISHED, Verdict.FORGOTTEN):
            out.close.append(task_id)
        elif v is Verdict.HELD:
            if task_id in suspects:
                out.cleared.append(task_id)
        elif task_id not in suspects:
            out.suspect[task_id] = now
        elif now - suspects[task_id] >= grace_s:
            out.republish.append(task_id)
    return out


def _task_id_of(message: object) -> str | None:
    """The task id of a kombu message body (Celery protocol 2 keeps it in headers)."""
    if isinstance(message, (bytes, str)):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    if not isinstance(message, dict):
        return None
    headers = message.get("headers") or {}
    props = message.get("properties") or {}
    return headers.get("id") or props.get("correlation_id")


def transport_task_ids(client: redis.Redis, queue: str = QUEUE_NAME) -> set[str]:
    """Task ids in the queue lists or the unacked hash, read in one MULTI (atomic), so a
    message moving from one to the other is never missed."""
    pipe = client.pipeline(transaction=True)
    for key in priority_queue_keys(queue):
        pipe.lrange(key, 0, -1)
    pipe.hvals(UNACKED_KEY)
    *lists, unacked = pipe.execute()
    ids = {_task_id_of(raw) for items in lists for raw in items}
    for raw in unacked:
        try:
            message, _exchange, _routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        ids.add(_task_id_of(message))
    ids.discard(None)
    return ids  # type: ignore[return-value]


def _decode(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


Publish = Callable[[str, str, str | None], None]  # task_id, numero_os, claim_token


class Reconciler:
    """One pass = ``run_once``; ``start`` runs passes in a daemon thread."""

    def __init__(self, client: redis.Redis, publish: Publish, *, interval_s: float,
                 grace_s: float, claim_ttl_s: int) -> None:
        self.client = client
        self.publish = publish
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.claim_ttl_s = claim_ttl_s
        self._stop = threading.Event()

    def run_once(self, now: float | None = None) -> Plan | None:
        """None when another worker holds the lock (it reconciles for everyone)."""
        token = secrets.token_hex(8)
        lock_ms = int(max(self.interval_s * 3, 10) * 1000)
        if not self.client.set(LOCK_KEY, token, nx=True, px=lock_ms):
            return None
        try:
            return self._pass(time.time() if now is None else now)
        finally:
            self.client.eval(_RELEASE_LOCK, 1, LOCK_KEY, token)

    def _pass(self, now: float) -> Plan:
        open_ids = list(state.open_tasks(self.client))
        if not open_ids:
            self.client.delete(state.SUSPECT_KEY)
            return Plan()
        # Order matters: the transport and the workers first, the results last, so a
        # task finishing in between is seen as finished, never as missing.
        held = transport_task_ids(self.client) | state.tasks_held_by_live_workers(self.client)
        records = self.client.mget([state.TASK_PREFIX + t for t in open_ids])
        results = self.client.mget([RESULT_PREFIX + t for t in open_ids])
        suspects = {str(_decode(k)): float(v) for k, v in
                    self.client.hgetall(state.SUSPECT_KEY).items()}
        parsed: dict[str, dict] = {}
        verdicts: dict[str, Verdict] = {}
        for task_id, raw_record, raw_result in zip(open_ids, records, results, strict=True):
            result_state = json.loads(raw_result).get("status") if raw_result else None
            if raw_record:
                parsed[task_id] = json.loads(raw_record)
            verdicts[task_id] = verdict(task_id, raw_record is not None, result_state, held)
        decided = plan(verdicts, suspects, now, self.grace_s)
        self._apply(decided, parsed)
        return decided

    def _apply(self, decided: Plan, records: dict[str, dict]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for task_id, since in decided.suspect.items():
            pipe.hsetnx(state.SUSPECT_KEY, task_id, repr(since))
        if decided.cleared:
            pipe.hdel(state.SUSPECT_KEY, *decided.cleared)
        pipe.execute()
        for task_id in decided.close:
            record = records.get(task_id)
            state.finish_task(self.client, task_id)
            if record is not None:
                state.release_claim(self.client, record["numero_os"], record.get("claim_token"))
        for task_id in decided.republish:
            record = records[task_id]
            numero_os, token = record["numero_os"], record.get("claim_token")
            if token:  # the claim keeps guarding the task (taken again if it expired)
                self.client.set(state.CLAIM_PREFIX + numero_os, token, nx=True,
                                ex=self.claim_ttl_s)
            self.publish(task_id, numero_os, token)
            self.client.hdel(state.SUSPECT_KEY, task_id)
            self.client.incr(state.REPUBLISHED_KEY)
            log.warning("task %s (OS %s) was held by no queue, no unacked entry and no live "
                        "worker for %.0fs: published again", task_id, numero_os, self.grace_s)

    def start(self) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self._loop, name="registro-reconciler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except redis.RedisError as exc:
                log.info("reconciler pass skipped: %s", exc)
            except Exception:
                log.exception("reconciler pass failed")


def held_ids(requests: Iterable[object]) -> list[str]:
    """Ids of Celery request objects (the worker's reserved and active requests)."""
    ids = []
    for request in list(requests):
        task_id = getattr(request, "id", None)
        if task_id:
            ids.append(str(task_id))
    return ids
