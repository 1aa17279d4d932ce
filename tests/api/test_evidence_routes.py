"""GET /api/desenvolvimento/evidencias/{id}[/screenshot.png|/page.html] on the live API:
key required, ids validated at the edge, unknown ids 404, parts served so that no stored
page is ever rendered on the API's origin."""

from __future__ import annotations

import httpx
import jsonschema_rs
import pytest

from registro.evidence import Bundle
from registro.evidence_store import DatabaseEvidence

pytestmark = [pytest.mark.redis]
BASE = "/api/desenvolvimento/evidencias"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 500
HTML = "<html><body><script>alert(document.domain)</script><p>Página</p></body></html>"


@pytest.fixture(scope="module")
def kept(live_api) -> dict[str, str]:
    store = DatabaseEvidence(live_api.db_url, max_bytes=1 << 20, retention_days=14)
    full = store.keep(Bundle(
        numero_os="4242", reason="profile_mismatch", message="block 'cliente': missing x",
        task_id="scraping_4242", url="http://legacy.example/os/4242", title="OS 4242",
        html=HTML, screenshot=PNG,
        steps=[{"passo": "search", "inicio_ms": 0, "duracao_ms": 12, "resultado": "ok"},
               {"passo": "extract cliente", "inicio_ms": 12, "duracao_ms": 30,
                "resultado": "falhou", "detalhe": "PermanentScrapeError: profile_mismatch"}],
        console=[{"nivel": "SEVERE", "origem": "javascript", "mensagem": "Uncaught x",
                  "em": "2026-12-05T10:00:00+00:00"}]))
    bare = store.keep(Bundle(numero_os="4243", reason="webdriver_error", message="gone"))
    return {"full": full.id, "bare": bare.id}


def test_metadata_lists_the_parts_and_matches_the_schema(live_api, kept):
    document = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    schema = {**document["components"]["schemas"]["Evidencia"],
              "components": document["components"]}
    with live_api.client() as c:
        r = c.get(f"{BASE}/{kept['full']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert jsonschema_rs.validator_for(schema).is_valid(body), body
    assert (body["id"], body["numero_os"], body["motivo"], body["task_id"]) == (
        kept["full"], "4242", "profile_mismatch", "scraping_4242")
    assert [s["passo"] for s in body["passos"]] == ["search", "extract cliente"]
    assert body["erros_console"][0]["mensagem"] == "Uncaught x"
    assert body["partes"] == [
        {"nome": "screenshot.png", "tipo": "image/png", "bytes": len(PNG),
         "caminho": f"{BASE}/{kept['full']}/screenshot.png"},
        {"nome": "page.html", "tipo": "text/html", "bytes": len(HTML.encode()),
         "caminho": f"{BASE}/{kept['full']}/page.html"}]


def test_parts_are_served_safely(live_api, kept):
    with live_api.client() as c:
        shot = c.get(f"{BASE}/{kept['full']}/screenshot.png")
        page = c.get(f"{BASE}/{kept['full']}/page.html")
    assert shot.status_code == 200 and shot.content == PNG
    assert shot.headers["content-type"] == "image/png"
    assert page.status_code == 200 and page.content.decode() == HTML
    # text, an attachment, sandboxed: the stored page's script never runs on our origin
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.headers["content-disposition"].startswith("attachment;")
    for r in (shot, page):
        assert r.headers["content-security-policy"] == "sandbox"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"


def test_key_required_ids_validated_unknown_404(live_api, kept):
    known = kept["full"]
    with httpx.Client(base_url=live_api.url, timeout=30) as anonymous:
        for path in (f"{BASE}/{known}", f"{BASE}/{known}/screenshot.png",
                     f"{BASE}/{known}/page.html"):
            r = anonymous.get(path)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
            r = anonymous.get(path, headers={"Authorization": "Bearer nope"})
            assert r.status_code == 401
    with live_api.client() as c:
        for bad in ("nada", known.upper(), known[:-1], known + "0", "../" + known, "1" * 32 + "%00"):
            r = c.get(f"{BASE}/{bad}")
            assert r.status_code in (404, 422), (bad, r.status_code)
            if r.status_code == 422:
                assert isinstance(r.json()["detail"], str)
        assert c.get(f"{BASE}/{known.upper()}").status_code == 422
        unknown = "0" * 32
        for path in (f"{BASE}/{unknown}", f"{BASE}/{unknown}/screenshot.png",
                     f"{BASE}/{unknown}/page.html"):
            r = c.get(path)
            assert r.status_code == 404 and r.json() == {"detail": f"unknown evidence {unknown}"}
        # a bundle kept without a browser has no parts: its parts 404, it does not
        r = c.get(f"{BASE}/{kept['bare']}")
        assert r.status_code == 200 and r.json()["partes"] == []
        r = c.get(f"{BASE}/{kept['bare']}/screenshot.png")
        assert r.status_code == 404 and "has no screenshot.png" in r.json()["detail"]
        assert c.get(f"{BASE}/{known}/other.txt").status_code == 404
