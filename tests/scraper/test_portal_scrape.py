"""The second demo site, "Portal OS", read by the unchanged engine with its profile
(worker/profiles/portal.yaml): the same records as the first demo gives for the same
numbers, with real headless Chromium against the real site on loopback."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.legacy_demo.data import expected_record
from registro.legacy_demo.portal import serial_in_panel
from registro.schemas import ScrapedOS
from registro.settings import Settings
from registro.worker.scraper import Scraper

from .test_cli import _run

pytestmark = pytest.mark.browser

PORTAL_PROFILE = Path(str(resources.files("registro.worker") / "profiles" / "portal.yaml"))
TABLE_OS = ("1", "8", "777")         # serial in the equipment table (opened before 2022)
PANEL_OS = ("6", "10", "52", "12345")  # serial in the side panel (opened from 2022 on)


@pytest.fixture
def portal_settings(portal, tmp_path, browser_available) -> Settings:
    return Settings(
        legacy_url=portal.url, legacy_username="demo", legacy_password="demo",
        site_profile=PORTAL_PROFILE, artifacts_dir=tmp_path / "artifacts",
        page_timeout_s=10, selenium_url=None, database_url=f"sqlite:///{tmp_path}/r.db",
    )


def test_layouts_of_the_chosen_numbers():
    assert not any(serial_in_panel(n) for n in TABLE_OS)
    assert all(serial_in_panel(n) for n in PANEL_OS)


def test_portal_yields_the_first_demos_records(portal_settings, demo_settings):
    """Every number read from both sites, one session each: field by field equal."""
    numbers = TABLE_OS + PANEL_OS
    with Scraper(portal_settings) as scraper:
        portal = {n: scraper.scrape(n).flat() for n in numbers}
        assert (scraper.sessions_started, scraper.logins) == (1, 1)
    with Scraper(demo_settings) as scraper:
        first = {n: scraper.scrape(n).flat() for n in numbers}
    for n in numbers:
        assert portal[n] == first[n] == expected_record(n).flat(), n
    # dd/mm/yyyy (with a time of day on the portal) and "R$ 1.264.023,59" parsed
    assert portal["6"]["os.valor_total"] == Decimal("1264023.59")
    assert portal["6"]["os.data_abertura"] == dt.date(2025, 6, 9)
    assert portal["1"]["os.valor_total"] is None and portal["1"]["equipamento.tensao_v"] == "127/220"
    assert portal["10"]["cliente.complemento"] is None and portal["8"]["cliente.complemento"]


@pytest.mark.parametrize("numero", ["777", "12345"])  # serial in the table / in the panel
def test_registro_scrape_reads_the_portal_like_the_first_demo(numero, portal, demo, tmp_path,
                                                              browser_available):
    result = _run(["scrape", numero], tmp_path, REGISTRO_SITE_PROFILE=str(PORTAL_PROFILE),
                  REGISTRO_LEGACY_URL=portal.url)
    assert result.returncode == 0, result.stderr
    from_portal = json.loads(result.stdout)
    result = _run(["scrape", numero, "--no-save"], tmp_path, REGISTRO_LEGACY_URL=demo.url)
    assert result.returncode == 0, result.stderr
    from_first = json.loads(result.stdout)

    def record(out: dict) -> ScrapedOS:
        d = out["data"]
        return ScrapedOS(cliente=d["cliente_dados"], equipamento=d["equipamento_dados"],
                         os=d["ordem_servico"])

    assert record(from_portal).flat() == record(from_first).flat() == \
        expected_record(numero).flat()
    assert from_portal["data"] == from_first["data"]
    assert from_portal["scraped_fields"] == expected_record(numero).field_count()
    assert "os_id" in from_portal


def test_registro_scrape_classifies_portal_failures(portal, tmp_path, browser_available):
    env = {"REGISTRO_SITE_PROFILE": str(PORTAL_PROFILE), "REGISTRO_LEGACY_URL": portal.url}
    result = _run(["scrape", "194", "--no-save"], tmp_path, **env)  # the list has 1941...
    assert result.returncode == 3, result.stderr
    assert json.loads(result.stdout)["reason"] == Reason.NOT_FOUND
    result = _run(["scrape", "777", "--no-save"], tmp_path, REGISTRO_LEGACY_PASSWORD="errada",
                  **env)
    assert result.returncode == 4, result.stderr
    out = json.loads(result.stdout)
    assert (out["reason"], out["transient"]) == (Reason.LOGIN_FAILED, False)
    assert sorted(Path(a).suffix for a in out["artifacts"]) == [".html", ".json", ".png"]
    page = next(Path(a) for a in out["artifacts"] if a.endswith(".html")).read_text()
    assert 'id="frmSenha"' in page and "Senha incorreta." in page  # refused at step 2
    assert "errada" not in result.stdout + result.stderr + page
    stats = portal.stats()
    assert (stats["not_found"], stats["login_failures"], stats["os_pages"]) == (1, 1, 0)


def test_unknown_user_is_refused_at_the_first_step(portal, portal_settings):
    settings = portal_settings.model_copy(update={"legacy_username": "outro"})
    with Scraper(settings) as scraper, pytest.raises(PermanentScrapeError) as err:
        scraper.scrape("777")
    assert err.value.reason == Reason.LOGIN_FAILED
    assert portal.stats()["login_failures"] == 1


def test_expired_session_logs_in_again_through_both_steps(portal, portal_settings):
    with Scraper(portal_settings) as scraper:
        assert scraper.scrape("8").flat() == expected_record("8").flat()
        assert portal.expire_sessions() >= 1
        assert scraper.scrape("12345").flat() == expected_record("12345").flat()
        assert (scraper.sessions_started, scraper.logins) == (1, 2)


def test_changed_os_unparsable_value_and_error_page(portal, portal_settings):
    portal.change_os("777", valor_total="R$ 4.321,09", data_conclusao="31/12/2023")
    with Scraper(portal_settings) as scraper:
        record = scraper.scrape("777")
        assert record.os.valor_total == Decimal("4321.09")
        assert record.os.data_conclusao == dt.date(2023, 12, 31)
        portal.change_os("777", valor_total="muito")
        with pytest.raises(PermanentScrapeError) as invalid:
            scraper.scrape("777")
        assert invalid.value.reason == Reason.INVALID_DATA
        assert "os.valor_total" in invalid.value.message
        portal.set_faults(fail_paths=["/os/ver"])
        with pytest.raises(TransientScrapeError) as http_error:
            scraper.scrape("8")
        assert http_error.value.reason == Reason.HTTP_ERROR
