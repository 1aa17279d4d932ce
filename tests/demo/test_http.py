"""The demo over real HTTP (httpx against a running uvicorn): login, search, faults, admin."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from devstack.processes import free_port, wait_for_port
from registro.legacy_demo import data
from tests.support.demo import running_demo

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def _client(demo) -> httpx.Client:
    return httpx.Client(base_url=demo.url, timeout=10)


def _login(client: httpx.Client, username="demo", password="demo", next_path=None):
    page = client.get("/login")
    token = CSRF_RE.search(page.text).group(1)
    form = {"username": username, "password": password, "csrf_token": token}
    if next_path:
        form["next"] = next_path
    return client.post("/login", data=form)


def test_login_sets_httponly_session_cookie_and_redirects(demo):
    with _client(demo) as c:
        page = c.get("/login")
        assert page.status_code == 200
        assert "demo_prelogin" in page.headers["set-cookie"]
        assert 'id="form-login"' in page.text
        r = _login(c)
        assert r.status_code == 303
        assert r.headers["location"] == "/os/buscar"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("DEMOSESSID="))
        assert "httponly" in cookie.lower()
        assert c.get("/os/buscar").status_code == 200
    assert demo.stats()["logins"] == 1


def test_wrong_credentials_show_error(demo):
    with _client(demo) as c:
        for user, pwd in (("demo", "errada"), ("outro", "demo"), ("", "")):
            r = _login(c, user, pwd)
            assert r.status_code == 200
            assert re.search(r'class="alert alert-error"[^>]*>Usuário ou senha inválidos<', r.text)
            assert "DEMOSESSID" not in r.headers.get("set-cookie", "")
        assert c.get("/os/buscar").status_code == 303
    assert demo.stats()["login_failures"] == 3


def test_csrf_missing_or_wrong_is_rejected(demo):
    with _client(demo) as c:
        c.get("/login")
        creds = {"username": "demo", "password": "demo"}
        assert c.post("/login", data=creds).status_code == 403
        assert c.post("/login", data={**creds, "csrf_token": "0" * 64}).status_code == 403
    # a token is bound to its pre-login cookie: valid token, other browser -> rejected
    with _client(demo) as a, _client(demo) as b:
        token = CSRF_RE.search(a.get("/login").text).group(1)
        b.get("/login")
        r = b.post("/login", data={**creds, "csrf_token": token})
        assert r.status_code == 403
        assert "alert-error" in r.text
    assert demo.stats()["csrf_rejections"] == 3
    assert demo.stats()["logins"] == 0


def test_pages_need_a_session(demo):
    with _client(demo) as c:
        for path in ("/os/buscar", "/os/42", "/os/42/dados-tecnicos", "/"):
            r = c.get(path, follow_redirects=True)
            assert r.url.path == "/login", path
        assert c.get("/api/os/42").status_code == 401
        r = c.get("/os/42")
        assert r.headers["location"] == "/login?next=%2Fos%2F42"
        # after logging in from there, the user lands on the page they asked for
        assert _login(c, next_path="/os/42").headers["location"] == "/os/42"
        assert _login(c, next_path="//evil.example/x").headers["location"] == "/os/buscar"


def test_search_found_not_found_and_invalid(demo):
    with _client(demo) as c:
        _login(c)
        r = c.get("/os/buscar", params={"numero": "42"})
        assert (r.status_code, r.headers["location"]) == (303, "/os/42")
        assert c.get("/os/buscar", params={"numero": " 0042 "}).headers["location"] == "/os/42"
        r = c.get("/os/buscar", params={"numero": "97"})
        assert r.status_code == 200
        assert re.search(r'class="alert alert-warning"[^>]*>OS 97 não encontrada<', r.text)
        r = c.get("/os/buscar", params={"numero": "12<b>x"})
        assert "Número de OS inválido" in r.text and "<b>x" not in r.text
        r = c.get("/os/194")
        assert r.status_code == 404 and "OS 194 não encontrada" in r.text
        assert c.get("/api/os/194").status_code == 404
    stats = demo.stats()
    assert stats["searches"] == 4 and stats["not_found"] == 2


def test_plain_get_of_the_os_page_has_no_values(demo):
    numero = "1234"
    shown = data.display_record(numero)
    with _client(demo) as c:
        _login(c)
        html = c.get(f"/os/{numero}").text + c.get(f"/os/{numero}/dados-tecnicos").text
        values = [v for part in shown.values() for v in part.values()
                  if len(v) > 3 and v != numero]
        assert len(values) > 30
        assert [v for v in values if v in html] == []
        # ... while the JSON the page's script fetches carries them all
        assert c.get(f"/api/os/{numero}").json()["cliente"] == shown["cliente"]


def test_admin_api_requires_the_token(demo):
    assert httpx.get(f"{demo.url}/_demo/stats").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{demo.url}/_demo/faults", json={"login_fails": True},
                      headers=bad).status_code == 401
    assert demo.faults()["login_fails"] is False
    auth = {"Authorization": f"Bearer {demo.admin_token}"}
    for body in ({"no_such_fault": 1}, {"error_rate": 2}, {"latency_ms": -1}, [1]):
        assert httpx.post(f"{demo.url}/_demo/faults", json=body, headers=auth).status_code == 422
    assert httpx.get(f"{demo.url}/_demo/health").json() == {"status": "ok"}


def test_latency_is_added_to_every_request(demo):
    with _client(demo) as c:
        start = time.perf_counter()
        c.get("/login")
        fast = time.perf_counter() - start
        demo.set_faults(latency_ms=400)
        start = time.perf_counter()
        c.get("/login")
        c.get("/static/os.js")
        slow = time.perf_counter() - start
    assert slow >= 0.8 > fast


def test_fail_next_answers_500_then_recovers(demo):
    demo.set_faults(fail_next=2)
    with _client(demo) as c:
        r1, r2, r3 = c.get("/login"), c.get("/login"), c.get("/login")
    assert (r1.status_code, r2.status_code, r3.status_code) == (500, 500, 200)
    assert "Erro interno do servidor" in r1.text
    assert demo.stats()["errors_500"] == 2
    assert demo.faults()["fail_next"] == 0


def test_fail_paths_and_error_rate(demo):
    with _client(demo) as c:
        _login(c)
        demo.set_faults(fail_paths=["/api/os/"])
        r = c.get("/api/os/42")
        assert r.status_code == 500 and r.json() == {"erro": "erro_interno"}
        assert c.get("/os/42").status_code == 200
        assert c.get("/static/os.js").status_code == 200

        demo.set_faults(fail_paths=[], error_rate=1.0)
        assert {c.get("/os/buscar").status_code for _ in range(5)} == {500}

        demo.reset()
        demo.set_faults(error_rate=0.5)
        first = [c.get("/os/buscar").status_code for _ in range(40)]
        assert first.count(500) in range(8, 33) and first.count(200) > 0
        demo.reset()  # the same seed replays the same sequence of failures
        demo.set_faults(error_rate=0.5)
        assert [c.get("/os/buscar").status_code for _ in range(40)] == first


def test_slow_os_page_exceeds_a_client_timeout(demo):
    demo.set_faults(slow_os_ms=1500)
    with _client(demo) as c:
        _login(c)
        assert c.get("/os/buscar", timeout=0.5).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            c.get("/os/42", timeout=0.5)
        with pytest.raises(httpx.ReadTimeout):
            c.get("/api/os/42", timeout=0.5)


def test_session_expires_after_ttl(demo):
    demo.set_faults(session_ttl_s=0.5)
    with _client(demo) as c:
        _login(c)
        assert c.get("/os/buscar").status_code == 200
        time.sleep(0.7)
        r = c.get("/os/buscar")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fos%2Fbuscar&expirada=1"
        assert "Sua sessão expirou" in c.get(r.headers["location"]).text
        assert c.get("/api/os/42").json() == {"erro": "sessao_expirada"}
        _login(c)  # logging in again works
        assert c.get("/os/buscar").status_code == 200
    assert demo.stats()["sessions_expired"] == 1


def test_session_expires_after_n_requests(demo):
    demo.set_faults(session_max_requests=2)
    with _client(demo) as c:
        _login(c)
        assert c.get("/os/buscar").status_code == 200
        assert c.get("/api/os/42").status_code == 200
        r = c.get("/api/os/42")
        assert r.status_code == 401 and r.json() == {"erro": "sessao_expirada"}


def test_expire_all_sessions_now(demo):
    with _client(demo) as a, _client(demo) as b:
        _login(a)
        _login(b)
        assert demo.stats()["active_sessions"] >= 2
        assert demo.expire_sessions() >= 2
        assert a.get("/os/buscar").status_code == 303
        assert b.get("/os/buscar").status_code == 303


def test_login_fails_even_with_good_credentials(demo):
    demo.set_faults(login_fails=True)
    with _client(demo) as c:
        r = _login(c)
        assert r.status_code == 200 and "Usuário ou senha inválidos" in r.text
        demo.set_faults(login_fails=False)
        assert _login(c).status_code == 303


def test_reset_restores_startup_faults_and_zeroes_counters():
    with running_demo(latency_ms=20, fail_paths=["/nada"]) as demo:
        demo.set_faults(latency_ms=0, login_fails=True)
        httpx.get(f"{demo.url}/login")
        assert demo.stats()["requests"] == 1
        demo.reset()
        faults = demo.faults()
        assert faults["latency_ms"] == 20 and faults["login_fails"] is False
        assert faults["fail_paths"] == ["/nada"]
        assert demo.stats()["requests"] == 0


def test_command_line_entry_point_serves_with_flags_and_env(tmp_path):
    port = free_port()
    env = {**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": "t0ken-for-test",
           "REGISTRO_DEMO_PASSWORD": "s3cret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registro.legacy_demo", "--port", str(port), "--fail-path",
         "/os/42", "--login-fails"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, timeout=20, proc=proc)
        auth = {"Authorization": "Bearer t0ken-for-test"}
        faults = httpx.get(f"http://127.0.0.1:{port}/_demo/faults", headers=auth).json()
        assert faults["fail_paths"] == ["/os/42"] and faults["login_fails"] is True
        httpx.post(f"http://127.0.0.1:{port}/_demo/faults", headers=auth,
                   json={"login_fails": False})
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            assert _login(c, "demo", "demo").status_code == 200  # env password wins
            assert _login(c, "demo", "s3cret").status_code == 303
            assert c.get("/os/42").status_code == 500
    finally:
        proc.terminate()
        proc.wait(10)
    assert b"t0ken-for-test" not in proc.stderr.read()


def test_admin_api_refuses_non_loopback_clients():
    from registro.legacy_demo import DemoConfig, create_app

    app = create_app(DemoConfig(admin_token="tok"))
    auth = {"Authorization": "Bearer tok"}

    async def call(client_ip: str) -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            stats = await c.get("/_demo/stats", headers=auth)
            change = await c.post("/_demo/faults", json={"login_fails": True}, headers=auth)
            reset = await c.post("/_demo/reset", headers=auth)
            return stats.status_code, change.status_code, reset.status_code

    assert asyncio.run(call("192.0.2.10")) == (403, 403, 403)
    assert app.state.demo.faults.login_fails is False
    assert asyncio.run(call("127.0.0.1")) == (200, 200, 200)


def test_unknown_routes_and_huge_forms_get_html_errors(demo):
    with _client(demo) as c:
        r = c.get("/nao/existe")
        assert r.status_code == 404 and "Página não encontrada" in r.text
        r = c.post("/login", content=b"username=" + b"x" * 20_000,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
