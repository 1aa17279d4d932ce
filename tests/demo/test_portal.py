"""The second demo site, "Portal OS" (legacy_demo/portal/), over real HTTP: two-step
login, a search that lists results, OS pages by internal code, the layout rule of the
equipment serial, the first demo's data and admin API, faults, and its launchers."""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack import processes
from registro.legacy_demo import data
from registro.legacy_demo.portal import app as portal_app
from registro.legacy_demo.portal import os_code, serial_in_panel

TOKEN_RE = re.compile(r'name="__token" value="([0-9a-f]+)"')
ROW_RE = re.compile(r'<td><a href="/os/ver\?cod=(\d+)">(\d+)</a></td>')
TABLE_OS, PANEL_OS = "777", "12345"  # serial in the equipment table / in the side panel
REGISTRO = Path(sys.executable).with_name("registro")


def _client(site) -> httpx.Client:
    return httpx.Client(base_url=site.url, timeout=10)


def _token(page: httpx.Response) -> str:
    return TOKEN_RE.search(page.text).group(1)


def _user_step(c: httpx.Client, username="demo", retorno=None) -> httpx.Response:
    form = {"txtUsuario": username, "__token": _token(c.get("/acesso"))}
    if retorno is not None:
        form["retorno"] = retorno
    return c.post("/acesso", data=form)


def _login(c: httpx.Client, username="demo", password="demo", retorno=None) -> httpx.Response:
    """Both steps; the answer of the last one (the password's, or the refused user's)."""
    first = _user_step(c, username, retorno)
    if first.status_code != 303:
        return first
    page = c.get("/acesso/senha")
    return c.post("/acesso/senha", data={"txtSenha": password, "__token": _token(page)})


def _cell(page: str, label: str) -> str:
    """The text of the value cell next to a label cell."""
    m = re.search(rf'<td class="rotulo">{re.escape(label)}</td><td class="valor[^"]*"[^>]*>(.*?)</td>',
                  page, re.S)
    assert m, label
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


def _os_page(c: httpx.Client, numero: str, aba: str = "") -> str:
    r = c.get("/os/ver", params={"cod": os_code(numero), **({"aba": aba} if aba else {})})
    assert r.status_code == 200
    return r.text


def test_two_step_login_with_httponly_cookies(portal):
    with _client(portal) as c:
        page = c.get("/acesso")
        assert 'id="frmAcesso"' in page.text and 'id="txtSenha"' not in page.text
        assert "portal_pre" in page.headers["set-cookie"]
        r = _user_step(c)
        assert (r.status_code, r.headers["location"]) == (303, "/acesso/senha")
        assert "httponly" in r.headers["set-cookie"].lower()
        page = c.get("/acesso/senha")
        assert 'id="frmSenha"' in page.text and '<b id="lblUsuario">demo</b>' in page.text
        r = c.post("/acesso/senha", data={"txtSenha": "demo", "__token": _token(page)})
        assert (r.status_code, r.headers["location"]) == (303, "/principal")
        cookie = next(h for h in r.headers.get_list("set-cookie")
                      if h.startswith("PORTALSESSID="))
        assert "httponly" in cookie.lower()
        assert 'id="barra-usuario"' in c.get("/principal").text
        # the flow is used up: the password page sends back to the first step
        assert c.get("/acesso/senha").headers["location"] == "/acesso"
    assert portal.stats()["logins"] == 1


def test_unknown_user_wrong_password_and_no_flow(portal):
    with _client(portal) as c:
        r = _login(c, username="outro")
        assert r.status_code == 200 and 'id="frmAcesso"' in r.text
        assert re.search(r'id="msgErro">Usuário não encontrado\.<', r.text)
        assert "portal_fluxo" not in r.headers.get("set-cookie", "")
        r = _login(c, password="errada")
        assert r.status_code == 200 and 'id="frmSenha"' in r.text
        assert re.search(r'id="msgErro">Senha incorreta\.<', r.text)
        assert "PORTALSESSID" not in r.headers.get("set-cookie", "")
        assert c.get("/principal").status_code == 303
    with _client(portal) as c:  # no first step: the password page and post send back
        assert c.get("/acesso/senha").headers["location"] == "/acesso"
        r = c.post("/acesso/senha", data={"txtSenha": "demo", "__token": "x"})
        assert r.headers["location"] == "/acesso"
    assert portal.stats()["login_failures"] == 2 and portal.stats()["logins"] == 0


