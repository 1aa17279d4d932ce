"""Browser sessions: remote WebDriver, WebDriver errors, no orphan processes, saving."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from devstack import processes
from registro.db import session_scope
from registro.errors import Reason, TransientScrapeError
from registro.legacy_demo.data import expected_record
from registro.models import Cliente, Equipamento, OrdemServico
from registro.records import find_os, to_scraped
from registro.worker.scraper import Scraper, scrape_and_save

pytestmark = pytest.mark.browser


def _chromium_children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True)
                if "chrom" in p.name().lower()]
    except psutil.NoSuchProcess:
        return []


def test_local_browser_leaves_no_process_behind(demo, demo_settings):
    scraper = Scraper(demo_settings)
    scraper.scrape("1")
    driver_pid = scraper.browser.driver_pid
    browser_procs = _chromium_children(driver_pid)
    assert browser_procs, "a local chromium runs under our chromedriver"
    driver_proc = psutil.Process(driver_pid)
    user_data_dir = Path(scraper.browser.user_data_dir)
    assert user_data_dir.is_dir()
    scraper.close()
    _, alive = psutil.wait_procs([driver_proc, *browser_procs], timeout=10)
    assert not alive
    assert not user_data_dir.exists()


def test_remote_webdriver_via_selenium_url(demo, demo_settings):
    driver = processes.start_chromedriver()  # stands in for the pod's browser sidecar
    try:
        settings = demo_settings.model_copy(update={"selenium_url": driver.url})
        with Scraper(settings) as scraper:
            for n in ("4", "5"):
                assert scraper.scrape(n).flat() == expected_record(n).flat()
            assert scraper.browser.remote and scraper.sessions_started == 1
            assert _chromium_children(driver.proc.pid), "the browser runs under the sidecar"
        psutil.wait_procs(_chromium_children(driver.proc.pid), timeout=10)
        assert _chromium_children(driver.proc.pid) == []  # session quit on close
        assert demo.stats()["logins"] == 1
    finally:
        driver.stop()


def test_webdriver_error_is_transient_and_recycles_the_session(demo, demo_settings):
    with Scraper(demo_settings) as scraper:
        scraper.scrape("1")
        victims = _chromium_children(scraper.browser.driver_pid)

        def crash_browser(step, percent, message):
            if step == "searching":
                for p in victims:  # SIGKILL; chromedriver reaps them later
                    p.kill()

        with pytest.raises(TransientScrapeError) as err:
            scraper.scrape("2", progress=crash_browser)
        assert err.value.reason == Reason.WEBDRIVER_ERROR
        assert scraper.sessions_recycled == 1 and scraper.browser is None
        assert scraper.scrape("2").flat() == expected_record("2").flat()
        assert scraper.sessions_started == 2


def test_dead_session_is_replaced_before_use(demo, demo_settings):
    with Scraper(demo_settings) as scraper:
        scraper.scrape("1")
        scraper.browser.driver.quit()  # the session dies between two scrapes
        assert scraper.scrape("6").os.numero_os == "6"  # liveness check: new session
        assert scraper.sessions_started == 2 and scraper.sessions_recycled == 1


def test_scrape_twice_same_ids_no_duplicates(demo, demo_settings, db_url):
    with Scraper(demo_settings) as scraper:
        steps = []
        _, ids1 = scrape_and_save(scraper, db_url, "42",
                                      progress=lambda s, p, m: steps.append(s))
        _, ids2 = scrape_and_save(scraper, db_url, "42")
        _, ids_other = scrape_and_save(scraper, db_url, "1")  # same cliente as OS 42
    assert steps[-1] == "saving"
    assert ids1 == ids2
    assert ids_other.cliente_id == ids1.cliente_id and ids_other.os_id != ids1.os_id
    with session_scope(db_url) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OrdemServico)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(Cliente)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Equipamento)) == 2
        assert to_scraped(find_os(s, "42")).flat() == expected_record("42").flat()
