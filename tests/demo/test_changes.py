"""The demo's OS change over time through its admin API (POST /_demo/os/{numero}):
every later read of the OS shows the changes, /_demo/reset forgets them, and the admin
rules of the other /_demo routes (loopback, token) hold."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from registro.legacy_demo import data
from tests.demo.test_http import _client, _login

NUMERO = "12345"


def _read(demo, numero: str = NUMERO) -> dict:
    with _client(demo) as c:
        _login(c)
        return c.get(f"/api/os/{numero}").json()


def test_changes_apply_to_every_later_read_and_merge(demo):
    before = _read(demo)
    assert before["os"] == data.display_record(NUMERO)["os"]
    answer = demo.change_os(NUMERO, status="Concluída", valor_total="R$ 9.876,54",
                            diagnostico="Rotor substituído.", telefone="(11) 3333-4444")
    assert answer["alteracoes"]["status"] == "Concluída"
    after = _read(demo)
    assert (after["os"]["status"], after["os"]["valor_total"], after["os"]["diagnostico"]) == \
        ("Concluída", "R$ 9.876,54", "Rotor substituído.")
    assert after["cliente"]["telefone"] == "(11) 3333-4444"
    assert after["equipamento"] == before["equipamento"]
    # a later change merges: earlier ones stay; null is the absent value
    demo.change_os(NUMERO, diagnostico=None)
    again = _read(demo)
    assert again["os"]["status"] == "Concluída" and again["os"]["diagnostico"] == data.EMPTY
    # only this OS, even though OS 12345 - 41 * k share nothing but the cliente
    assert _read(demo, "12346")["os"] == data.display_record("12346")["os"]


def test_reset_forgets_the_changes(demo):
    demo.change_os(NUMERO, status="Entregue")
    assert _read(demo)["os"]["status"] == "Entregue"
    demo.reset()
    assert _read(demo)["os"] == data.display_record(NUMERO)["os"]


@pytest.mark.parametrize("body", [{}, [1], {"numero_os": "1"}, {"nada": "x"}, {"status": 3},
                                  {"status": "x" * 2001}])
def test_bad_changes_are_refused_with_422(demo, body):
    auth = {"Authorization": f"Bearer {demo.admin_token}"}
    r = httpx.post(f"{demo.url}/_demo/os/{NUMERO}", json=body, headers=auth)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    r = httpx.post(f"{demo.url}/_demo/os/{NUMERO}", content=b"{", headers=auth)
    assert r.status_code == 422
    assert _read(demo)["os"] == data.display_record(NUMERO)["os"]


def test_unknown_os_token_and_loopback(demo):
    auth = {"Authorization": f"Bearer {demo.admin_token}"}
    assert httpx.post(f"{demo.url}/_demo/os/97", json={"status": "x"},
                      headers=auth).status_code == 404
    assert httpx.post(f"{demo.url}/_demo/os/{NUMERO}", json={"status": "x"}).status_code == 401
    assert httpx.get(f"{demo.url}/_demo/os/{NUMERO}", headers=auth).json()["alteracoes"] == {}

    from registro.legacy_demo import DemoConfig, create_app

    app = create_app(DemoConfig(admin_token="tok"))

    async def call(client_ip: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            r = await c.post(f"/_demo/os/{NUMERO}", json={"status": "x"},
                             headers={"Authorization": "Bearer tok"})
            return r.status_code

    assert asyncio.run(call("192.0.2.10")) == 403
    assert app.state.demo.overrides == {}
    assert asyncio.run(call("127.0.0.1")) == 200
    assert app.state.demo.overrides == {NUMERO: {"status": "x"}}
