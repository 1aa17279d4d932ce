"""Waiting on a predicate, never a fixed sleep: the one wait of the tests and the
benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.2,
               what: str = "condition", diagnose: Callable[[], str] | None = None) -> T:
    """``predicate()`` until it is truthy, returned; AssertionError after ``timeout``,
    with what ``diagnose()`` says of the state then (e.g. the pods that were not Ready).
    The one wait of the tests and the benchmarks: a predicate, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    message = f"timed out after {timeout}s waiting for {what} (last: {last!r})"
    if diagnose is not None:
        try:
            message += "\n" + diagnose()
        except Exception as e:  # noqa: BLE001 - the timeout is the error; a diagnosis may fail
            message += f"\n(diagnosis failed: {e!r})"
    raise AssertionError(message)
