"""The background refresh's state in Redis, shared by the scheduler and the API.

- lease ``registro:refresh:leader``: ``"<holder> <random>"``, SET NX with a TTL by the one
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
import secrets
from dataclasses import dataclass

import redis

LEASE_KEY = "registro:refresh:leader"
STATUS_KEY = "registro:refresh:status"
IN_FLIGHT_KEY = "registro:refresh:inflight"
ATTEMPTED_KEY = "registro:refresh:attempted"
STATUS_TTL_S = 7 * 24 * 3600

_RENEW_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A Redis lease with a token: ``hold()`` takes it if free or renews it if ours (one
    atomic script), so at most one holder acts at a time, and a dead holder's lease
    expires ``ttl_s`` after its last renewal."""

    def __init__(self, client: redis.Redis, holder: str, ttl_s: float,
                 key: str = LEASE_KEY) -> None:
        self.client = client
        self.holder = holder
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{holder} {secrets.token_hex(8)}"
        self._renew = client.register_script(_RENEW_IF_OWNER)

    def hold(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self.client.eval(_RELEASE_IF_OWNER, 1, self.key, self.token))


def holder_of(raw: bytes | str | None) -> str | None:
    """The holder's name from the lease's value (None: nobody holds it)."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return text.rsplit(" ", 1)[0]


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
