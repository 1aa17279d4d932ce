"""The background refresh: open OS are read again, oldest first, after REFRESH_AFTER_S.

Every worker's main process runs a ``RefreshScheduler`` thread, but only the holder of
the Redis lease (``registro.refresh_state.refresh_lease``) acts, so there is one scheduler in the
whole deployment however many workers run (worker/README.md says why it stays single
across restarts, scale-ups and rolling upgrades). Each pass of the leader:

1. drops from the in-flight set the refresh tasks that finished;
2. counts the open records (status not in REFRESH_CLOSED_STATUSES) and the oldest one's
   last read (metrics, queue-status);
3. selects the open OS last read before now - REFRESH_AFTER_S, oldest first, and for each
   until REFRESH_MAX_IN_FLIGHT refreshes are in flight: takes the OS's claim (the same one
   user lookups take: an OS a user is looking up is passed over, counted ``claimed``),
   takes a token from the refreshes' own bucket (none: the pass stops, counted
   ``budget``; it never waits), and publishes the scrape task at priority 9 with
   ``refresh=True``. The task takes its global token like any scrape.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from registro import pipeline_state as state
from registro import publishing, refresh_state
from registro.db import session_scope
from registro.models import OrdemServico
from registro.queue import task_id_for
from registro.refresh_state import SchedulerStatus
from registro.settings import Settings
from registro.worker import metrics
from registro.worker.periodic import Periodic
from registro.worker.ratelimit import GlobalRateLimiter, refresh_limiter

log = logging.getLogger("registro.worker.refresh")

# (numero_os, claim_token) -> task id; raises when publishing fails
Publish = Callable[[str, str], str]


def _open(closed_statuses: list[str]) -> ColumnElement[bool]:
    if not closed_statuses:
        return true()
    return or_(OrdemServico.status.is_(None), OrdemServico.status.not_in(closed_statuses))


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite keeps no zone; every stored time is UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def open_records(session: Session, closed_statuses: list[str]) -> tuple[int, float | None]:
    """(open records, epoch of the oldest one's last read)."""
    count, oldest = session.execute(
        select(func.count(OrdemServico.id), func.min(OrdemServico.scraped_at))
        .where(_open(closed_statuses))).one()
    return int(count), _epoch(oldest)


def due_for_refresh(session: Session, closed_statuses: list[str], read_before: dt.datetime,
                    limit: int) -> list[str]:
    """Open OS last read before ``read_before`` (never read first), oldest first."""
    if limit <= 0:
        return []
    rows = session.scalars(
        select(OrdemServico.numero_os)
        .where(_open(closed_statuses),
               or_(OrdemServico.scraped_at.is_(None), OrdemServico.scraped_at < read_before))
        .order_by(OrdemServico.scraped_at.asc().nulls_first(), OrdemServico.id)
        .limit(limit))
    return list(rows)


@dataclass
class PassResult:
    enqueued: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    open_records: int = 0
    oldest_read_at: float | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        metrics.REFRESH_SKIPPED.labels(reason).inc()


class RefreshScheduler:
    """``run_once`` is one tick (None when another worker holds the lease); ``start``
    ticks in a daemon thread every third of the lease TTL (at most every
    REFRESH_INTERVAL_S), and runs a pass every REFRESH_INTERVAL_S while leader."""

    def __init__(self, client: redis.Redis, settings: Settings, holder: str,
                 publish: Publish, *, limiter: GlobalRateLimiter | None = None) -> None:
        self.client = client
        self.settings = settings
        self.publish = publish
        self.lease = refresh_state.refresh_lease(client, holder, settings.refresh_lease_ttl_s)
        self.limiter = limiter or refresh_limiter(
            client, settings.legacy_rate_per_minute, settings.legacy_rate_burst,
            settings.refresh_budget_share)
        self.closed = settings.refresh_closed_status_list()
        self.tick_s = min(settings.refresh_interval_s, settings.refresh_lease_ttl_s / 3)
        self._last_pass = 0.0
        self.loop = Periodic("refresh", self.run_once, self.tick_s, log)

    # --- one tick ----------------------------------------------------------------
    def run_once(self, *, force_pass: bool = False) -> PassResult | None:
        if self.loop.stopping or not self.lease.hold():
            self._not_leader()
            return None
        metrics.REFRESH_LEADER.set(1)
        now = time.monotonic()
        if not force_pass and now - self._last_pass < self.settings.refresh_interval_s:
            return PassResult()
        self._last_pass = now
        return self._pass(time.time())

    def _not_leader(self) -> None:
        metrics.REFRESH_LEADER.set(0)
        metrics.OPEN_RECORDS.set(0)
        metrics.OPEN_RECORDS_OLDEST_AGE.set(0)

    def _in_flight(self) -> int:
        """Refresh tasks published and still open (forgets the finished ones)."""
        ids = refresh_state.in_flight(self.client)
        if not ids:
            return 0
        done = [t for t, still in zip(ids, state.still_open(self.client, ids), strict=True)
                if not still]
        refresh_state.landed(self.client, done)
        return len(ids) - len(done)

    def _pass(self, now: float) -> PassResult:
        s = self.settings
        result = PassResult(in_flight=self._in_flight())
        attempted = refresh_state.recently_attempted(self.client, now - s.refresh_after_s)
        free = s.refresh_max_in_flight - result.in_flight
        read_before = dt.datetime.fromtimestamp(now - s.refresh_after_s, dt.UTC)
        with session_scope(s.database_url) as session:
            result.open_records, result.oldest_read_at = open_records(session, self.closed)
            # enough rows that the recently attempted ones cannot hide the others
            due = due_for_refresh(session, self.closed, read_before,
                                  max(free, 1) + len(attempted))
        due = [n for n in due if n not in attempted]
        if due and free <= 0:
            result.skip("max_in_flight")
        for numero_os in due:
            if len(result.enqueued) >= free:
                break
            if self.loop.stopping or not self.lease.hold():  # stopping, or lost it
                break
            if self._enqueue(numero_os, now, result) is False:
                break
        self._report(now, result)
        return result

    def _enqueue(self, numero_os: str, now: float, result: PassResult) -> bool:
        """Publish one refresh; False when the pass must stop (budget, publishing)."""
        token = publishing.claim(self.client, self.settings, numero_os)
        if token is None:
            result.skip("claimed")
            return True
        if self.limiter.try_acquire() > 0:  # no refresh token now: skip, never wait
            state.release_claim(self.client, numero_os, token)
            result.skip("budget")
            return False
        task_id = task_id_for(numero_os)
        refresh_state.launching(self.client, task_id, numero_os, now)
        try:
            self.publish(numero_os, token)
        except Exception as exc:  # noqa: BLE001 - the broker is down: try next pass
            refresh_state.launch_failed(self.client, task_id, numero_os)
            log.warning("publishing the refresh of OS %s failed: %s", numero_os, exc)
            result.skip("publish_failed")
            return False
        result.enqueued.append(numero_os)
        result.in_flight += 1
        metrics.REFRESH_ENQUEUED.inc()
        log.info("refresh queued numero_os=%s", numero_os)
        return True

    def _report(self, now: float, result: PassResult) -> None:
        status = SchedulerStatus(last_run=now, open_records=result.open_records,
                                 oldest_read_at=result.oldest_read_at,
                                 in_flight=result.in_flight, enqueued=len(result.enqueued))
        refresh_state.write_status(self.client, status)
        metrics.OPEN_RECORDS.set(result.open_records)
        metrics.OPEN_RECORDS_OLDEST_AGE.set(status.oldest_age_s(now) or 0)

    # --- the thread --------------------------------------------------------------
    def start(self) -> threading.Thread:
        return self.loop.start()

    def stop(self) -> None:
        """Stop ticking and hand the lease over at once (a rolling upgrade's old pod)."""
        self.loop.stop()
        try:
            self.lease.release()
        except redis.RedisError:
            pass  # it expires within the TTL
        self._not_leader()
