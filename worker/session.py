"""The browser session's life cycle: started lazily, reused, checked, recycled, closed.

One ``BrowserSession`` holds at most one WebDriver session at a time (``browser.py``
starts it). Before each scrape ``ready()`` runs a one-round-trip liveness check; the
session is replaced after ``settings.session_max_scrapes`` scrapes and when the check
fails; ``recycle()`` after a WebDriver error. Not thread-safe: one per worker process.
Its state (logged in, inside a frame, scrapes done) is read by the flow and the scraper
and changed only through its methods.
"""

from __future__ import annotations

import logging

from selenium.webdriver.remote.webdriver import WebDriver

from registro.settings import Settings
from registro.worker.browser import Browser, open_browser

log = logging.getLogger(__name__)


class BrowserSession:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.browser: Browser | None = None
        self._logged_in = False  # the site's session in this browser
        self._in_frame = False  # WebDriver has switched into a frame
        self._scrapes = 0  # scrapes done in the current browser
        self.started = 0  # browsers started, ever
        self.recycled = 0  # browsers closed and replaced, ever
        self._reported = (0, 0)

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    @property
    def in_frame(self) -> bool:
        return self._in_frame

    @property
    def scrapes(self) -> int:
        return self._scrapes

    def login_succeeded(self) -> None:
        self._logged_in = True

    def login_needed(self) -> None:
        """The site's session is gone (expired, refused, or a login is under way)."""
        self._logged_in = False

    def entered_frame(self) -> None:
        self._in_frame = True

    def at_top(self) -> None:
        """WebDriver is on the top page again (switched by the caller)."""
        self._in_frame = False

    def scrape_done(self) -> None:
        if self.browser is not None:
            self._scrapes += 1

    @property
    def driver(self) -> WebDriver:
        if self.browser is None:
            raise RuntimeError("no browser session: call ready() first")
        return self.browser.driver

    def ready(self) -> Browser:
        """The session to scrape with: the current one if fit, else a new one."""
        if self.browser is not None:
            if self.scrapes >= self.settings.session_max_scrapes:
                self.recycle(f"{self.scrapes} scrapes done")
            elif not self.browser.alive():
                self.recycle("liveness check failed")
        if self.browser is None:
            self.browser = open_browser(self.settings)
            self.started += 1
            self._logged_in = self._in_frame = False
            self._scrapes = 0
        return self.browser

    def recycle(self, why: str) -> None:
        if self.browser is not None:
            log.info("recycling browser session: %s", why)
            self.recycled += 1
            self.close()

    def close(self) -> None:
        """Quit the browser (no process is left behind)."""
        if self.browser is not None:
            browser, self.browser = self.browser, None
            browser.quit()
        self._logged_in = False
        self._scrapes = 0

    def to_top(self) -> None:
        """Back to the top page if a native step switched into a frame."""
        if self._in_frame and self.browser is not None:
            self.browser.driver.switch_to.default_content()
            self._in_frame = False

    def take_counts(self) -> tuple[int, int]:
        """Sessions ``(started, recycled)`` since the previous call: what a metrics
        exporter adds to its counters. The state lives here, so a new session object
        (after the old one was dropped) starts from zero."""
        started, recycled = self.started - self._reported[0], self.recycled - self._reported[1]
        self._reported = (self.started, self.recycled)
        return started, recycled
