"""Profile loading and validation: clear errors on bad profiles."""

from __future__ import annotations

import copy

import pytest
import yaml

from registro.schemas import ALL_FIELDS
from registro.worker.profile import (
    ProfileError,
    default_profile_path,
    load_profile,
    parse_profile,
)

from .conftest import SITE2


def _demo_data() -> dict:
    return yaml.safe_load(default_profile_path().read_text(encoding="utf-8"))


def test_shipped_profiles_load_and_cover_every_field():
    demo = load_profile()
    assert demo.name == "demo"
    assert set(demo.field_specs()) == set(ALL_FIELDS)  # all 48 fields
    assert set(load_profile(SITE2 / "profile.yaml").field_specs()) == set(ALL_FIELDS)


def test_profiles_hold_no_credentials():
    text = default_profile_path().read_text(encoding="utf-8")
    assert "{username}" in text and "{password}" in text
    steps = load_profile().login.steps
    typed = [s.text for s in steps if s.type]
    assert typed == ["{username}", "{password}"]


def _broken(mutate) -> str:
    data = copy.deepcopy(_demo_data())
    mutate(data)
    with pytest.raises(ProfileError) as err:
        parse_profile(data, "broken.yaml")
    return str(err.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["extract"][0]["fields"].update({"cliente.cpf": {"css": "#x"}}),
     "unknown field 'cliente.cpf'"),
    (lambda d: d["extract"][0]["fields"].pop("cliente.cnpj"),
     "required fields missing from extract: ['cliente.cnpj']"),
    (lambda d: d["extract"][1]["fields"].update({"os.status": {"css": "#x"}}),
     "field os.status appears in blocks"),
    (lambda d: d["extract"][0]["fields"].update({"os.status": {"css": "#a", "label": "b"}}),
     "exactly one of css/xpath/label/value"),
    (lambda d: d["extract"][0]["fields"].update({"os.status": {"css": "#a", "parse": ["x"]}}),
     "unknown parser 'x'"),
    (lambda d: d["extract"][0]["fields"].update({"os.status": {"css": "#a", "colour": 1}}),
     "Extra inputs are not permitted"),
    (lambda d: d["login"]["steps"].append({"type": "#u", "text": "{api_key}"}),
     "unknown placeholder {api_key}"),
    (lambda d: d["login"]["steps"].append({"click": "#a", "goto": "/b"}),
     "exactly one of"),
    (lambda d: d.pop("search"), "search: Field required"),
    (lambda d: d.update(logged_out={}), "a condition needs at least one key"),
    (lambda d: d["extract"][0]["fields"].update(
        {"os.status": {"css": "#a", "parse": [{"regex": "("}]}}), "bad regex"),
])
def test_bad_profiles_are_rejected_clearly(mutate, message):
    text = _broken(mutate)
    assert "invalid site profile broken.yaml" in text
    assert message in text


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)


def test_settings_choose_the_profile_and_url(tmp_path, monkeypatch):
    from registro.settings import Settings
    from registro.worker.scraper import Scraper

    monkeypatch.setenv("REGISTRO_SITE_PROFILE", str(SITE2 / "profile.yaml"))
    monkeypatch.setenv("REGISTRO_LEGACY_URL", "http://127.0.0.1:1234/erp/")
    scraper = Scraper(Settings())  # no browser starts before the first scrape
    assert scraper.profile.name == "oficina2000"
    assert scraper.base_url == "http://127.0.0.1:1234/erp"
    assert scraper.flow.url("/busca.html") == "http://127.0.0.1:1234/erp/busca.html"
    assert scraper.browser is None
    with pytest.raises(ValueError, match="invalid OS number"):
        scraper.scrape("12; DROP TABLE")
    assert scraper.browser is None
