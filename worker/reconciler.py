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

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from registro import pipeline_state as state
from registro.queue import transport_task_ids
from registro.worker.periodic import Periodic

log = logging.getLogger("registro.worker.reconciler")

FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


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


Publish = Callable[[str, str, str | None], None]  # task_id, numero_os, claim_token


class Reconciler:
    """One pass = ``run_once``, under the reconciler's lease (one pass at a time in the
    whole deployment); ``start`` runs passes every ``interval_s`` in a daemon thread.
    ``result_key`` names a task's result in the Celery backend (``queue.result_key``)."""

    def __init__(self, client: redis.Redis, publish: Publish,
                 result_key: Callable[[str], str], *, interval_s: float, grace_s: float,
                 claim_ttl_s: int, holder: str = "worker") -> None:
        self.client = client
        self.publish = publish
        self.result_key = result_key
        self.grace_s = grace_s
        self.claim_ttl_s = claim_ttl_s
        self.lease = state.reconciler_lease(client, holder, max(interval_s * 3, 10))
        self.loop = Periodic("reconciler", self.run_once, interval_s, log, wait_first=True)

    def run_once(self, now: float | None = None) -> Plan | None:
        """None when another worker holds the lease (it reconciles for everyone)."""
        if not self.lease.hold():
            return None
        try:
            return self._pass(time.time() if now is None else now)
        finally:
            self.lease.release()

    def _pass(self, now: float) -> Plan:
        open_ids = list(state.open_tasks(self.client))
        if not open_ids:
            state.clear_suspects(self.client)
            return Plan()
        # Order matters: the transport and the workers first, the results last, so a
        # task finishing in between is seen as finished, never as missing.
        held = transport_task_ids(self.client) | state.tasks_held_by_live_workers(self.client)
        tasks = state.read_tasks(self.client, open_ids, self.result_key)
        records = {t: record for t, (record, _) in zip(open_ids, tasks, strict=True) if record}
        verdicts = {t: verdict(t, record is not None, result_state, held)
                    for t, (record, result_state) in zip(open_ids, tasks, strict=True)}
        decided = plan(verdicts, state.suspects(self.client), now, self.grace_s)
        self._apply(decided, records)
        return decided

    def _apply(self, decided: Plan, records: dict[str, dict]) -> None:
        state.update_suspects(self.client, decided.suspect, decided.cleared)
        for task_id in decided.close:
            record = records.get(task_id)
            state.finish_task(self.client, task_id)
            if record is not None:
                state.release_claim(self.client, record["numero_os"], record.get("claim_token"))
        for task_id in decided.republish:
            record = records[task_id]
            numero_os, token = record["numero_os"], record.get("claim_token")
            if token:  # the claim keeps guarding the task (taken again if it expired)
                state.retake_claim(self.client, numero_os, token, self.claim_ttl_s)
            self.publish(task_id, numero_os, token)
            state.republished(self.client, task_id)
            log.warning("task %s (OS %s) was held by no queue, no unacked entry and no live "
                        "worker for %.0fs: published again", task_id, numero_os, self.grace_s)

    def start(self) -> threading.Thread:
        return self.loop.start()

    def stop(self) -> None:
        self.loop.stop()


def held_ids(requests: Iterable[object]) -> list[str]:
    """Ids of Celery request objects (the worker's reserved and active requests)."""
    ids = []
    for request in list(requests):
        task_id = getattr(request, "id", None)
        if task_id:
            ids.append(str(task_id))
    return ids
