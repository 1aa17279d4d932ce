"""A Redis lease with a token, and the one "delete if still mine" script.

Used for the OS claims (``registro.pipeline_state``), the reconciler's lock and the
refresh scheduler's leadership (``registro.refresh_state``); those modules own the keys.
"""

from __future__ import annotations

import secrets

import redis

# Delete the key only while it holds the caller's token: claims and leases.
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_HOLD_IF_FREE_OR_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


def release_if_owner(client: redis.Redis, key: str, token: str) -> bool:
    return bool(client.eval(_RELEASE_IF_OWNER, 1, key, token))


class Lease:
    """A Redis lease with a token: ``hold()`` takes it if free or renews it if ours (one
    atomic script), so at most one holder acts at a time, and a dead holder's lease
    expires ``ttl_s`` after its last renewal. The value is ``"<holder> <random>"``."""

    def __init__(self, client: redis.Redis, holder: str, ttl_s: float, key: str) -> None:
        self.client = client
        self.holder = holder
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{holder} {secrets.token_hex(8)}"
        self._hold = client.register_script(_HOLD_IF_FREE_OR_OWNER)

    def hold(self) -> bool:
        return bool(self._hold(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> bool:
        return release_if_owner(self.client, self.key, self.token)


def holder_of(raw: bytes | str | None) -> str | None:
    """The holder's name from a lease's value (None: nobody holds it)."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return text.rsplit(" ", 1)[0]
