"""The scraping engine: one reused, logged-in browser session driven by a site profile.

Public API (stable; the Celery pipeline, the API's fallback and the CLI use it)::

    from registro.worker.scraper import Scraper, scrape_and_save

    with Scraper(settings) as scraper:                 # profile: settings.site_profile or demo
        scraped = scraper.scrape("12345", progress=cb)  # -> registro.schemas.ScrapedOS
        scraped, ids = scrape_and_save(scraper, settings.database_url, "12346", progress=cb)

    Scraper(settings, evidence=sink): where a failure's evidence goes (default: the
    database, ``registro.evidence_store.DatabaseEvidence``); ``scraper.last_trace`` is
    what the last scrape did, step by step and field by field (``worker/trace.py``).

    progress(step: str, percent: int, message: str) is called with the steps
    "connected", "logged_in", "searching", "extracting" (and "saving" by scrape_and_save).

    scraper.take_session_counts() -> (started, recycled) browser sessions since the last
    call, for the metrics.

Failures raise ``registro.errors.PermanentScrapeError`` (not_found, login_failed,
profile_mismatch, invalid_data) or ``TransientScrapeError`` (timeout, http_error,
webdriver_error, login_failed when the site logs us out right after login);
the first failure of each reason per OS keeps an evidence bundle (screenshot, HTML,
step log, console; redacted): ``exc.evidence_id`` in the database, or ``exc.artifacts``,
its files, with a ``DirectoryEvidence``. Nothing else escapes from ``scrape`` but
``ValueError`` for a malformed OS number and whatever the progress callback raises.

The parts: ``session.py`` (browser life cycle), ``page.py`` (waits), ``steps.py`` (the
step interpreter), ``flow.py`` (login, search, extraction), ``record.py`` (parsing and
validation), ``evidence.py`` (a failure's evidence), ``trace.py`` (steps and fields).
A ``Scraper`` is not thread-safe: use one per worker process/thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

import urllib3.exceptions
from selenium.common.exceptions import TimeoutException, WebDriverException

from registro.errors import Reason, ScrapeError, TransientScrapeError
from registro.evidence import Bundle
from registro.evidence_store import DatabaseEvidence, EvidenceSink
from registro.queue import NUMERO_OS_RE
from registro.records import SavedIds
from registro.schemas import ScrapedOS
from registro.settings import Settings
from registro.worker.browser import Browser
from registro.worker.evidence import capture
from registro.worker.flow import RawFields, SessionExpired, SiteFlow
from registro.worker.page import short
from registro.worker.profile import SiteProfile, load_profile
from registro.worker.record import RecordBuilder
from registro.worker.session import BrowserSession
from registro.worker.trace import Trace

log = logging.getLogger(__name__)

Progress = Callable[[str, int, str], None]

# Errors meaning the WebDriver session (or its connection) is broken.
_DRIVER_ERRORS = (WebDriverException, urllib3.exceptions.HTTPError, ConnectionError)


def _noop(step: str, percent: int, message: str) -> None:
    pass


class Scraper:
    def __init__(self, settings: Settings, profile: SiteProfile | None = None,
                 evidence: EvidenceSink | None = None):
        self.settings = settings
        self.profile = profile or load_profile(settings.site_profile)
        self.session = BrowserSession(settings)
        self.flow = SiteFlow(settings, self.profile, self.session)
        self.records = RecordBuilder(self.profile)
        self.evidence = (evidence if evidence is not None
                         else DatabaseEvidence.from_settings(settings))
        self.last_trace = Trace()  # of the last scrape: its steps, fields and page
        self.scrapes_done = 0

    # --- lifecycle -------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Quit the browser (no process is left behind)."""
        self.session.close()

    @property
    def browser(self) -> Browser | None:
        return self.session.browser

    @property
    def base_url(self) -> str:
        return self.flow.base_url

    @property
    def sessions_started(self) -> int:
        return self.session.started

    @property
    def sessions_recycled(self) -> int:
        return self.session.recycled

    @property
    def logins(self) -> int:
        return self.flow.logins

    def take_session_counts(self) -> tuple[int, int]:
        """Browser sessions ``(started, recycled)`` since the previous call."""
        return self.session.take_counts()

    # --- the scrape --------------------------------------------------------
    def scrape(self, numero_os: str, progress: Progress | None = None,
               trace: Trace | None = None, *, task_id: str | None = None) -> ScrapedOS:
        """``trace`` (``registro profile check``) gets each step's time and each field's
        reading; on a failure also the page's URL and title. ``task_id``: the Celery
        task's, recorded in a failure's evidence."""
        numero_os = str(numero_os).strip()
        if not NUMERO_OS_RE.match(numero_os):
            raise ValueError(f"invalid OS number {numero_os!r}: 1 to 12 digits")
        progress = progress or _noop
        traced = trace is not None
        trace = trace if trace is not None else Trace()
        self.last_trace = trace
        try:
            try:
                with trace.step("browser"):
                    self.session.ready()
                progress("connected", 10, "Browser session ready")
                result = self._scrape(numero_os, progress, trace)
            except ScrapeError:
                raise
            except SessionExpired:  # only the search retries it; never let it escape
                raise TransientScrapeError(
                    Reason.LOGIN_FAILED, "the site showed the login form unexpectedly"
                ) from None
            except TimeoutException as exc:
                raise self._classify_timeout(str(exc.msg or "timed out")) from None
            except _DRIVER_ERRORS as exc:
                raise TransientScrapeError(
                    Reason.WEBDRIVER_ERROR, f"{type(exc).__name__}: {short(exc)}"
                ) from None
        except ScrapeError as err:
            self._keep_evidence(numero_os, err, task_id, trace)
            if traced:
                trace.page = self._page_info()
            if err.reason == Reason.WEBDRIVER_ERROR:
                self.session.recycle("WebDriver error")
            log.warning("scrape of OS %s failed: %s; evidence: %s", numero_os, err,
                        err.evidence_id or ", ".join(err.artifacts) or "none")
            raise
        finally:
            self.session.scrape_done()
        self.scrapes_done += 1
        return result

    def _scrape(self, numero_os: str, progress: Progress, trace: Trace) -> ScrapedOS:
        if not self.session.logged_in:
            with trace.step("login"):
                self.flow.login()
            progress("logged_in", 25, "Logged in to the legacy system")
        else:
            progress("logged_in", 25, "Reusing the logged-in session")
        try:
            return self._search_and_extract(numero_os, progress, trace)
        except SessionExpired:
            log.info("legacy session expired; logging in again")
            self.session.login_needed()
        with trace.step("login (session expired)"):
            self.flow.login()
        progress("logged_in", 25, "Session expired: logged in again")
        try:
            return self._search_and_extract(numero_os, progress, trace)
        except SessionExpired:
            raise TransientScrapeError(
                Reason.LOGIN_FAILED, "the site logged us out again right after login"
            ) from None

    def _search_and_extract(self, numero_os: str, progress: Progress,
                            trace: Trace) -> ScrapedOS:
        progress("searching", 40, f"Searching OS {numero_os}")
        with trace.step("search"):
            self.flow.search(numero_os)
        raw: RawFields = {}
        blocks = self.profile.extract
        for i, block in enumerate(blocks):
            progress("extracting", 55 + 35 * i // len(blocks),
                     f"Reading {block.name} ({i + 1}/{len(blocks)})")
            with trace.step(f"block {block.name}"):
                raw.update(self.flow.read_block(block, numero_os, trace))
        self.session.to_top()
        with trace.step("parse"):
            return self.records.build(raw, numero_os, trace)

    # --- failures -----------------------------------------------------------------
    def _classify_timeout(self, detail: str) -> TransientScrapeError:
        if self.flow.error_page_shown():
            return TransientScrapeError(Reason.HTTP_ERROR, f"error page shown ({detail})")
        return TransientScrapeError(Reason.TIMEOUT, detail)

    def _page_info(self) -> dict[str, str]:
        """URL and title of the top page (best effort: the browser may be gone)."""
        if self.session.browser is None:
            return {}
        try:
            driver = self.session.driver
            return {"url": driver.current_url, "title": driver.title}
        except Exception:  # noqa: BLE001
            return {}

    def _keep_evidence(self, numero_os: str, err: ScrapeError, task_id: str | None,
                       trace: Trace) -> None:
        """The failure's bundle, unless one of this OS and reason is kept (best effort:
        a failure to keep it never hides the scrape's own error)."""
        try:
            kept = self.evidence.known(numero_os, err.reason.value)
            if kept is None:
                bundle = Bundle(numero_os=numero_os, reason=err.reason.value,
                                message=err.message, task_id=task_id,
                                steps=trace.step_log())
                driver = self.session.driver if self.session.browser is not None else None
                self.session.at_top()  # the capture switches to the top page
                bundle = capture(driver, bundle,
                                 password=self.settings.legacy_password.get_secret_value(),
                                 since_ms=(trace.began_wall - 1) * 1000)
                kept = self.evidence.keep(bundle)
        except Exception:  # e.g. the database is unreachable
            log.warning("could not keep the evidence of OS %s", numero_os, exc_info=True)
            return
        err.evidence_id = err.evidence_id or kept.id
        err.artifacts = err.artifacts or kept.files


def scrape_and_save(scraper: Scraper, database_url: str, numero_os: str,
                    progress: Progress | None = None, *, task_id: str | None = None
                    ) -> tuple[ScrapedOS, SavedIds]:
    """Scrape one OS and store it (cliente, equipamento, OS) in one transaction."""
    from registro.db import session_scope
    from registro.records import save_scraped

    progress = progress or _noop
    scraped = scraper.scrape(numero_os, progress=progress, task_id=task_id)
    progress("saving", 95, "Saving the records")
    with session_scope(database_url) as session:
        ids = save_scraped(session, scraped)
    return scraped, ids


def stored_since(database_url: str, numero_os: str, read_at: str) -> dict | None:
    """The task's result for the stored OS when it was read after ``read_at`` (ISO),
    else None (:func:`registro.records.read_since`)."""
    from registro.db import session_scope
    from registro.records import read_since

    with session_scope(database_url) as session:
        since = read_since(session, numero_os, dt.datetime.fromisoformat(read_at))
        return since.model_dump(mode="json") if since else None
