"""The step interpreter: a profile's steps, run natively (WebDriver actions) or in the page.

Consecutive ``in_page`` steps are batched into one ``Page.run`` (one round trip). A
native step's element is waited for in the page when it is not there yet. Every wait
watches the caller's guard (error page, login form, refused login) and stops at once
when one of its conditions holds; ``stop`` turns that outcome into an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from registro.errors import PermanentScrapeError, Reason
from registro.worker.outcome import Outcome
from registro.worker.page import Named, Page, RunResult, condition_json, short
from registro.worker.profile import Condition, Step
from registro.worker.session import BrowserSession

Fill = Callable[[str, str], str]  # (template, numero_os) -> text
Stop = Callable[[Outcome, str], Exception]  # (guard outcome, what) -> the error to raise


def locator(loc: str) -> tuple[str, str]:
    return (By.XPATH, loc[6:]) if loc.startswith("xpath:") else (By.CSS_SELECTOR, loc)


class StepRunner:
    def __init__(self, session: BrowserSession, timeout_s: float, fill: Fill,
                 url: Callable[[str], str], stop: Stop):
        self.session = session
        self.timeout_s = timeout_s
        self.fill = fill
        self.url = url
        self.stop = stop

    @property
    def page(self) -> Page:
        return Page(self.session.driver, self.timeout_s)

    def in_page(self, ops: list[dict[str, Any]], guard: Named, what: str,
                reload_safe: bool = False) -> RunResult:
        """``Page.run``, raising ``stop(outcome)`` when a guard condition ended it."""
        result = self.page.run(ops, guard, what, reload_safe)
        if result.outcome in {outcome for outcome, _ in guard}:
            raise self.stop(result.outcome, what)
        return result

    def op(self, step: Step, numero_os: str) -> dict[str, Any]:
        """An in-page step as an operation of ``scripts.RUN``."""
        if step.wait is not None:
            return {"op": "wait", "cond": condition_json(step.wait)}
        if step.js is not None:
            return {"op": "js", "code": step.js}
        if step.frame is not None:
            return {"op": "frame", "loc": step.frame}
        action = step.action
        op: dict[str, Any] = {"op": action, "loc": getattr(step, action),
                              "optional": step.optional}
        if step.text is not None:  # a `type` step
            op.update(text=self.fill(step.text, numero_os), enter=step.enter)
        return op

    def run(self, steps: list[Step], guard: Named, numero_os: str = "") -> None:
        batch: list[dict[str, Any]] = []
        for step in steps:
            if step.in_page:
                batch.append(self.op(step, numero_os))
                continue
            if batch:
                self.in_page(batch, guard, "in-page steps")
                batch = []
            self.native(step, guard, numero_os)
        if batch:
            self.in_page(batch, guard, "in-page steps")

    def element(self, loc: str, guard: Named) -> WebElement:
        """The element at ``loc``, waiting for it (in the page) when not there yet."""
        found = self.optional_element(loc)
        if found is not None:
            return found
        self.wait(Condition(present=loc), guard, loc)
        return self.session.driver.find_element(*locator(loc))

    def optional_element(self, loc: str) -> WebElement | None:
        """The element at ``loc`` if it is there now (no waiting)."""
        found = self.session.driver.find_elements(*locator(loc))
        return found[0] if found else None

    def step_element(self, loc: str, guard: Named, optional: bool) -> WebElement | None:
        return self.optional_element(loc) if optional else self.element(loc, guard)

    def wait(self, cond: Condition, guard: Named, what: str) -> None:
        self.in_page([{"op": "wait", "cond": condition_json(cond)}], guard, what,
                     reload_safe=True)

    def native(self, step: Step, guard: Named, numero_os: str) -> None:
        driver = self.session.driver
        action = step.action
        if step.goto is not None:
            driver.get(self.url(self.fill(step.goto, numero_os)))
        elif step.wait is not None:
            self.wait(step.wait, guard, "a step's condition")
        elif step.js is not None:
            driver.execute_script(step.js)
        elif step.frame is not None:
            if step.frame == "top":
                driver.switch_to.default_content()
                self.session.at_top()
            else:
                frame = self.step_element(step.frame, guard, step.optional)
                if frame is not None:
                    driver.switch_to.frame(frame)
                    self.session.entered_frame()
        else:
            target = getattr(step, action)
            el = self.step_element(target, guard, step.optional)
            if el is None:
                return
            try:
                if action == "click":
                    el.click()
                elif action == "submit":
                    el.submit()
                else:
                    # select all, then type over it: clear and type in one call
                    keys = Keys.CONTROL + "a" + Keys.NULL + self.fill(step.text or "",
                                                                      numero_os)
                    el.send_keys(keys + (Keys.ENTER if step.enter else ""))
            except (ElementNotInteractableException,
                    ElementClickInterceptedException) as exc:
                raise PermanentScrapeError(
                    Reason.PROFILE_MISMATCH, f"cannot {action} {target}: {short(exc)}",
                ) from None
