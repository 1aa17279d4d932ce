"""``REGISTRO_CORS_ORIGINS``: no cross-origin access by default; the listed origins only.

In-process app (Starlette's test client); the routes used answer without Redis.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from registro.api.main import create_app
from registro.settings import Settings

pytestmark = pytest.mark.fast

PAGE = "http://127.0.0.1:8002"
LOOKUP = "/api/desenvolvimento/buscar-os-async/12345"


def client(**settings: str) -> TestClient:
    # A Redis URL nothing listens on: these requests must not need it.
    app = create_app(Settings(api_keys="k", redis_url="redis://127.0.0.1:1/0",
                              redis_socket_timeout_s=0.2, **settings))
    return TestClient(app)


def preflight(api: TestClient, origin: str):
    return api.options(LOOKUP, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                        "Access-Control-Request-Headers": "authorization"})


def test_no_origin_is_allowed_by_default():
    with client() as api:
        assert Settings(api_keys="k").cors_origin_list() == []
        assert "access-control-allow-origin" not in preflight(api, PAGE).headers
        answer = api.get("/healthz", headers={"Origin": PAGE})
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("configured", [PAGE, f" https://erp.example.com , {PAGE}/ "])
def test_listed_origins_only(configured: str):
    with client(cors_origins=configured) as api:
        ok = preflight(api, PAGE)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == PAGE
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
        assert "access-control-allow-origin" not in preflight(api, "http://evil.test").headers
        # Error answers carry the headers too, and expose Retry-After to the page.
        refused = api.post(LOOKUP, headers={"Origin": PAGE})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == PAGE
        assert refused.headers["access-control-expose-headers"] == "Retry-After"
