"""Failure evidence kept in the database (registro/evidence.py), on SQLite and PostgreSQL:
redaction of every secret, the first failure per OS and reason, retention by a delete on
write, the size cap (HTML truncated first, then the screenshot dropped)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os

import pytest
from sqlalchemy import func, select, update

from registro import evidence, evidence_store
from registro.db import session_scope
from registro.evidence import REDACTED, Bundle, Redactor, pack, redact
from registro.evidence_store import DatabaseEvidence
from registro.models import Evidencia

PASSWORD = "S3nh@&<Legado>"  # escapes differently in HTML, URLs and JSON
SESSION = "c2Vzc2FvLXNlY3JldGEtZG8tbGVnYWRv"
CSRF = "f00dfacecafe0123456789abcdef"
META_CSRF = "meta-token-7c1e2d3f4a5b6c7d"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000

HTML = f"""<!DOCTYPE html><html><head>
<meta name="csrf-token" content="{META_CSRF}"><title>Entrar</title></head><body>
<form><input type="hidden" name="csrf_token" value="{CSRF}">
<input type='password' name='senha' value='{PASSWORD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}'>
<input type="hidden" name="lang" value="pt-BR"></form>
<script>window.token = "{CSRF}"; var s = {json.dumps(PASSWORD)};</script>
<p>Sessão {SESSION} — senha digitada: {PASSWORD.replace("&", "&amp;").replace("<", "&lt;")}</p>
</body></html>"""


def secret_bundle(numero_os: str = "12345", reason: str = "login_failed") -> Bundle:
    return Bundle(
        numero_os=numero_os, reason=reason,
        message=f"refused password {PASSWORD}",
        url=f"https://u:{PASSWORD}@legacy.example/login?next=/os&csrf={CSRF}&token=x1&lang=pt",
        title=f"Entrar {SESSION}", html=HTML, screenshot=PNG,
        steps=[{"passo": "login", "inicio_ms": 0, "duracao_ms": 5, "resultado": "falhou",
                "detalhe": f"typed {PASSWORD} with cookie {SESSION}"}],
        console=[{"nivel": "SEVERE", "origem": "javascript",
                  "mensagem": f"Uncaught: {SESSION} {CSRF}", "em": "2026-12-05T10:00:00+00:00"}])


def every_text(b: Bundle) -> str:
    return json.dumps([b.message, b.url, b.title, b.html, b.steps, b.console],
                      ensure_ascii=False)


def assert_no_secret(text: str) -> None:
    for secret in (PASSWORD, SESSION, CSRF, META_CSRF, "S3nh@&amp;&lt;Legado&gt;",
                   "S3nh%40%26%3CLegado%3E", "S3nh@&amp;&lt;Legado>"):
        assert secret not in text, secret


def test_redaction_removes_password_cookies_and_csrf_tokens():
    before = every_text(secret_bundle())
    assert PASSWORD in before and SESSION in before and CSRF in before  # the test's premise
    redacted = redact(secret_bundle(), secrets=[PASSWORD], tokens=[SESSION, "pt-BR", "1"])
    text = every_text(redacted)
    assert_no_secret(text)
    assert REDACTED in redacted.html and f'value="{REDACTED}"' in redacted.html
    assert f'content="{REDACTED}"' in redacted.html
    assert 'value="pt-BR"' in redacted.html  # short values are not secrets: left alone
    assert redacted.url == (f"https://u:{REDACTED}@legacy.example/login?next=/os&"
                            f"csrf={REDACTED}&token={REDACTED}&lang=pt")
    assert redacted.steps[0]["passo"] == "login" and redacted.steps[0]["duracao_ms"] == 5


def test_redactor_replaces_a_secret_inside_a_longer_one_whole():
    r = Redactor(secrets=["abc"], tokens=["xxabcxxyyzz"])
    assert r.text("1 xxabcxxyyzz 2 abc") == f"1 {REDACTED} 2 {REDACTED}"


def _stored_texts(db_url: str, evidencia_id: str) -> str:
    """Every stored byte of the bundle, decompressed, as text."""
    with session_scope(db_url) as s:
        row = s.get(Evidencia, evidencia_id)
        parts = [row.mensagem, row.url or "", row.titulo or "",
                 gzip.decompress(row.html_gz).decode(), gzip.decompress(row.log_gz).decode(),
                 (row.screenshot_png or b"").decode("latin-1")]
    return "\n".join(parts)


def test_stored_bundle_holds_no_secret_and_reads_back(db_url):
    store = DatabaseEvidence(db_url, max_bytes=1 << 20, retention_days=14)
    bundle = redact(secret_bundle(), secrets=[PASSWORD], tokens=[SESSION])
    kept = store.keep(bundle)
    assert kept.id and len(kept.id) == 32
    assert_no_secret(_stored_texts(db_url, kept.id))

    meta = evidence_store.read_metadata(db_url, kept.id)
    assert meta["motivo"] == "login_failed" and meta["numero_os"] == "12345"
    assert meta["passos"][0]["passo"] == "login" and meta["erros_console"][0]["nivel"] == "SEVERE"
    assert {p["nome"]: p["bytes"] for p in meta["partes"]} == {
        "screenshot.png": len(PNG), "page.html": len(bundle.html.encode())}
    assert meta["html_truncado"] is False and meta["captura_descartada"] is False
    assert meta["bytes_armazenados"] < meta["bytes_capturados"] + 1000
    assert evidence_store.read_part(db_url, kept.id, "screenshot.png") == (True, PNG)
    assert evidence_store.read_part(db_url, kept.id, "page.html") == (True, bundle.html.encode())
    assert evidence_store.read_part(db_url, "0" * 32, "page.html") == (False, None)
    assert evidence_store.read_metadata(db_url, "0" * 32) is None


def test_first_failure_per_os_and_reason_is_kept(db_url):
    store = DatabaseEvidence(db_url, max_bytes=1 << 20, retention_days=14)
    first = store.keep(Bundle(numero_os="7", reason="timeout", message="first"))
    again = store.keep(Bundle(numero_os="7", reason="timeout", message="second"))
    other = store.keep(Bundle(numero_os="7", reason="not_found", message="other reason"))
    assert again.id == first.id and other.id != first.id
    assert store.known("7", "timeout") == first
    assert store.known("8", "timeout") is None
    assert evidence_store.read_metadata(db_url, first.id)["mensagem"] == "first"


def test_retention_deletes_old_bundles_on_write(db_url):
    store = DatabaseEvidence(db_url, max_bytes=1 << 20, retention_days=14)
    old = store.keep(Bundle(numero_os="7", reason="timeout"))
    with session_scope(db_url) as s:
        s.execute(update(Evidencia).values(
            criado_em=dt.datetime.now(dt.UTC) - dt.timedelta(days=15)))
    assert store.known("7", "timeout") is None  # past the window: not answered
    new = store.keep(Bundle(numero_os="7", reason="timeout"))  # the write deletes it
    assert new.id != old.id
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Evidencia)) == 1
    assert evidence_store.read_metadata(db_url, old.id) is None
    # retention 0: nothing kept, nothing captured
    off = DatabaseEvidence(db_url, max_bytes=1 << 20, retention_days=0)
    assert off.known("9", "timeout") is not None and off.keep(Bundle("9", "timeout")).id is None


def test_size_cap_truncates_the_html_first_then_drops_the_screenshot(db_url):
    cap = 64 * 1024
    noise = os.urandom(150_000).hex()  # incompressible: 300 KB of HTML
    html = f"<html><body><p>{noise}</p></body></html>"
    store = DatabaseEvidence(db_url, max_bytes=cap, retention_days=14)

    shot = b"\x89PNG" + os.urandom(20_000)
    kept = store.keep(Bundle(numero_os="1", reason="profile_mismatch", html=html,
                             screenshot=shot))
    meta = evidence_store.read_metadata(db_url, kept.id)
    assert meta["html_truncado"] is True and meta["captura_descartada"] is False
    assert meta["bytes_armazenados"] <= cap
    assert meta["bytes_capturados"] == len(html) + len(shot)
    _, served = evidence_store.read_part(db_url, kept.id, "page.html")
    assert served.startswith(b"<html><body><p>") and evidence.TRUNCATION_MARK.encode() in served
    assert 20_000 < len(served) < len(html)  # as much as fits, not a stub
    assert evidence_store.read_part(db_url, kept.id, "screenshot.png") == (True, shot)

    huge = b"\x89PNG" + os.urandom(cap)  # alone over the cap: dropped, the HTML gets room
    kept = store.keep(Bundle(numero_os="2", reason="profile_mismatch", html=html,
                             screenshot=huge))
    meta = evidence_store.read_metadata(db_url, kept.id)
    assert meta["captura_descartada"] is True and meta["html_truncado"] is True
    assert [p["nome"] for p in meta["partes"]] == ["page.html"]
    assert meta["bytes_armazenados"] <= cap
    assert evidence_store.read_part(db_url, kept.id, "screenshot.png") == (True, None)


def test_pack_keeps_a_small_bundle_whole():
    bundle = secret_bundle()
    packed = pack(bundle, 1 << 20)
    assert not packed.html_truncated and not packed.screenshot_dropped
    assert gzip.decompress(packed.html_gz).decode() == bundle.html
    assert packed.html_bytes == len(bundle.html.encode())


@pytest.mark.parametrize("cap", [65_536, 100_000])
def test_pack_never_exceeds_the_cap(cap):
    html = os.urandom(400_000).hex()
    for shot in (None, os.urandom(10_000), os.urandom(cap - 500), os.urandom(cap * 2)):
        packed = pack(Bundle(numero_os="1", reason="timeout", html=html, screenshot=shot), cap)
        assert packed.stored_bytes <= cap, (cap, len(shot or b""))
