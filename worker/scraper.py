"""The scraping engine: one reused, logged-in browser session driven by a site profile.

Public API (stable; the Celery pipeline and the CLI use it)::

    from registro.worker.scraper import Scraper, scrape_and_save

    with Scraper(settings) as scraper:                 # profile: settings.site_profile or demo
        scraped = scraper.scrape("12345", progress=cb)  # -> registro.schemas.ScrapedOS
        scraped, ids = scrape_and_save(scraper, settings.database_url, "12346", progress=cb)

    progress(step: str, percent: int, message: str) is called with the steps
    "connected", "logged_in", "searching", "extracting" (and "saving" by scrape_and_save).

    Counters for metrics: scraper.sessions_started, scraper.sessions_recycled,
    scraper.scrapes_done.

Failures raise ``registro.errors.PermanentScrapeError`` (not_found, login_failed,
profile_mismatch, invalid_data) or ``TransientScrapeError`` (timeout, http_error,
webdriver_error); ``exc.artifacts`` lists the screenshot (PNG) and page source
(HTML) saved under ``settings.artifacts_dir``.

Session policy: the browser is started lazily, logged in once and reused; before
each scrape a one-round-trip liveness check runs; a page showing the login form
(the site's session expired) triggers a transparent re-login; the session is
recycled after ``settings.session_max_scrapes`` scrapes and after any WebDriver error.
A ``Scraper`` is not thread-safe: use one per worker process/thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import urllib3.exceptions
from pydantic import ValidationError
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    JavascriptException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from registro.errors import PermanentScrapeError, Reason, ScrapeError, TransientScrapeError
from registro.queue import NUMERO_OS_RE
from registro.schemas import SECTIONS, ScrapedOS
from registro.settings import Settings
from registro.worker import parsers, scripts
from registro.worker.browser import Browser, open_browser
from registro.worker.profile import (
    Block,
    Condition,
    SiteProfile,
    Step,
    load_profile,
    parser_chain,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, str], None]

# Errors meaning the WebDriver session (or its connection) is broken.
_DRIVER_ERRORS = (WebDriverException, urllib3.exceptions.HTTPError, ConnectionError)
POLL_MS = 10  # in-page polling interval of the waits (no WebDriver round trip)


def _noop(step: str, percent: int, message: str) -> None:
    pass


def _locator(loc: str) -> tuple[str, str]:
    return (By.XPATH, loc[6:]) if loc.startswith("xpath:") else (By.CSS_SELECTOR, loc)


def _cond(c: Condition) -> dict[str, Any]:
    return c.model_dump(exclude_none=True)


class Scraper:
    def __init__(self, settings: Settings, profile: SiteProfile | None = None):
        self.settings = settings
        self.profile = profile or load_profile(settings.site_profile)
        self.base_url = (settings.legacy_url or self.profile.base_url).rstrip("/")
        self.empty_markers = tuple(self.profile.empty_markers)
        self.timeout = settings.page_timeout_s
        self._chains = {k: parser_chain(k, spec) for k, spec in self.profile.field_specs().items()}
        self._browser: Browser | None = None
        self._in_frame = False
        self._logged_in = False
        self._scrapes_in_session = 0
        self.sessions_started = 0
        self.sessions_recycled = 0
        self.scrapes_done = 0
        self.logins = 0

    # --- lifecycle -------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Quit the browser (no process is left behind)."""
        if self._browser is not None:
            browser, self._browser = self._browser, None
            browser.quit()
        self._logged_in = False
        self._scrapes_in_session = 0

    @property
    def browser(self) -> Browser | None:
        return self._browser

    def _recycle(self, why: str) -> None:
        if self._browser is not None:
            log.info("recycling browser session: %s", why)
            self.sessions_recycled += 1
            self.close()

    def _ensure_session(self) -> Browser:
        if self._browser is not None:
            if self._scrapes_in_session >= self.settings.session_max_scrapes:
                self._recycle(f"{self._scrapes_in_session} scrapes done")
            elif not self._browser.alive():
                self._recycle("liveness check failed")
        if self._browser is None:
            self._browser = open_browser(self.settings)
            self.sessions_started += 1
            self._logged_in = False
            self._in_frame = False
            self._scrapes_in_session = 0
        return self._browser

    @property
    def driver(self):
        assert self._browser is not None
        return self._browser.driver

    # --- the scrape --------------------------------------------------------
    def scrape(self, numero_os: str, progress: Progress | None = None) -> ScrapedOS:
        numero_os = str(numero_os).strip()
        if not NUMERO_OS_RE.match(numero_os):
            raise ValueError(f"invalid OS number {numero_os!r}: 1 to 12 digits")
        progress = progress or _noop
        try:
            try:
                self._ensure_session()
                progress("connected", 10, "Browser session ready")
                result = self._scrape(numero_os, progress)
            except ScrapeError:
                raise
            except TimeoutException as exc:
                raise self._classify_timeout(str(exc.msg or "timed out")) from None
            except _DRIVER_ERRORS as exc:
                raise TransientScrapeError(
                    Reason.WEBDRIVER_ERROR, f"{type(exc).__name__}: {_short(exc)}"
                ) from None
        except ScrapeError as err:
            err.artifacts = err.artifacts or self._save_artifacts(numero_os, err.reason.value)
            if err.reason == Reason.WEBDRIVER_ERROR:
                self._recycle("WebDriver error")
            log.warning("scrape of OS %s failed: %s; artifacts: %s", numero_os, err,
                        ", ".join(err.artifacts) or "none")
            raise
        finally:
            if self._browser is not None:
                self._scrapes_in_session += 1
        self.scrapes_done += 1
        return result

    def _scrape(self, numero_os: str, progress: Progress) -> ScrapedOS:
        if not self._logged_in:
            self._login()
            progress("logged_in", 25, "Logged in to the legacy system")
        else:
            progress("logged_in", 25, "Reusing the logged-in session")
        for attempt in (1, 2):
            try:
                return self._search_and_extract(numero_os, progress)
            except _LoggedOut:
                if attempt == 2:
                    raise TransientScrapeError(
                        Reason.LOGIN_FAILED, "the site logged us out again right after login"
                    ) from None
                log.info("legacy session expired; logging in again")
                self._logged_in = False
                self._login()
                progress("logged_in", 25, "Session expired: logged in again")
        raise AssertionError("unreachable")

    def _search_and_extract(self, numero_os: str, progress: Progress) -> ScrapedOS:
        progress("searching", 40, f"Searching OS {numero_os}")
        self._search(numero_os)
        raw: dict[str, str | None] = {}
        blocks = self.profile.extract
        for i, block in enumerate(blocks):
            progress("extracting", 55 + 35 * i // len(blocks),
                     f"Reading {block.name} ({i + 1}/{len(blocks)})")
            raw.update(self._extract_block(block, numero_os))
        self._to_top()
        return self._build(raw, numero_os)

    # --- login and search ------------------------------------------------------
    def _template(self, text: str, numero_os: str = "") -> str:
        return text.format_map({
            "username": self.settings.legacy_username,
            "password": self.settings.legacy_password.get_secret_value(),
            "numero_os": numero_os,
        })

    def _url(self, path: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.IGNORECASE):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _login(self) -> None:
        login = self.profile.login
        self.driver.get(self._url(login.url or "/"))
        ready = _first_locator_condition(login.steps)
        outcome = self._wait_outcome([("error", self.profile.error_page),
                                      ("success", login.success), ("ready", ready)])
        if outcome == "error":
            raise TransientScrapeError(Reason.HTTP_ERROR, "error page on the login page")
        if outcome != "success":
            self._run_steps(login.steps)
            outcome = self._wait_outcome([("error", self.profile.error_page),
                                          ("failure", login.failure), ("success", login.success)])
            if outcome == "error":
                raise TransientScrapeError(Reason.HTTP_ERROR, "error page after login")
            if outcome == "failure":
                self._logged_in = False
                raise PermanentScrapeError(
                    Reason.LOGIN_FAILED,
                    f"the site refused the credentials of user {self.settings.legacy_username!r}",
                )
        self._logged_in = True
        self.logins += 1
        log.info("logged in to %s as %s", self.base_url, self.settings.legacy_username)

    def _search(self, numero_os: str) -> None:
        """Run the search and land on the OS page; raises on anything else."""
        search = self.profile.search
        if search.url:
            # no separate "ready" wait: a step's element that is not there yet is waited
            # for, and that wait fails fast on the login form or an error page
            self.driver.get(self._url(self._template(search.url, numero_os)))
        self._run_steps(search.steps, numero_os)
        outcome = self._wait_outcome([("error", self.profile.error_page),
                                      ("success", search.success),
                                      ("not_found", search.not_found),
                                      ("logged_out", self.profile.logged_out)])
        if outcome == "error":
            raise TransientScrapeError(Reason.HTTP_ERROR, f"error page searching OS {numero_os}")
        if outcome == "not_found":
            raise PermanentScrapeError(Reason.NOT_FOUND, f"OS {numero_os} not found")
        if outcome == "logged_out":
            raise _LoggedOut

    def _wait_ready(self, cond: Condition, what: str) -> None:
        """Wait for ``cond``, failing fast on an error page or the login form."""
        self._check_ready(self._wait([("error", self.profile.error_page, "top"),
                                      ("logged_out", self.profile.logged_out, "top"),
                                      ("ok", cond, "top")]), what)

    @staticmethod
    def _check_ready(result: dict, what: str) -> dict:
        if result["outcome"] == "error":
            raise TransientScrapeError(Reason.HTTP_ERROR, f"error page while waiting for {what}")
        if result["outcome"] == "logged_out":
            raise _LoggedOut
        return result

    # --- steps, waits, extraction ---------------------------------------------
    def _wait_outcome(self, named: list[tuple[str, Condition | None]]) -> str:
        """Wait until one of the named conditions holds on the page; returns its name."""
        return self._wait([(name, c, "top") for name, c in named])["outcome"]

    def _wait(self, named: list[tuple[str, Condition | dict | None, str]],
              frames: list[str] | tuple = (), specs: list[dict] | None = None) -> dict:
        """One in-page wait (``scripts.WAIT``): polls inside the browser until a named
        condition holds, then (for 'ok' with ``specs``) extracts the fields at once."""
        conds = [[name, c if isinstance(c, dict) else _cond(c), where]
                 for name, c, where in named if c is not None]
        deadline = time.monotonic() + self.timeout
        for _attempt in range(100):
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            try:
                result = self.driver.execute_async_script(
                    scripts.WAIT, conds, list(frames), specs, remaining_ms, POLL_MS)
            except (JavascriptException, StaleElementReferenceException, TimeoutException):
                # the page navigated while we waited (chromedriver reports the unloaded
                # document as a JavaScript error or a "script timeout"): look again at the
                # new page; a real timeout ends the loop through the deadline
                continue
            if result and result.get("outcome") is not None:
                return result
            break
        names = " / ".join(f"{n} {c}" for n, c, _ in conds)
        raise TimeoutException(f"none of [{names}] within {self.timeout:g}s")

    def _element(self, loc: str, optional: bool = False):
        """The element at ``loc``, waiting for it (in-page) when not there yet."""
        found = self.driver.find_elements(*_locator(loc))
        if found or optional:
            return found[0] if found else None
        self._wait_ready(Condition(present=loc), loc)
        return self.driver.find_element(*_locator(loc))

    def _step_op(self, step: Step, numero_os: str) -> dict:
        """An in-page step as an operation of ``scripts.RUN``."""
        action = step.action
        if action == "wait":
            return {"op": "wait", "cond": _cond(step.wait)}
        if action == "js":
            return {"op": "js", "code": step.js}
        op = {"op": action, "loc": getattr(step, action), "optional": step.optional}
        if action == "type":
            op.update(text=self._template(step.text, numero_os), enter=step.enter)
        return op

    def _run_in_page(self, ops: list[dict], what: str, reload_safe: bool = False) -> dict:
        """Run operations inside the page in one round trip (``scripts.RUN``).
        ``reload_safe``: the operations only read, so run them again if the document
        is replaced meanwhile (a frame still loading)."""
        guard = [[name, _cond(c)] for name, c in (("error", self.profile.error_page),
                                                   ("logged_out", self.profile.logged_out))
                 if c is not None]
        deadline = time.monotonic() + self.timeout
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            try:
                result = self.driver.execute_async_script(
                    scripts.RUN, ops, guard, max(remaining_ms, 1), POLL_MS)
                break
            except JavascriptException as exc:  # timeouts propagate (transient)
                if reload_safe and remaining_ms > 0:
                    continue
                raise PermanentScrapeError(
                    Reason.PROFILE_MISMATCH,
                    f"in-page steps of {what} were interrupted (a step navigated away "
                    f"before the last one?): {_short(exc)}",
                ) from None
        outcome = result.get("outcome")
        if outcome is None:
            raise TimeoutException(f"{what}: waited {self.timeout:g}s for "
                                   f"{result.get('waiting_for')}")
        if outcome == "js_error":
            raise PermanentScrapeError(Reason.PROFILE_MISMATCH,
                                       f"{what}: script error {result.get('message')}")
        return self._check_ready(result, what)

    def _run_steps(self, steps: list[Step], numero_os: str = "") -> None:
        batch: list[dict] = []
        for step in steps:
            if step.in_page:
                batch.append(self._step_op(step, numero_os))
                continue
            if batch:
                self._run_in_page(batch, "in-page steps")
                batch = []
            self._run_native_step(step, numero_os)
        if batch:
            self._run_in_page(batch, "in-page steps")

    def _run_native_step(self, step: Step, numero_os: str) -> None:
        d = self.driver
        action = step.action
        if action == "goto":
            d.get(self._url(self._template(step.goto, numero_os)))
        elif action == "wait":
            self._wait_ready(step.wait, "a step's condition")
        elif action == "js":
            d.execute_script(step.js)
        elif action == "frame":
            if step.frame == "top":
                d.switch_to.default_content()
                self._in_frame = False
            else:
                el = self._element(step.frame, step.optional)
                if el is not None:
                    d.switch_to.frame(el)
                    self._in_frame = True
        else:
            el = self._element(getattr(step, action), step.optional)
            if el is None:
                return
            try:
                if action == "click":
                    el.click()
                elif action == "submit":
                    el.submit()
                else:
                    # select all, then type over it: clear and type in one call
                    keys = Keys.CONTROL + "a" + Keys.NULL + self._template(step.text,
                                                                           numero_os)
                    el.send_keys(keys + (Keys.ENTER if step.enter else ""))
            except (ElementNotInteractableException,
                    ElementClickInterceptedException) as exc:
                raise PermanentScrapeError(
                    Reason.PROFILE_MISMATCH,
                    f"cannot {action} {getattr(step, action)}: {_short(exc)}",
                ) from None

    def _to_top(self) -> None:
        if self._in_frame:
            self.driver.switch_to.default_content()
            self._in_frame = False

    def _extract_block(self, block: Block, numero_os: str) -> dict[str, str | None]:
        self._to_top()
        in_page = all(step.in_page for step in block.before)
        if not in_page:
            self._run_steps(block.before, numero_os)
            self._to_top()
        specs, values = [], {}
        for key, spec in block.fields.items():
            if spec.kind == "value":
                values[key] = self._template(spec.value, numero_os)
                continue
            specs.append({"key": key, "kind": spec.kind,
                          "locs": spec.css or spec.xpath or spec.label,
                          "scope": spec.scope, "all": spec.all, "attr": spec.attr,
                          "join": spec.join, "below": spec.below})
        before = [self._step_op(step, numero_os) for step in block.before] if in_page else []
        found = self._wait_and_extract(block, specs, before)
        missing = {k: r["missing"] for k, r in found.items()
                   if not r["found"] and not block.fields[k].optional}
        if missing:
            if self._error_page_shown():
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

    def _wait_and_extract(self, block: Block, specs: list[dict], before: list[dict]) -> dict:
        """The block's in-page steps, its wait (inside its frames) and the reading of its
        fields, in one round trip. A cross-origin frame is entered with WebDriver."""
        ready = _cond(block.wait) if block.wait is not None else {}
        what = f"block {block.name!r}"
        op = {"op": "extract", "frames": block.frames, "cond": ready, "specs": specs}
        result = self._run_in_page([*before, op], what)
        if result["outcome"] == "__cross__":
            log.info("block %r: frame %s is cross-origin, switching into it", block.name,
                     result.get("frame"))
            for frame in block.frames:  # cross-origin: switch frame by frame
                self.driver.switch_to.frame(self._element(frame))
                self._in_frame = True
            result = self._run_in_page([{**op, "frames": []}], what, reload_safe=True)
            self._to_top()
        return result.get("fields", {})

    def _build(self, raw: dict[str, str | None], numero_os: str) -> ScrapedOS:
        data: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        problems = []
        for key, text in raw.items():
            section, name = key.split(".")
            try:
                data[section][name] = parsers.run_chain(text, self._chains[key],
                                                        self.empty_markers)
            except (parsers.ParseError, ValueError, TypeError) as exc:
                problems.append(f"{key}: {exc}")
        if problems:
            raise PermanentScrapeError(Reason.INVALID_DATA,
                                       f"OS {numero_os}: " + "; ".join(problems))
        try:
            return ScrapedOS.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                               for e in exc.errors())
            raise PermanentScrapeError(Reason.INVALID_DATA, f"OS {numero_os}: {detail}") from None

    # --- failures -----------------------------------------------------------------
    def _error_page_shown(self) -> bool:
        if self.profile.error_page is None or self._browser is None:
            return False
        try:
            self.driver.switch_to.default_content()
            self._in_frame = False
            return self.driver.execute_script(
                scripts.CHECK_CONDITIONS, [["error", _cond(self.profile.error_page)]]
            ) == "error"
        except Exception:  # noqa: BLE001 - best effort while classifying
            return False

    def _classify_timeout(self, detail: str) -> TransientScrapeError:
        if self._error_page_shown():
            return TransientScrapeError(Reason.HTTP_ERROR, f"error page shown ({detail})")
        return TransientScrapeError(Reason.TIMEOUT, detail)

    def _save_artifacts(self, numero_os: str, reason: str) -> list[str]:
        """Screenshot and page source of the current page, for an operator to look at."""
        if self._browser is None:
            return []
        directory = Path(self.settings.artifacts_dir)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        base = directory / f"{stamp}_{re.sub(r'[^0-9A-Za-z_-]', '_', numero_os)}_{reason}"
        saved: list[str] = []
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.driver.switch_to.default_content()
            self._in_frame = False
            if self.driver.save_screenshot(str(base.with_suffix(".png"))):
                saved.append(str(base.with_suffix(".png")))
            base.with_suffix(".html").write_text(self.driver.page_source, encoding="utf-8")
            saved.append(str(base.with_suffix(".html")))
        except Exception as exc:  # noqa: BLE001 - the browser may be gone
            log.warning("could not save all failure artifacts for OS %s: %s", numero_os,
                        _short(exc))
        return saved


class _LoggedOut(Exception):
    """The page shows the login form: the site's session expired."""


def _first_locator_condition(steps: list[Step]) -> Condition | None:
    """The page is ready for these steps when the first element they use is present."""
    for step in steps:
        if step.action in ("goto", "js", "wait"):
            return None
        if step.action in ("click", "type", "submit") and not step.optional:
            return Condition(present=getattr(step, step.action))
    return None


def _short(exc: BaseException) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def scrape_and_save(scraper: Scraper, database_url: str, numero_os: str,
                    progress: Progress | None = None):
    """Scrape one OS and store it (cliente, equipamento, OS) in one transaction.

    Returns ``(ScrapedOS, registro.records.SavedIds)``.
    """
    from registro.db import session_scope
    from registro.records import save_scraped

    progress = progress or _noop
    scraped = scraper.scrape(numero_os, progress=progress)
    progress("saving", 95, "Saving the records")
    with session_scope(database_url) as session:
        ids = save_scraped(session, scraped)
    return scraped, ids
