"""`registro scrape` end to end, as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from registro.cli import exit_code_for
from registro.errors import PermanentScrapeError, Reason, TransientScrapeError
from registro.legacy_demo.data import expected_record
from registro.schemas import ScrapedOS

pytestmark = pytest.mark.browser

REGISTRO = Path(sys.executable).with_name("registro")


def _run(args, tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRO_")
             and k not in ("DATABASE_URL", "SELENIUM_URL", "LEGACY_URL")}
    clean.update(REGISTRO_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
                 REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"), **env)
    return subprocess.run([str(REGISTRO), *args], cwd=tmp_path, env=clean, capture_output=True,
                          text=True, timeout=180, check=False)


def test_scrape_starts_the_demo_prints_json_and_stores(tmp_path, browser_available):
    result = _run(["scrape", "777"], tmp_path)  # nothing configured: the demo starts
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "success"
    data, want = out["data"], expected_record("777")
    assert (data["numero_os"], data["cliente"]) == ("777", want.cliente.razao_social)
    got = ScrapedOS(cliente=data["cliente_dados"], equipamento=data["equipamento_dados"],
                    os=data["ordem_servico"])
    assert got.flat() == want.flat()
    assert out["scraped_fields"] == want.field_count()
    assert "started the demo system" in result.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT id, numero_os, cliente_id FROM ordem_servico")).one()
    engine.dispose()
    assert (row.id, row.numero_os, row.cliente_id) == (out["os_id"], "777", out["cliente_id"])


def test_scrape_exit_codes(tmp_path, demo, browser_available):
    result = _run(["scrape", "194"], tmp_path, REGISTRO_LEGACY_URL=demo.url)
    assert result.returncode == 3, result.stderr
    out = json.loads(result.stdout)
    assert out["reason"] == "not_found"  # the evidence as files, in REGISTRO_ARTIFACTS_DIR
    assert {Path(a).name for a in out["artifacts"]} == {"evidencia.json", "screenshot.png",
                                                        "page.html"}
    assert all(Path(a).is_relative_to(tmp_path / "artifacts") for a in out["artifacts"])
    demo.set_faults(fail_paths=["/os/"])
    result = _run(["scrape", "1", "--no-save"], tmp_path, REGISTRO_LEGACY_URL=demo.url)
    assert result.returncode == 6, result.stderr
    assert json.loads(result.stdout)["transient"] is True
    assert _run(["scrape", "12a"], tmp_path).returncode == 2


@pytest.mark.parametrize("error, code", [
    (PermanentScrapeError(Reason.NOT_FOUND, "x"), 3),
    (PermanentScrapeError(Reason.LOGIN_FAILED, "x"), 4),
    (PermanentScrapeError(Reason.PROFILE_MISMATCH, "x"), 5),
    (PermanentScrapeError(Reason.INVALID_DATA, "x"), 5),
    (TransientScrapeError(Reason.TIMEOUT, "x"), 6),
    (TransientScrapeError(Reason.HTTP_ERROR, "x"), 6),
    (TransientScrapeError(Reason.LOGIN_FAILED, "logged out again"), 6),
])
def test_exit_code_mapping(error, code):
    assert exit_code_for(error) == code


def test_demo_and_db_upgrade_commands(tmp_path):
    import httpx

    from devstack import processes

    port = processes.free_port()
    proc = subprocess.Popen([str(REGISTRO), "demo", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        processes.wait_for_port(port, timeout=60, proc=proc)
        page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert page.status_code == 200 and 'id="form-login"' in page.text
    finally:
        proc.terminate()
        proc.wait(10)
    result = _run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/cli.db")
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"cliente", "equipamento", "ordem_servico"} <= tables
