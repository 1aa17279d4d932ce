"""Claiming an OS and publishing its one scrape task, for every path that scrapes.

The API (user lookups) and the background refresh (``registro.worker.refresh``) both
go through here, with the same claim (``registro:claim:<numero_os>``, SET NX) and the
same task id (``scraping_<numero_os>``): a user lookup and a refresh never scrape the
same OS twice at once, and whoever comes second gets the task already there.

``priority`` is kombu's Redis priority: 0 is served first, 9 last (the transport keeps
one list per step, ``registro.queue.PRIORITY_STEPS``, and a worker pops the lists in
that order). User lookups publish at 0, refreshes at 9.
"""

from __future__ import annotations

import datetime as dt
import secrets

import redis
from celery import Celery

from registro import pipeline_state as state
from registro.queue import result_key, task_id_for, task_message
from registro.settings import Settings

USER_PRIORITY = 0
REFRESH_PRIORITY = 9


def claim(client: redis.Redis, settings: Settings, numero_os: str) -> str | None:
    """Take the OS's claim: its token, or None when a lookup or refresh already holds it."""
    token = secrets.token_hex(16)
    ttl = state.claim_ttl_s(settings.task_time_limit_s, settings.task_max_retries)
    return token if state.try_claim(client, numero_os, token, ttl) else None


def task_kwargs(numero_os: str, claim_token: str | None, *, refresh: bool,
                replaces_read_at: dt.datetime | None = None) -> dict:
    """The scrape task's keyword arguments; ``refresh`` and ``replaces_read_at`` only
    when given, so a user lookup's message is the same as before they existed.
    ``replaces_read_at``: the ``lido_em`` of the stale record this task refreshes; the
    task does not scrape again when the stored record was read after it."""
    kwargs: dict = {"numero_os": numero_os, "claim_token": claim_token}
    if refresh:
        kwargs["refresh"] = True
    if replaces_read_at is not None:
        kwargs["replaces_read_at"] = replaces_read_at.isoformat()
    return kwargs


def _enqueue_call(celery: Celery, numero_os: str, token: str, *, claim_ttl_s: int | None,
                  priority: int, refresh: bool, replaces_read_at: dt.datetime | None = None
                  ) -> state.EnqueueCall:
    """``claim_ttl_s``: take the claim for that long (None: the caller holds it)."""
    task_id = task_id_for(numero_os)
    kwargs = task_kwargs(numero_os, token, refresh=refresh, replaces_read_at=replaces_read_at)
    message_key, message = task_message(celery, task_id, kwargs, priority)
    return state.enqueue_call(
        numero_os, task_id, token, claim=claim_ttl_s is not None,
        claim_ttl_s=claim_ttl_s or 0, message_key=message_key, message=message,
        result_key=result_key(celery.backend, task_id), priority=priority, refresh=refresh)


def new_task_call(celery: Celery, settings: Settings, numero_os: str, *,
                  priority: int = USER_PRIORITY, refresh: bool = False,
                  replaces_read_at: dt.datetime | None = None) -> state.EnqueueCall:
    """A lookup's one round trip, to run (``.run_async``) or to hand to the API's rate
    limiter: with a live worker, take the OS's claim and publish its task, or find the
    task already there (``Enqueued.outcome``). ``replaces_read_at``: see
    :func:`task_kwargs`."""
    ttl = state.claim_ttl_s(settings.task_time_limit_s, settings.task_max_retries)
    return _enqueue_call(celery, numero_os, secrets.token_hex(16), claim_ttl_s=ttl,
                         priority=priority, refresh=refresh,
                         replaces_read_at=replaces_read_at)


def publish_claimed(client: redis.Redis, celery: Celery, numero_os: str, token: str, *,
                    priority: int, refresh: bool = False) -> str:
    """Record and publish the task of an OS whose claim ``token`` the caller holds; its
    task id. On an error the claim is released and the error raised."""
    try:
        _enqueue_call(celery, numero_os, token, claim_ttl_s=None, priority=priority,
                      refresh=refresh).run(client)
    except Exception:
        state.release_claim(client, numero_os, token)
        raise
    return task_id_for(numero_os)
