"""The background refresh's state in Redis, shared by the scheduler and the API.

- lease ``registro:refresh:leader``: a ``registro.leases.Lease`` held by the one
  scheduler allowed to act, renewed by it (only while the value is still its own) every
  third of the TTL. A holder that dies stops renewing: the lease expires within the TTL
  and the next worker to try takes it.
- status ``registro:refresh:status``: JSON written by the leader after each pass (when it
  ran, open records, the oldest one's last read, refreshes in flight), read by
  queue-status in its one pipelined round trip.
- in flight ``registro:refresh:inflight``: sorted set of the refresh task ids published
  and not yet seen finished (score: when published).
- attempted ``registro:refresh:attempted``: sorted set of OS numbers refreshed recently
  (score: when), so an OS whose refresh keeps failing is not retried before
  REFRESH_AFTER_S again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import redis

# holder_of: read by the API's queue-status from its own round trip
from registro.leases import Lease, holder_of

LEASE_KEY = "registro:refresh:leader"
STATUS_KEY = "registro:refresh:status"
IN_FLIGHT_KEY = "registro:refresh:inflight"
ATTEMPTED_KEY = "registro:refresh:attempted"
STATUS_TTL_S = 7 * 24 * 3600


def refresh_lease(client: redis.Redis, holder: str, ttl_s: float) -> Lease:
    """The one scheduler's lease (``registro.leases.Lease``)."""
    return Lease(client, holder, ttl_s, LEASE_KEY)


def _decoded(values: list) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def in_flight(client: redis.Redis) -> list[str]:
    """Refresh task ids published and not yet seen finished."""
    return _decoded(client.zrange(IN_FLIGHT_KEY, 0, -1))


def landed(client: redis.Redis, task_ids: list[str]) -> None:
    """These refreshes finished: no longer in flight."""
    if task_ids:
        client.zrem(IN_FLIGHT_KEY, *task_ids)


def recently_attempted(client: redis.Redis, since: float) -> set[str]:
    """OS numbers whose refresh was published at ``since`` or later (older ones are
    forgotten)."""
    client.zremrangebyscore(ATTEMPTED_KEY, "-inf", since)
    return set(_decoded(client.zrange(ATTEMPTED_KEY, 0, -1)))


def launching(client: redis.Redis, task_id: str, numero_os: str, now: float) -> None:
    """A refresh about to be published: in flight, and attempted now."""
    pipe = client.pipeline(transaction=False)
    pipe.zadd(IN_FLIGHT_KEY, {task_id: now})
    pipe.zadd(ATTEMPTED_KEY, {numero_os: now})
    pipe.execute()


def launch_failed(client: redis.Redis, task_id: str, numero_os: str) -> None:
    """Publishing it failed: neither in flight nor attempted."""
    pipe = client.pipeline(transaction=False)
    pipe.zrem(IN_FLIGHT_KEY, task_id)
    pipe.zrem(ATTEMPTED_KEY, numero_os)
    pipe.execute()


def write_status(client: redis.Redis, status: SchedulerStatus) -> None:
    client.set(STATUS_KEY, status.encode(), ex=STATUS_TTL_S)


def read_status(client: redis.Redis) -> SchedulerStatus | None:
    return SchedulerStatus.decode(client.get(STATUS_KEY))


def leader(client: redis.Redis) -> str | None:
    """The scheduler holding the lease now (None: nobody)."""
    return holder_of(client.get(LEASE_KEY))


@dataclass(frozen=True)
class SchedulerStatus:
    last_run: float  # epoch seconds
    open_records: int
    oldest_read_at: float | None  # epoch seconds of the oldest open record's last read
    in_flight: int
    enqueued: int  # by the last pass

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, raw: bytes | str | None) -> SchedulerStatus | None:
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    def oldest_age_s(self, now: float) -> int | None:
        return None if self.oldest_read_at is None else max(0, int(now - self.oldest_read_at))

    def last_run_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.last_run, dt.UTC).isoformat()
