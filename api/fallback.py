"""Synchronous scraping in the API process, when the queue cannot take the work.

At most ``fallback_max_browsers`` scrapes run at once per process, each on its own
browser session kept for reuse; a request beyond the bound is refused at once
(503 + Retry-After) instead of starting one more browser.

Each scrape first takes a token of the global legacy budget in Redis, the bucket the
workers draw from (``worker/ratelimit.py``), waiting at most ``fallback_budget_wait_s``
(beyond: 503 + Retry-After). It runs in the threadpool (``lookup.buscar_os``), so the
wait never blocks the event loop, and it holds a slot meanwhile, so at most
``fallback_max_browsers`` threads per process wait. With Redis unreachable no token can
be taken: the bound on browsers is then the only limit.
"""

from __future__ import annotations

import logging
import queue
import threading

import redis

from registro.api import metrics
from registro.settings import Settings
from registro.worker.ratelimit import BudgetExhausted, legacy_limiter, retry_after

log = logging.getLogger("registro.api.fallback")


class FallbackBusy(Exception):
    """Every fallback slot is in use, or (``rate_limited``) the legacy budget has no
    token within the wait bound; ``retry_after_s``: when to ask again."""

    def __init__(self, retry_after_s: int = 10, *, rate_limited: bool = False):
        super().__init__("legacy budget exhausted" if rate_limited else "fallback busy")
        self.retry_after_s = retry_after_s
        self.rate_limited = rate_limited


class FallbackScrapers:
    def __init__(self, settings: Settings, redis_client: redis.Redis | None = None):
        self.settings = settings
        self.limiter = (legacy_limiter(redis_client, settings) if redis_client is not None
                        else None)
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

    def _take_token(self) -> None:
        """One token of the global legacy budget, or ``FallbackBusy``; none taken (and
        none waited for) when Redis cannot be reached."""
        if self.limiter is None:
            return
        try:
            self.limiter.acquire(max_wait_s=self.settings.fallback_budget_wait_s)
        except BudgetExhausted as exc:
            raise FallbackBusy(retry_after(exc.retry_after_s), rate_limited=True) from None
        except redis.RedisError as exc:
            log.warning("legacy budget unreachable (%s): the fallback's own bound applies",
                        type(exc).__name__)

    def run(self, numero_os: str, *, budget: bool = True):
        """Scrape and save ``numero_os``; raises ``FallbackBusy`` beyond the bound or the
        budget. ``budget=False``: Redis is known to be down, take no token."""
        if self.bound <= 0 or not self._slots.acquire(blocking=False):
            raise FallbackBusy()
        with self._lock:
            self.in_use += 1
        try:
            if budget:
                self._take_token()
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
