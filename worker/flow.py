"""The login / search / extract flow of one site, driven by its profile.

Every wait of the login watches ``error_page`` and ``login.failure`` (not ``logged_out``:
the login form is expected on the login page, and a two-step login keeps it there while
the next field appears); every wait of the search and the extraction watches
``error_page`` and ``logged_out``. A page showing ``logged_out`` raises ``SessionExpired``,
which the scraper answers with one re-login.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.settings import Settings
from registro.worker.outcome import Outcome
from registro.worker.page import Named, Page
from registro.worker.profile import Block, Condition, SiteProfile, Step
from registro.worker.session import BrowserSession
from registro.worker.steps import StepRunner
from registro.worker.trace import FieldRead, Trace

log = logging.getLogger(__name__)

RawFields = dict[str, str | None]


class SessionExpired(Exception):
    """The page shows the login form: the site's session expired."""


class SiteFlow:
    def __init__(self, settings: Settings, profile: SiteProfile, session: BrowserSession):
        self.settings = settings
        self.profile = profile
        self.session = session
        self.base_url = (settings.legacy_url or profile.base_url).rstrip("/")
        self.timeout_s = settings.page_timeout_s
        self.steps = StepRunner(session, self.timeout_s, self.fill, self.url, self.stop)
        error_page = (Outcome.ERROR_PAGE, profile.error_page)
        self.login_guard: Named = [error_page, (Outcome.LOGIN_REFUSED, profile.login.failure)]
        self.page_guard: Named = [error_page, (Outcome.LOGGED_OUT, profile.logged_out)]
        self.logins = 0

    # --- what the profile's texts and outcomes mean ----------------------------------
    def fill(self, text: str, numero_os: str = "") -> str:
        return text.format_map({
            "username": self.settings.legacy_username,
            "password": self.settings.legacy_password.get_secret_value(),
            "numero_os": numero_os,
        })

    def url(self, path: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.IGNORECASE):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def stop(self, outcome: Outcome, what: str) -> Exception:
        """The error a page state means, wherever it was seen (nothing else: a refused
        login leaves the session logged out because ``login`` marked it so first)."""
        if outcome is Outcome.ERROR_PAGE:
            return TransientScrapeError(Reason.HTTP_ERROR, f"error page at {what}")
        if outcome is Outcome.LOGGED_OUT:
            return SessionExpired()
        if outcome is Outcome.LOGIN_REFUSED:
            return PermanentScrapeError(
                Reason.LOGIN_FAILED,
                f"the site refused the credentials of user {self.settings.legacy_username!r}"
                f" ({what})",
            )
        raise ValueError(f"{outcome} is not a page state to stop at")

    @property
    def page(self) -> Page:
        return Page(self.session.driver, self.timeout_s)

    # --- login and search --------------------------------------------------------------
    def login(self) -> None:
        login = self.profile.login
        self.session.login_needed()  # until the site says otherwise
        self.session.driver.get(self.url(login.url or "/"))
        what = "the login page"
        outcome = self.page.until([(Outcome.ERROR_PAGE, self.profile.error_page),
                                   (Outcome.LOGGED_IN, login.success),
                                   (Outcome.LOGIN_FORM, first_locator_condition(login.steps))],
                                  what)
        if outcome is not Outcome.LOGGED_IN:
            if outcome is Outcome.ERROR_PAGE:
                raise self.stop(outcome, what)
            self.steps.run(login.steps, self.login_guard)
            what = "the login's answer"
            outcome = self.page.until([(Outcome.ERROR_PAGE, self.profile.error_page),
                                       (Outcome.LOGIN_REFUSED, login.failure),
                                       (Outcome.LOGGED_IN, login.success)], what)
            if outcome is not Outcome.LOGGED_IN:
                raise self.stop(outcome, what)
        self.session.login_succeeded()
        self.logins += 1
        log.info("logged in to %s as %s", self.base_url, self.settings.legacy_username)

    def search(self, numero_os: str) -> None:
        """Run the search and land on the OS page; raises on anything else."""
        search = self.profile.search
        if search.url:
            # no separate "ready" wait: a step's element that is not there yet is waited
            # for, and that wait fails fast on the login form or an error page
            self.session.driver.get(self.url(self.fill(search.url, numero_os)))
        self.steps.run(search.steps, self.page_guard, numero_os)
        what = f"the search of OS {numero_os}"
        outcome = self.page.until([(Outcome.ERROR_PAGE, self.profile.error_page),
                                   (Outcome.FOUND, search.success),
                                   (Outcome.NOT_FOUND, search.not_found),
                                   (Outcome.LOGGED_OUT, self.profile.logged_out)], what)
        if outcome is Outcome.NOT_FOUND:
            raise PermanentScrapeError(Reason.NOT_FOUND, f"OS {numero_os} not found")
        if outcome is not Outcome.FOUND:
            raise self.stop(outcome, what)

    # --- extraction ---------------------------------------------------------------------
    def read_block(self, block: Block, numero_os: str, trace: Trace | None = None) -> RawFields:
        """The texts of a block's fields (``None``: absent and optional); ``trace`` gets
        the page's answer for each field, also when the block fails."""
        self.session.to_top()
        in_page = all(step.in_page for step in block.before)
        if not in_page:
            self.steps.run(block.before, self.page_guard, numero_os)
            self.session.to_top()
        specs: list[dict[str, Any]] = []
        values: RawFields = {}
        for key, spec in block.fields.items():
            if spec.value is not None:
                values[key] = self.fill(spec.value, numero_os)
                continue
            specs.append({"key": key, "kind": spec.kind,
                          "locs": spec.css or spec.xpath or spec.label,
                          "scope": spec.scope, "all": spec.all, "attr": spec.attr,
                          "join": spec.join, "below": spec.below})
        before = [self.steps.op(step, numero_os) for step in block.before] if in_page else []
        found = self._wait_and_extract(block, specs, before)
        if trace is not None:
            trace.read.update({k: FieldRead(True, v or "", ("value",)) for k, v in values.items()})
            trace.read.update({k: FieldRead(r["found"], r["text"], tuple(r.get("matched", ())),
                                            tuple(r["missing"])) for k, r in found.items()})
        missing = {k: r["missing"] for k, r in found.items()
                   if not r["found"] and not block.fields[k].optional}
        if missing:
            if self.error_page_shown():
                raise TransientScrapeError(Reason.HTTP_ERROR,
                                           f"error page while reading {block.name}")
            detail = "; ".join(f"{k} ({', '.join(m)})" for k, m in sorted(missing.items()))
            raise PermanentScrapeError(
                Reason.PROFILE_MISMATCH,
                f"profile {self.profile.name!r} no longer matches the page, block "
                f"{block.name!r}: missing {detail}",
            )
        for k, r in found.items():
            values[k] = r["text"] if r["found"] or r["text"] else None
        return values

    def _wait_and_extract(self, block: Block, specs: list[dict[str, Any]],
                          before: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The block's in-page steps, its wait (inside its frames) and the reading of its
        fields, in one round trip. A cross-origin frame is entered with WebDriver."""
        ready = block.wait.model_dump(exclude_none=True) if block.wait is not None else {}
        what = f"block {block.name!r}"
        op = {"op": "extract", "frames": block.frames, "cond": ready, "specs": specs}
        result = self.steps.in_page([*before, op], self.page_guard, what)
        if result.outcome is Outcome.CROSS_ORIGIN:
            log.info("block %r: frame %s is cross-origin, switching into it", block.name,
                     result.frame)
            for frame in block.frames:  # cross-origin: switch frame by frame
                self.session.driver.switch_to.frame(self.steps.element(frame, self.page_guard))
                self.session.entered_frame()
            result = self.steps.in_page([{**op, "frames": []}], self.page_guard, what,
                                        reload_safe=True)
            self.session.to_top()
        return result.fields

    def error_page_shown(self) -> bool:
        """Best effort, while classifying a failure: is the error page on the top page?"""
        if self.profile.error_page is None or self.session.browser is None:
            return False
        try:
            self.session.driver.switch_to.default_content()
            self.session.at_top()
            return self.page.check([(Outcome.ERROR_PAGE, self.profile.error_page)]) \
                is Outcome.ERROR_PAGE
        except Exception:  # noqa: BLE001 - the browser may be gone
            return False


def first_locator_condition(steps: list[Step]) -> Condition | None:
    """The page is ready for these steps when the first element they use is present."""
    for step in steps:
        if step.action in ("goto", "js", "wait"):
            return None
        if step.action in ("click", "type", "submit") and not step.optional:
            return Condition(present=getattr(step, step.action))
    return None
