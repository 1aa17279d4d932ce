"""Synchronous scraping in the API process, when the queue cannot take the work.

At most ``fallback_max_browsers`` scrapes run at once per process, each on its own
browser session kept for reuse; a request beyond the bound is refused at once
(503 + Retry-After) instead of starting one more browser.
"""

from __future__ import annotations

import logging
import queue
import threading

from registro.api import metrics
from registro.settings import Settings

log = logging.getLogger("registro.api.fallback")


class FallbackBusy(Exception):
    """Every fallback slot is in use."""


class FallbackScrapers:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.bound = settings.fallback_max_browsers
        self._slots = threading.BoundedSemaphore(max(self.bound, 1))
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._all: list = []
        self._lock = threading.Lock()
        self.in_use = 0

    def _take_scraper(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            from registro.worker.scraper import Scraper

            scraper = Scraper(self.settings)
            with self._lock:
                self._all.append(scraper)
            return scraper

    def run(self, numero_os: str):
        """Scrape and save ``numero_os``; raises ``FallbackBusy`` beyond the bound."""
        if self.bound <= 0 or not self._slots.acquire(blocking=False):
            raise FallbackBusy()
        with self._lock:
            self.in_use += 1
        try:
            from registro.worker.scraper import scrape_and_save

            scraper = self._take_scraper()
            try:
                scraped, ids = scrape_and_save(scraper, self.settings.database_url, numero_os)
            finally:
                self._idle.put(scraper)
            metrics.FIELDS.count(scraped, scraper.profile.field_specs())
            return scraped, ids
        finally:
            with self._lock:
                self.in_use -= 1
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            scrapers, self._all = self._all, []
        for scraper in scrapers:
            try:
                scraper.close()
            except Exception:
                log.warning("closing a fallback browser failed", exc_info=True)
