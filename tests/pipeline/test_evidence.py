"""Failure evidence that survives the pod and reaches the operator: a real failed task
(real worker, Chromium, Redis, database) keeps its bundle in the database; the FAILURE
answer carries its id; another API process serves it after the worker is gone and its
artifacts directory removed; no secret is in what was stored. The synchronous fallback's
failure carries its bundle too."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from registro.db import session_scope
from tests.pipeline.harness import Api, wait_status

pytestmark = [pytest.mark.redis, pytest.mark.browser]
POST = "/api/desenvolvimento/buscar-os-async/{}"
EVIDENCE = "/api/desenvolvimento/evidencias/{}"
PROFILE = Path(__file__).parents[2] / "worker" / "profiles" / "demo.yaml"
PASSWORD = "Leg@do-s3nha-7f3K"  # the worker's legacy password: must never be stored
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REGISTRO = Path(sys.executable).with_name("registro")


@pytest.fixture(scope="module")
def stack(private_stack):
    """Stops its workers: a stack of its own."""
    return private_stack


def broken_profile(workdir: Path) -> Path:
    """The demo's profile with a submit button that no longer exists, on a site whose
    script mirrors typed values into the page (the password lands in the HTML)."""
    profile = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    profile["login"]["steps"] = [
        {"type": "#usuario", "text": "{username}"},
        {"type": "#senha", "text": "{password}"},
        {"js": "document.querySelectorAll('input').forEach("
               "function (i) { i.setAttribute('value', i.value); });"
               "console.error('login script: ' + document.querySelector('#senha').value);"},
        {"click": "#btn-entrar-renomeado"},
    ]
    path = workdir / "demo-broken.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return path


def evidence_get(stack, api: Api, evidencia_id: str) -> Path:
    """``registro evidence get`` as an operator runs it, against ``api``."""
    target = stack.workdir / f"evidence-{evidencia_id}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRO_")}
    result = subprocess.run(
        [str(REGISTRO), "evidence", "get", evidencia_id, "--dir", str(target),
         "--api", api.url], env={**env, "REGISTRO_API_KEY": stack.api_key},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(Path(p).name for p in result.stdout.split()) == [
        "evidencia.json", "page.html", "screenshot.png"]
    return target


def stored_text(db_url: str, evidencia_id: str) -> str:
    """Everything the database holds for the bundle, decompressed."""
    from registro.models import Evidencia

    with session_scope(db_url) as s:
        row = s.get(Evidencia, evidencia_id)
        assert row is not None
        return "\n".join([row.mensagem, row.url or "", row.titulo or "",
                          gzip.decompress(row.html_gz).decode(),
                          gzip.decompress(row.log_gz).decode(),
                          (row.screenshot_png or b"").decode("latin-1")])


def assert_no_password(text: str) -> None:
    for form in (PASSWORD, quote(PASSWORD, safe=""), PASSWORD.replace("@", "%40")):
        assert form not in text


def test_failed_task_evidence_outlives_the_worker_and_is_served_by_another_api(stack):
    stack.stop_workers()
    # 8 s: the wait for the renamed button ends the try; 3 s once let a loaded machine's
    # login page time out first, so the step log named the timeout instead of the button.
    stack.start_worker("evidence", REGISTRO_SITE_PROFILE=broken_profile(stack.workdir),
                       REGISTRO_LEGACY_PASSWORD=PASSWORD, REGISTRO_PAGE_TIMEOUT_S=8,
                       REGISTRO_TASK_MAX_RETRIES=0)
    lookup_api, other_api = Api(stack), Api(stack)
    try:
        with lookup_api.client() as a:
            queued = a.post(POST.format("3101")).json()
            assert queued["status"] == "queued", queued
            done = wait_status(a, queued["task_id"], {"SUCCESS", "FAILURE"})
        assert done["status"] == "FAILURE" and done["reason"] == "retries_exhausted", done
        evidencia_id = done["evidencia_id"]  # the FAILURE answer points at the bundle

        # The pod goes: worker stopped, its artifacts directory gone, and the API
        # process that served the lookup stopped too.
        stack.stop_workers()
        shutil.rmtree(stack.workdir / "artifacts", ignore_errors=True)
        lookup_api.stop()

        with other_api.client() as b:
            meta = b.get(EVIDENCE.format(evidencia_id))
            shot = b.get(EVIDENCE.format(evidencia_id) + "/screenshot.png")
            page = b.get(EVIDENCE.format(evidencia_id) + "/page.html")
            assert httpx.get(other_api.url + EVIDENCE.format(evidencia_id),
                             timeout=30).status_code == 401
            assert b.get(EVIDENCE.format("0" * 32)).status_code == 404
        saved = evidence_get(stack, other_api, evidencia_id)
    finally:
        lookup_api.stop()
        other_api.stop()

    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert (body["numero_os"], body["motivo"], body["task_id"]) == (
        "3101", "timeout", queued["task_id"])  # the try's own reason; the task's: exhausted
    assert body["url"].startswith(stack.demo.url + "/login"), body["passos"]
    assert body["titulo"] == "SGO — Acesso ao sistema"
    steps = {s["passo"]: s for s in body["passos"]}
    assert steps["login"]["resultado"] == "falhou"
    assert "btn-entrar-renomeado" in steps["login"]["detalhe"]
    assert any("login script" in e["mensagem"] for e in body["erros_console"])
    assert shot.status_code == 200 and shot.content[:8] == PNG_MAGIC
    assert page.status_code == 200
    html = page.text
    assert 'id="usuario"' in html and 'value="demo"' in html  # the page as it was left
    assert 'name="csrf_token" value="[redacted]"' in html
    assert 'type="password"' in html and "[redacted]" in html
    assert_no_password(html)
    assert_no_password(meta.text)
    assert_no_password(stored_text(stack.db_url, evidencia_id))
    # `registro evidence get` saved the same parts
    assert (saved / "screenshot.png").read_bytes() == shot.content
    assert (saved / "page.html").read_text(encoding="utf-8") == html
    assert json.loads((saved / "evidencia.json").read_text(encoding="utf-8")) == body


def test_fallback_failure_carries_its_evidence(stack):
    stack.stop_workers()  # no worker online: the API scrapes synchronously
    fallback_api, other_api = Api(stack, REGISTRO_LEGACY_PASSWORD=PASSWORD), Api(stack)
    try:
        with fallback_api.client() as a:
            first = a.post(POST.format("3202"))
            again = a.post(POST.format("3202"))
        with other_api.client() as b:
            body = first.json()
            page = b.get(EVIDENCE.format(body["evidencia_id"]) + "/page.html")
            meta = b.get(EVIDENCE.format(body["evidencia_id"])).json()
    finally:
        fallback_api.stop()
        other_api.stop()
    assert first.status_code == 502, first.text
    assert (body["reason"], body["via"], body["fallback_reason"]) == (
        "login_failed", "sincrono", "no_worker")
    # the first failure of this reason for this OS is the one kept
    assert again.json()["evidencia_id"] == body["evidencia_id"]
    assert meta["motivo"] == "login_failed" and meta["task_id"] is None
    assert "Usuário ou senha inválidos" in page.text
    assert_no_password(page.text)
    assert_no_password(stored_text(stack.db_url, body["evidencia_id"]))
