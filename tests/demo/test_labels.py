"""The demo renames labels of its cliente table through the admin API (POST
/_demo/labels, issue 19): every later OS page shows the new label, null restores one,
/_demo/reset restores all."""

from __future__ import annotations

import httpx
import pytest

from tests.demo.test_http import _client, _login


def _labels(demo, body) -> httpx.Response:
    return httpx.post(f"{demo.url}/_demo/labels", json=body,
                      headers={"Authorization": f"Bearer {demo.admin_token}"})


def _shown(demo) -> dict:
    with _client(demo) as c:
        _login(c)
        return c.get("/api/os/42").json()["rotulos"]


def test_renames_merge_and_reset_restores(demo):
    assert _shown(demo) == {}
    assert _labels(demo, {"CNPJ": "C.N.P.J."}).json() == {"rotulos": {"CNPJ": "C.N.P.J."}}
    assert _labels(demo, {"Telefone": "Fone"}).status_code == 200
    assert _shown(demo) == {"CNPJ": "C.N.P.J.", "Telefone": "Fone"}
    assert _labels(demo, {"CNPJ": None}).json() == {"rotulos": {"Telefone": "Fone"}}
    demo.reset()
    assert _shown(demo) == {}


@pytest.mark.parametrize("body", [{}, ["CNPJ"], {"Nada": "x"}, {"CNPJ": 3}, {"CNPJ": ""},
                                  {"CNPJ": "x" * 81}])
def test_bad_renames_are_refused_with_422(demo, body):
    r = _labels(demo, body)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert _shown(demo) == {}


def test_admin_rules_hold(demo):
    assert httpx.post(f"{demo.url}/_demo/labels", json={"CNPJ": "x"}).status_code == 401
    assert _shown(demo) == {}