def test_csrf_is_checked_on_both_steps(portal):
    with _client(portal) as c:
        c.get("/acesso")
        assert c.post("/acesso", data={"txtUsuario": "demo"}).status_code == 403
        assert c.post("/acesso", data={"txtUsuario": "demo", "__token": "0" * 64}
                      ).status_code == 403
        assert _user_step(c).status_code == 303
        r = c.post("/acesso/senha", data={"txtSenha": "demo", "__token": "0" * 64})
        assert r.status_code == 403 and 'id="msgErro"' in r.text
    with _client(portal) as a, _client(portal) as b:  # a token is bound to its browser
        token = _token(a.get("/acesso"))
        b.get("/acesso")
        assert b.post("/acesso", data={"txtUsuario": "demo", "__token": token}
                      ).status_code == 403
    assert portal.stats()["csrf_rejections"] == 4


def test_pages_need_a_session_and_login_returns_to_them(portal):
    with _client(portal) as c:
        for path in ("/", "/principal", "/os/consulta", f"/os/ver?cod={os_code('42')}"):
            assert c.get(path, follow_redirects=True).url.path == "/acesso", path
        r = c.get("/os/consulta", params={"numero": "42"})
        assert r.headers["location"] == "/acesso?retorno=%2Fos%2Fconsulta%3Fnumero%3D42"
        assert _login(c, retorno="/os/consulta?numero=42").headers["location"] == \
            "/os/consulta?numero=42"
    with _client(portal) as c:
        assert _login(c, retorno="//evil.example/x").headers["location"] == "/principal"


def test_search_lists_every_os_starting_with_the_number(portal):
    with _client(portal) as c:
        _login(c)
        page = c.get("/os/consulta", params={"numero": "42"}).text
        rows = ROW_RE.findall(page)
        numbers = [n for _, n in rows]
        assert numbers[:3] == ["42", "420", "421"] and len(numbers) == 20
        assert numbers == sorted(numbers, key=int) and all(n.startswith("42") for n in numbers)
        assert all(cod == os_code(n) for cod, n in rows)
        assert "20 registro(s) encontrado(s) (exibindo os 20 primeiros)" in page
        # leading zeros are ignored; the field keeps what was typed
        page = c.get("/os/consulta", params={"numero": "0042"}).text
        assert ROW_RE.findall(page)[0][1] == "42" and 'value="0042"' in page
        # an OS that does not exist: the list shows the others that start with it
        numbers = [n for _, n in ROW_RE.findall(
            c.get("/os/consulta", params={"numero": "194"}).text)]
        assert "194" not in numbers and numbers[0] == "1941"  # 1940 = 97 * 20
        page = c.get("/os/consulta", params={"numero": "1234567"}).text
        assert 'id="resultado"' in page and "Nenhum registro encontrado." in page
        page = c.get("/os/consulta", params={"numero": "12<b>x"}).text
        assert "apenas dígitos" in page and "<b>x" not in page
        assert 'id="resultado"' not in c.get("/os/consulta").text
    stats = portal.stats()
    assert (stats["searches"], stats["not_found"]) == (5, 2)  # 194, 1234567


def test_os_page_shows_the_data_set_as_the_first_demo_does(portal):
    shown = data.display_record(TABLE_OS)
    c_, e_, o_ = shown["cliente"], shown["equipamento"], shown["os"]
    with _client(portal) as c:
        _login(c)
        geral, servico = _os_page(c, TABLE_OS), _os_page(c, TABLE_OS, "servico")
    assert 'data-aba="geral"' in geral and 'data-aba="servico"' in servico
    assert _cell(geral, "Nº OS") == TABLE_OS and _cell(geral, "CNPJ") == c_["cnpj"]
    assert re.fullmatch(re.escape(o_["data_abertura"]) + r" \d\d:\d\d",
                        _cell(geral, "Abertura"))
    assert _cell(geral, "Endereço") == f"{c_['logradouro']}, {c_['numero']} - {c_['complemento']}"
    assert _cell(geral, "Cidade/UF") == f"{c_['cidade']}/{c_['uf']}"
    assert _cell(geral, "E-mail") == c_["email"]
    assert _cell(geral, "Nome fantasia") == ""  # absent: a blank cell, not the dash
    assert _cell(servico, "Previsão") == o_["data_previsao"]
    assert _cell(servico, "Total") == o_["valor_total"].replace("R$ ", "R$\xa0")
    assert f">{o_['observacoes'] if o_['observacoes'] != data.EMPTY else ''}</textarea>" in servico
    assert e_["tensao_v"] in geral and 'id="fsCliente"' not in servico


@pytest.mark.parametrize("numero", [TABLE_OS, PANEL_OS])
def test_the_serial_is_in_one_of_two_places(portal, numero):
    serial = data.display_record(numero)["equipamento"]["numero_serie"]
    with _client(portal) as c:
        _login(c)
        page = _os_page(c, numero)
    in_panel = serial_in_panel(numero)
    assert in_panel is (numero == PANEL_OS)
    assert ('id="quadroPlaca"' in page) is in_panel
    assert ("Nº de série" in page) is not in_panel
    assert page.count(serial) == 1


