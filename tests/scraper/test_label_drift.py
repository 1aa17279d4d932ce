"""A renamed label on the page (the demo's POST /_demo/labels): a field the profile
must find fails the read (profile_mismatch); an optional one comes back empty and the
read is saved with a hole, which the field drift counters then show (issue 19)."""

from __future__ import annotations

import httpx
import pytest
import yaml

from registro.errors import PermanentScrapeError, Reason
from registro.worker.profile import default_profile_path, load_profile
from registro.worker.scraper import Scraper

pytestmark = pytest.mark.browser


def _rename(demo, **labels: str | None) -> None:
    httpx.post(f"{demo.url}/_demo/labels", json=labels,
               headers={"Authorization": f"Bearer {demo.admin_token}"}).raise_for_status()


def test_renamed_label(demo, demo_settings, tmp_path):
    data = yaml.safe_load(default_profile_path().read_text(encoding="utf-8"))
    data["extract"][0]["fields"]["cliente.telefone"]["optional"] = True
    optional = tmp_path / "optional-telefone.yaml"
    optional.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with Scraper(demo_settings) as strict, \
            Scraper(demo_settings, load_profile(optional)) as lenient:
        assert strict.scrape("42").cliente.telefone
        assert lenient.scrape("42").cliente.telefone
        _rename(demo, Telefone="Fone")
        with pytest.raises(PermanentScrapeError) as err:
            strict.scrape("42")
        assert err.value.reason == Reason.PROFILE_MISMATCH
        assert "label:Telefone" in err.value.message
        assert lenient.scrape("42").cliente.telefone is None
        _rename(demo, Telefone=None)
        assert lenient.scrape("42").cliente.telefone
