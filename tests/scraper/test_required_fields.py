"""A read that misses a required field (issue 19, part 3) is ``profile_mismatch`` and is
never saved over the good record already stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registro.db import session_scope, upgrade
from registro.errors import PermanentScrapeError, Reason
from registro.models import OrdemServico
from registro.records import find_os, to_scraped
from registro.worker.profile import REQUIRED_FIELDS, load_profile
from registro.worker.record import RecordBuilder
from registro.worker.scraper import Scraper, scrape_and_save


def _raw(**changes: str | None) -> dict[str, str | None]:
    from registro.legacy_demo.data import expected_record

    flat = {k: (None if v is None else str(v)) for k, v in expected_record("1").flat().items()}
    flat.update(changes)
    return flat


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_an_empty_required_field_is_a_profile_mismatch(field):
    builder = RecordBuilder(load_profile())
    assert builder.build(_raw(), "1").os.numero_os == "1"
    for empty in (None, "—"):
        with pytest.raises(PermanentScrapeError) as err:
            builder.build(_raw(**{field: empty}), "1")
        assert err.value.reason == Reason.PROFILE_MISMATCH, err.value
        assert field in err.value.message


def test_a_mismatched_read_keeps_the_stored_record(demo, demo_settings):
    upgrade(demo_settings.database_url)
    with Scraper(demo_settings) as scraper:
        good, _ids = scrape_and_save(scraper, demo_settings.database_url, "2024")
        with session_scope(demo_settings.database_url) as s:
            read_at = s.scalar(select(OrdemServico.scraped_at)
                               .where(OrdemServico.numero_os == "2024"))
        # The site stops showing the CNPJ (the demo's absent value, "—") and changes
        # another field: the read fails as a whole, nothing of it is saved.
        demo.change_os("2024", cnpj=None, diagnostico="Trocado o rotor.")
        with pytest.raises(PermanentScrapeError) as err:
            scrape_and_save(scraper, demo_settings.database_url, "2024")
    assert err.value.reason == Reason.PROFILE_MISMATCH, err.value
    assert "cliente.cnpj" in err.value.message
    with session_scope(demo_settings.database_url) as s:
        row = find_os(s, "2024")
        assert row is not None and row.scraped_at == read_at
        assert to_scraped(row).flat() == good.flat()