def test_layout_rule_is_the_opening_year():
    opened = {n: data.expected_record(n).os.data_abertura for n in ("1", "6", "45", "52")}
    for numero, day in opened.items():
        assert day is not None
        assert serial_in_panel(numero) is (day.year >= 2022)
    assert {serial_in_panel(str(n)) for n in range(1, 30)} == {True, False}


def test_unknown_or_forged_codes_are_404(portal):
    with _client(portal) as c:
        _login(c)
        for cod in ("", "abc", os_code("194"), "99999999", str(portal_app._CODE_MOD)):
            r = c.get("/os/ver", params={"cod": cod})
            assert r.status_code == 404 and 'class="pagina-aviso"' in r.text, cod
        assert c.get("/os/ver", params={"cod": os_code("42")}).status_code == 200


def test_admin_changes_reset_and_token(portal):
    assert httpx.get(f"{portal.url}/_demo/stats").status_code == 401
    assert httpx.post(f"{portal.url}/_demo/os/{TABLE_OS}", json={"status": "x"}).status_code == 401
    portal.change_os(TABLE_OS, valor_total="R$ 4.321,09", nome_fantasia="Oficina Nova")
    with _client(portal) as c:
        _login(c)
        assert _cell(_os_page(c, TABLE_OS, "servico"), "Total") == "R$\xa04.321,09"
        assert _cell(_os_page(c, TABLE_OS), "Nome fantasia") == "Oficina Nova"
        rows = c.get("/os/consulta", params={"numero": TABLE_OS}).text
        portal.reset()
        assert _cell(_os_page(c, TABLE_OS), "Nome fantasia") == ""
    assert data.display_record(TABLE_OS)["cliente"]["razao_social"] in rows


def test_admin_api_refuses_non_loopback_clients():
    from registro.legacy_demo import DemoConfig

    app = portal_app.create_app(DemoConfig(admin_token="tok"))

    async def call(client_ip: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
            r = await c.post("/_demo/faults", json={"login_fails": True},
                             headers={"Authorization": "Bearer tok"})
            return r.status_code

    assert asyncio.run(call("192.0.2.10")) == 403
    assert app.state.demo.faults.login_fails is False
    assert asyncio.run(call("127.0.0.1")) == 200


def test_faults_and_expired_sessions(portal):
    with _client(portal) as c:
        _login(c)
        portal.set_faults(fail_next=1)
        r = c.get("/principal")
        assert r.status_code == 500 and 'class="pagina-erro"' in r.text
        assert c.get("/recursos/portal.css").status_code == 200
        expired = portal.expire_sessions()
        assert expired >= 1
        r = c.get("/os/consulta")
        assert r.headers["location"] == "/acesso?retorno=%2Fos%2Fconsulta&expirou=1"
        page = c.get(r.headers["location"]).text
        assert 'id="msgAviso"' in page and 'id="msgErro"' not in page
        portal.set_faults(login_fails=True)
        assert "Senha incorreta." in _login(c).text
    stats = portal.stats()
    assert (stats["errors_500"], stats["sessions_expired"]) == (1, expired)


def test_huge_forms_and_unknown_routes(portal):
    with _client(portal) as c:
        r = c.post("/acesso", content=b"txtUsuario=" + b"x" * 20_000,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        r = c.get("/nao/existe")
        assert r.status_code == 404 and 'class="pagina-aviso"' in r.text


def test_launched_as_a_process_by_the_one_launcher(tmp_path):
    """``processes.start_demo(site="portal")``: what devstack.stack uses."""
    env = {**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": "t0ken-portal"}
    managed = processes.start_demo(env=env, site="portal", log_path=tmp_path / "p.log")
    try:
        with httpx.Client(base_url=managed.url, timeout=10) as c:
            assert 'id="frmAcesso"' in c.get("/acesso").text
            r = c.get("/_demo/stats", headers={"Authorization": "Bearer t0ken-portal"})
            assert r.status_code == 200 and r.json()["requests"] == 1
    finally:
        managed.stop()


def test_registro_demo_site_portal(tmp_path):
    port = processes.free_port()
    proc = subprocess.Popen([str(REGISTRO), "demo", "--site", "portal", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        processes.wait_for_port(port, timeout=60, proc=proc)
        page = httpx.get(f"http://127.0.0.1:{port}/acesso", timeout=10)
        assert page.status_code == 200 and 'id="frmAcesso"' in page.text
    finally:
        proc.terminate()
        proc.wait(10)
    assert b"demo admin token" in proc.stderr.read()


def test_registro_demo_refuses_an_unknown_site():
    from typer.testing import CliRunner

    from registro.cli import app

    assert CliRunner().invoke(app, ["demo", "--site", "nenhum"]).exit_code == 2
