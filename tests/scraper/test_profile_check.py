"""`registro profile check` against the demo legacy system, as a user runs it (a
subprocess, real Chromium): the per-field table, the JSON document, a broken selector,
evidence, credentials; and the engine's lossless int -> text conversion."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from registro.legacy_demo.data import expected_record
from registro.schemas import ALL_FIELDS, ScrapedOS
from registro.worker.profile import default_profile_path, load_profile
from registro.worker.scraper import Scraper

pytestmark = pytest.mark.browser

REGISTRO = Path(sys.executable).with_name("registro")
DEMO = default_profile_path()


def _run(args, tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRO_")
             and k not in ("DATABASE_URL", "SELENIUM_URL", "LEGACY_URL")}
    clean.update(REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"), **env)
    return subprocess.run([str(REGISTRO), "profile", "check", *args], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=240, check=False)


def _row(out: str, field: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(field + " ")
                or line.strip().startswith(field + " *"))


def test_check_prints_each_field_step_times_and_logs_in_once(demo, tmp_path,
                                                             browser_available):
    result = _run([str(DEMO), "--os", "12345", "--os", "777", "--url", demo.url,
                   "--username", "demo", "--password-env", "DEMO_PW"], tmp_path,
                  DEMO_PW=demo.password)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OS 12345: OK in " in out and "OS 777: OK in " in out
    assert demo.stats()["logins"] == 1  # one login, one browser session for both
    want = expected_record("12345").flat()
    first = out.split("OS 777:")[0]
    for field in ALL_FIELDS:
        row = _row(first, field)
        if want[field] is None:
            assert "matched but empty" in row, row
        else:
            assert str(want[field])[:30] in row, (field, row)  # long texts fold
    assert "#os-numero" in _row(first, "os.numero_os")  # the locator that matched
    assert "label:CNPJ" in _row(first, "cliente.cnpj")
    assert "27.743.063/0001-94" in _row(first, "cliente.cnpj")  # the page's text
    for step in ("browser", "login", "search", "block cliente", "block dados tecnicos",
                 "block servico", "parse"):
        assert any(line.strip().startswith(step + " ") and line.rstrip().endswith(" ms")
                   for line in first.splitlines()), step
    assert "2/2 OS read with every required field" in out


def test_check_json_document(demo, tmp_path, browser_available):
    result = _run([str(DEMO), "--os", "777", "--os", "1", "--url", demo.url, "--json"],
                  tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["base_url"] == demo.url
    assert [o["numero_os"] for o in doc["os"]] == ["777", "1"]
    for report in doc["os"]:
        assert report["ok"] and report["failure"] is None
        want = expected_record(report["numero_os"]).flat()
        fields = {f["field"]: f for f in report["fields"]}
        assert list(fields) == list(ALL_FIELDS)
        for key, f in fields.items():
            if want[key] is None:
                assert (f["status"], f["value"]) == ("empty", None), f
                assert f["detail"].startswith("matched but empty")
            else:
                assert f["status"] == "ok" and f["matched"], f
        sections: dict = {}
        for key, f in fields.items():
            section, name = key.split(".")
            sections.setdefault(section, {})[name] = f["value"]
        assert ScrapedOS.model_validate(sections).flat() == want  # the values, typed again
        assert fields["cliente.cnpj"]["required"] and not fields["os.status"]["required"]
    steps = [[s["step"] for s in o["steps"]] for o in doc["os"]]
    assert steps[0][:3] == ["browser", "login", "search"]
    assert "login" not in steps[1]  # the session is reused
    assert all(s["seconds"] >= 0 and s["ok"] for o in doc["os"] for s in o["steps"])


def test_broken_selector_names_the_field_exits_non_zero_and_keeps_evidence(
        demo, tmp_path, browser_available):
    profile = tmp_path / "broken.yaml"
    profile.write_text(DEMO.read_text(encoding="utf-8").replace('"#srv-setor"',
                                                                 '"#srv-setor-x"'),
                       encoding="utf-8")
    evidence = tmp_path / "evidence"
    result = _run([str(profile), "--os", "12345", "--url", demo.url, "--evidence",
                   str(evidence)], tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "OS 12345: FAILED" in out
    assert ("failure: profile_mismatch (permanent): profile 'demo' no longer matches the page,"
            " block 'servico': missing os.setor (#srv-setor-x)") in out
    assert "no element matched: #srv-setor-x" in _row(out, "os.setor")
    # the other fields, read before the failure, still show their values
    assert expected_record("12345").cliente.razao_social in _row(out, "cliente.razao_social")
    assert "(failed)" in next(line for line in out.splitlines()
                              if line.strip().startswith("block servico"))
    bundle = evidence / "12345"
    assert sorted(p.name for p in evidence.iterdir()) == ["12345"]
    assert sorted(p.name for p in bundle.iterdir()) == [
        "evidencia.json", "fields.json", "page.html", "screenshot.png"]
    assert (bundle / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "srv-setor" in (bundle / "page.html").read_text(encoding="utf-8")
    meta = json.loads((bundle / "evidencia.json").read_text(encoding="utf-8"))
    assert meta["url"] == f"{demo.url}/os/12345" and "12345" in meta["titulo"]
    assert meta["motivo"] == "profile_mismatch" and "os.setor" in meta["mensagem"]
    last = meta["passos"][-1]
    assert last["passo"] == "block servico" and last["resultado"] == "falhou"
    fields = json.loads((bundle / "fields.json").read_text(encoding="utf-8"))["fields"]
    setor = next(f for f in fields if f["field"] == "os.setor")
    assert setor["status"] == "no_match"
    assert f"evidence: {bundle}" in out


def test_password_from_env_never_printed_refused_login_not_retried(demo, tmp_path,
                                                                   browser_available):
    secret = f"wrong-{secrets.token_hex(6)}"
    result = _run([str(DEMO), "--os", "1", "--os", "2", "--url", demo.url, "--json",
                   "--password-env", "CHECK_PW", "--evidence", str(tmp_path / "ev")],
                  tmp_path, CHECK_PW=secret)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    first, second = doc["os"]
    assert first["failure"]["reason"] == "login_failed"
    assert second["failure"]["message"].startswith("not tried")
    assert demo.stats()["login_failures"] == 1  # refused credentials are not retried
    written = "".join(p.read_text(encoding="utf-8", errors="replace")
                      for p in (tmp_path / "ev").rglob("*") if p.is_file())
    assert secret not in result.stdout + result.stderr + written
    missing = _run([str(DEMO), "--os", "1", "--password-env", "NOT_SET_ANYWHERE"], tmp_path)
    assert missing.returncode == 2 and "NOT_SET_ANYWHERE" in missing.stderr


def test_int_from_a_map_on_a_text_field_converts_without_loss(demo, demo_settings, tmp_path):
    """YAML reads `{map: {Normal: 2}}` as the number 2: the read stores the text '2'
    instead of failing with 'Input should be a valid string'."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["extract"][0]["fields"]["os.prioridade"]["parse"] = [
        {"map": {"Baixa": 1, "Normal": 2, "Alta": 3, "Urgente": 4}}]
    path = tmp_path / "mapped.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with Scraper(demo_settings, load_profile(path)) as scraper:
        assert expected_record("12345").os.prioridade == "Normal"
        assert scraper.scrape("12345").os.prioridade == "2"
        assert expected_record("777").os.prioridade == "Urgente"
        assert scraper.scrape("777").os.prioridade == "4"
