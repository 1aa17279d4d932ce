"""The task contract and the queue depth the operator scales on.

Shared by the API (which enqueues and exports the depth), the worker (which
consumes) and the operator (which reads the depth from Redis, or the exported metric).

``QueueDepth.from_reads`` is the one computation of the depth. Its inputs come from
the keys of ``depth_keys``: read by ``read_queue_depth`` (a pipeline: the API's metric,
the operator) or inside the API's per-request Lua script (``api/security.py``).

The one place that knows kombu's and Celery's layout in Redis: the queue lists, the
``unacked`` hash and its entries, a message's task id, a task's result key.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis

TASK_NAME = "registro.scrape_os"
QUEUE_NAME = "scraping"
TASK_ID_PREFIX = "scraping_"

# kombu's Redis transport keeps one list per priority step ("<queue>\x06\x16<step>",
# step 0 being the bare queue name) and a hash of delivered-but-unacknowledged
# messages (late acknowledgement keeps a running task there until it finishes).
PRIORITY_STEPS = (0, 3, 6, 9)
PRIORITY_SEP = "\x06\x16"
UNACKED_KEY = "unacked"

# The OpenAPI document declares these (ECMA-262 and Rust regex: '$' is the very end).
NUMERO_OS_PATTERN = r"^[0-9]{1,12}$"
TASK_ID_PATTERN = rf"^{TASK_ID_PREFIX}[0-9]{{1,12}}$"
NUMERO_OS_RE = re.compile(r"^[0-9]{1,12}\Z")


def task_id_for(numero_os: str) -> str:
    return f"{TASK_ID_PREFIX}{numero_os}"


def priority_queue_keys(queue: str = QUEUE_NAME) -> list[str]:
    return [queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]


@dataclass(frozen=True)
class QueueDepth:
    waiting: int  # in Redis, not yet delivered to any worker
    in_progress: int  # delivered to a worker, not yet acknowledged

    @property
    def total(self) -> int:
        return self.waiting + self.in_progress

    @classmethod
    def from_reads(cls, lengths: list, unacked: list, queue: str = QUEUE_NAME) -> QueueDepth:
        """From the ``LLEN`` of each list of ``depth_keys(queue)[0]`` and the ``HVALS`` of
        its ``[1]``: waiting over every priority sub-queue, plus the unacknowledged
        messages routed to ``queue``."""
        return cls(waiting=sum(int(n) for n in lengths),
                   in_progress=count_in_progress(unacked, queue))


def depth_keys(queue: str = QUEUE_NAME) -> tuple[list[str], str]:
    """The lists to ``LLEN`` and the hash to ``HVALS`` for ``QueueDepth.from_reads``."""
    return priority_queue_keys(queue), UNACKED_KEY


def read_queue_depth(client: redis.Redis, queue: str = QUEUE_NAME) -> QueueDepth:
    """The queue's depth, read in one round trip."""
    lists, unacked_key = depth_keys(queue)
    pipe = client.pipeline(transaction=False)
    for key in lists:
        pipe.llen(key)
    pipe.hvals(unacked_key)
    *lengths, unacked = pipe.execute()
    return QueueDepth.from_reads(lengths, unacked, queue)


def _unacked_entry(raw: bytes | str) -> tuple[object, str] | None:
    """(message, routing key) of a value of kombu's ``unacked`` hash:
    ``[message, exchange, routing_key]`` as JSON; None if it is not one."""
    try:
        message, _exchange, routing_key = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return message, routing_key


def count_in_progress(unacked: list, queue: str = QUEUE_NAME) -> int:
    """Unacknowledged messages (values of the ``unacked`` hash) routed to ``queue``."""
    entries = (_unacked_entry(raw) for raw in unacked)
    return sum(1 for e in entries if e is not None and e[1] == queue)


def message_task_id(message: object) -> str | None:
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
    messages = [raw for items in lists for raw in items]
    messages += [e[0] for e in map(_unacked_entry, unacked) if e is not None]
    return {t for t in map(message_task_id, messages) if t}


def priority_queue_key(priority: int, queue: str = QUEUE_NAME) -> str:
    """The list a message of ``priority`` goes to: the highest step not above it."""
    step = max(s for s in PRIORITY_STEPS if s <= max(priority, 0))
    return queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}"


def task_message(celery: Any, task_id: str, kwargs: dict, priority: int) -> tuple[str, str]:
    """(list key, message) of one scrape task, byte for byte what ``send_task`` would
    push through kombu's Redis transport (Celery's protocol 2 from Celery itself, in the
    transport's envelope), built without I/O so that a Lua script can push it in the
    same round trip as the claim. tests/pipeline/test_publishing.py compares the two."""
    # repr, not Celery's saferepr: the same text for these flat kwargs at half the CPU.
    headers, properties, body, _sent = celery.amqp.as_task_v2(
        task_id, TASK_NAME, args=(), kwargs=kwargs, ignore_result=None,
        argsrepr="()", kwargsrepr=repr(kwargs))
    # kombu's json serializer gives the same text for these plain types (and the
    # operator's and demo's images, which import this module, have no kombu).
    data = json.dumps(body).encode()
    envelope = {
        "body": base64.b64encode(data).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            **properties, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": QUEUE_NAME},
            "priority": priority, "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return priority_queue_key(priority), json.dumps(envelope)


def result_key(backend: Any, task_id: str) -> str:
    """The Redis key of a task's result, as the Celery result backend names it (the API
    and the reconciler both ask it here, never spelling Celery's prefix)."""
    key = backend.get_key_for_task(task_id)
    return key.decode() if isinstance(key, bytes) else key
