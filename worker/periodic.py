"""One loop for the worker's periodic jobs (heartbeat, reconciler, refresh scheduler):
a daemon thread calling ``tick`` every ``interval_s`` until stopped. A Redis error skips
one tick (Redis restarts are expected: logged at INFO); any other error is logged with
its traceback and the loop goes on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis


class Periodic:
    def __init__(self, name: str, tick: Callable[[], object], interval_s: float,
                 log: logging.Logger, *, wait_first: bool = False) -> None:
        self.name = name
        self.tick = tick
        self.interval_s = interval_s
        self.log = log
        self.wait_first = wait_first
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self._loop, name=f"registro-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        if self.wait_first and self._stop.wait(self.interval_s):
            return
        while not self._stop.is_set():
            try:
                self.tick()
            except redis.RedisError as exc:
                self.log.info("%s tick skipped: %s", self.name, exc)
            except Exception:
                self.log.exception("%s tick failed", self.name)
            self._stop.wait(self.interval_s)
