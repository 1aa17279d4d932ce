"""Page waits: every wait and every run of in-page operations is one ``execute_async_script``
of ``scripts.RUN`` under one deadline loop, and ends with an ``Outcome``.

A guard is a list of ``(Outcome, Condition)`` watched throughout (an error page, the
login form, a refused login): the run stops as soon as one holds and returns it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from selenium.common.exceptions import (
    JavascriptException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.remote.webdriver import WebDriver

from registro.errors import PermanentScrapeError, Reason
from registro.worker import scripts
from registro.worker.outcome import Outcome
from registro.worker.profile import Condition

POLL_MS = 10  # in-page polling interval of the waits (no WebDriver round trip)
# A read-only run restarted because the page navigated meanwhile: at most this often.
MAX_RESTARTS = 100

Named = list[tuple[Outcome, Condition | None]]


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    frame: str | None = None  # the cross-origin frame, for Outcome.CROSS_ORIGIN


def condition_json(c: Condition) -> dict[str, Any]:
    return c.model_dump(exclude_none=True)


def named_json(named: Named) -> list[list[Any]]:
    return [[outcome.value, condition_json(c)] for outcome, c in named if c is not None]


def short(exc: BaseException) -> str:
    """The first line of an exception's message, for error texts and logs."""
    text = getattr(exc, "msg", None) or str(exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


class Page:
    """The current page of a WebDriver session, seen through in-page scripts."""

    def __init__(self, driver: WebDriver, timeout_s: float):
        self.driver = driver
        self.timeout_s = timeout_s

    def run(self, ops: list[dict[str, Any]], guard: Named, what: str,
            reload_safe: bool = False) -> RunResult:
        """Run ``ops`` inside the page in one round trip, watching ``guard``.

        ``reload_safe``: the operations only wait and read, so run them again when the
        document is replaced meanwhile (a navigation, a frame still loading); otherwise
        an interrupted run is a profile mismatch (a step navigated before the last one).
        Raises ``TimeoutException`` when the deadline passes first.
        """
        guard_json = named_json(guard)
        deadline = time.monotonic() + self.timeout_s
        waiting_for: Any = None
        for _restart in range(MAX_RESTARTS):
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            try:
                raw = self.driver.execute_async_script(
                    scripts.RUN, ops, guard_json, max(remaining_ms, 1), POLL_MS)
            except (JavascriptException, StaleElementReferenceException,
                    TimeoutException) as exc:
                # chromedriver reports a document unloaded under the script as a
                # JavaScript error or a "script timeout"
                if reload_safe and remaining_ms > 0:
                    continue
                if isinstance(exc, JavascriptException):
                    raise PermanentScrapeError(
                        Reason.PROFILE_MISMATCH,
                        f"in-page steps of {what} were interrupted (a step navigated away "
                        f"before the last one?): {short(exc)}",
                    ) from None
                raise
            outcome = Outcome(raw["outcome"])
            if outcome is Outcome.TIMEOUT:
                waiting_for = raw.get("waiting_for")
                break
            if outcome is Outcome.SCRIPT_ERROR:
                raise PermanentScrapeError(Reason.PROFILE_MISMATCH,
                                           f"{what}: script error {raw.get('message')}")
            return RunResult(outcome, raw.get("fields") or {}, raw.get("frame"))
        raise TimeoutException(f"{what}: waited {self.timeout_s:g}s for {waiting_for}")

    def until(self, named: Named, what: str) -> Outcome:
        """Wait until one of the named conditions holds on the page; the first listed
        wins when several hold."""
        return self.run([{"op": "until", "conds": named_json(named)}], [], what,
                        reload_safe=True).outcome

    def check(self, named: Named) -> Outcome | None:
        """Which of the named conditions holds right now on the top page, if any."""
        found = self.driver.execute_script(scripts.CHECK_CONDITIONS, named_json(named))
        return Outcome(found) if found is not None else None
