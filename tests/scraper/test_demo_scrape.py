"""The scraper against the demo legacy system: real Chromium, real chromedriver."""

from __future__ import annotations

import pytest

from registro import evidence_store
from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.legacy_demo.data import expected_record
from registro.worker.scraper import Scraper

pytestmark = pytest.mark.browser

# Open and closed orders, shared cliente (1/42), a return visit (130), long
# observações behind "Mostrar mais", leading-zero-free numbers up to 6 digits.
OS_NUMBERS = ["1", "42", "130", "2024", "123456"]


def _assert_evidence(err, settings):
    """The failure kept its evidence bundle in the database: screenshot and page."""
    assert err.evidence_id, err
    meta = evidence_store.read_metadata(settings.database_url, err.evidence_id)
    assert meta["motivo"] == err.reason.value
    assert [p["nome"] for p in meta["partes"]] == ["screenshot.png", "page.html"]
    assert meta["passos"][-1]["resultado"] == "falhou"
    _, png = evidence_store.read_part(settings.database_url, err.evidence_id, "screenshot.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    _, html = evidence_store.read_part(settings.database_url, err.evidence_id, "page.html")
    assert b"<body" in html


def test_every_field_of_several_os_one_session(demo, demo_settings):
    steps = []
    with Scraper(demo_settings) as scraper:
        for n in OS_NUMBERS:
            got = scraper.scrape(n, progress=lambda s, p, m: steps.append((s, p)))
            want = expected_record(n)
            assert got.flat() == want.flat(), n
        assert scraper.sessions_started == 1
        assert scraper.scrapes_done == len(OS_NUMBERS)
    assert demo.stats()["logins"] == 1  # N scrapes, one login, one browser session
    first = [s for s, _ in steps[:6]]
    assert first[:4] == ["connected", "logged_in", "searching", "extracting"]
    percents = [p for _, p in steps[: len(steps) // len(OS_NUMBERS)]]
    assert percents == sorted(percents) and percents[-1] < 95


def test_not_found_is_permanent_with_evidence(demo, demo_settings):
    with Scraper(demo_settings) as scraper, pytest.raises(PermanentScrapeError) as err:
        scraper.scrape("97")  # multiples of 97 do not exist in the demo
    assert err.value.reason == Reason.NOT_FOUND
    _assert_evidence(err.value, demo_settings)


def test_login_failure_is_permanent(demo, demo_settings):
    demo.set_faults(login_fails=True)
    with Scraper(demo_settings) as scraper, pytest.raises(PermanentScrapeError) as err:
        scraper.scrape("1")
    assert err.value.reason == Reason.LOGIN_FAILED
    _assert_evidence(err.value, demo_settings)
    assert demo.stats()["login_failures"] == 1


@pytest.mark.parametrize("faults", [
    {"fail_paths": ["/api/os/"]},     # the OS page's data request fails
    {"fail_paths": ["/os/"]},         # the search and OS pages answer 500
])
def test_http_500_is_transient(demo, demo_settings, faults):
    with Scraper(demo_settings) as scraper:
        demo.set_faults(**faults)
        with pytest.raises(TransientScrapeError) as err:
            scraper.scrape("1")
        assert err.value.reason == Reason.HTTP_ERROR
        _assert_evidence(err.value, demo_settings)
        demo.set_faults(fail_paths=[])
        assert scraper.scrape("1").os.numero_os == "1"  # same session recovers
        assert scraper.sessions_started == 1


def test_slow_page_is_a_transient_timeout(demo, demo_settings):
    demo.set_faults(slow_os_ms=6000)
    settings = demo_settings.model_copy(update={"page_timeout_s": 2.0})
    with Scraper(settings) as scraper, pytest.raises(TransientScrapeError) as err:
        scraper.scrape("1")
    assert err.value.reason == Reason.TIMEOUT
    _assert_evidence(err.value, demo_settings)


def test_expired_session_is_reestablished(demo, demo_settings):
    with Scraper(demo_settings) as scraper:
        assert scraper.scrape("1").os.numero_os == "1"
        assert demo.expire_sessions() == 1
        assert scraper.scrape("2").flat() == expected_record("2").flat()
        assert scraper.sessions_started == 1
    stats = demo.stats()
    assert stats["logins"] == 2 and stats["sessions_expired"] >= 1


def test_session_expiring_between_login_and_search(demo, demo_settings):
    expired = []

    def expire_once(step, percent, message):
        if step == "searching" and not expired:
            expired.append(demo.expire_sessions())

    with Scraper(demo_settings) as scraper:
        got = scraper.scrape("3", progress=expire_once)
        assert scraper.sessions_started == 1
    assert expired == [1]
    assert got.flat() == expected_record("3").flat()
    assert demo.stats()["logins"] == 2


def test_recycles_after_max_scrapes(demo, demo_settings):
    settings = demo_settings.model_copy(update={"session_max_scrapes": 2})
    with Scraper(settings) as scraper:
        for n in ("1", "2", "3", "4", "5"):
            scraper.scrape(n)
        assert scraper.sessions_started == 3
        assert scraper.sessions_recycled == 2
    assert demo.stats()["logins"] == 3
