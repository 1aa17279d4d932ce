"""The document's path patterns are exactly what the API accepts; its 422 body is the
one the API sends; HTTP stays out of the use-case layer."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest

pytestmark = [pytest.mark.redis]
BASE = "/api/desenvolvimento"
ROOT = Path(__file__).resolve().parents[2]

NUMEROS = ["0", "1", "12345", "123456789012", "1234567890123", "", " 1", "1 ", "abc", "12a",
           "-5", "+5", "1.0", "1e3", "1\n", "\n1", "１２", "٣", "1%", "9" * 500]
TASK_IDS = ["scraping_0", "scraping_12345", "scraping_123456789012",
            "scraping_1234567890123", "scraping_", "Scraping_1", "scraping-1", "scraping_1\n",
            "xscraping_1", "scraping_1x", "nada", "scraping_12;DROP", "1201"]
EVIDENCIA_IDS = ["0" * 32, "0123456789abcdef" * 2, "0" * 31, "0" * 33, "A" * 32, "g" * 32,
                 "0" * 31 + "\n", " " + "0" * 32, "nada", "0" * 32 + ";DROP"]


def _path_schema(document: dict, path: str, method: str, name: str) -> dict:
    operation = document["paths"][path][method]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == name]
    return parameter["schema"]


def _documented_valid(schema: dict, value: str) -> bool:
    return jsonschema_rs.validator_for(schema).is_valid(value)  # ECMA-262 regex semantics


@pytest.mark.parametrize(("path", "method", "name", "values", "url"), [
    (f"{BASE}/buscar-os-async/{{numero_os}}", "post", "numero_os", NUMEROS,
     f"{BASE}/buscar-os-async/{{}}"),
    (f"{BASE}/scraping-status/{{task_id}}", "get", "task_id", TASK_IDS,
     f"{BASE}/scraping-status/{{}}"),
    (f"{BASE}/evidencias/{{evidencia_id}}", "get", "evidencia_id", EVIDENCIA_IDS,
     f"{BASE}/evidencias/{{}}"),
    (f"{BASE}/evidencias/{{evidencia_id}}/screenshot.png", "get", "evidencia_id",
     EVIDENCIA_IDS, f"{BASE}/evidencias/{{}}/screenshot.png"),
])
def test_path_patterns_match_what_the_api_accepts(live_api, path, method, name, values, url):
    document = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    schema = _path_schema(document, path, method, name)
    assert schema["pattern"]  # declared, not just "a string"
    with live_api.client() as client:
        for value in values:
            if value == "":
                continue  # an empty segment is another route (404), never this parameter
            r = client.request(method.upper(), url.format(quote(value, safe="")))
            accepted = r.status_code != 422
            assert accepted == _documented_valid(schema, value), (value, r.status_code, r.text)
            if not accepted:
                assert isinstance(r.json()["detail"], str), r.text


def test_declared_422_body_is_the_real_one(live_api):
    document = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's shape is not what we answer
    operation = document["paths"][f"{BASE}/buscar-os-async/{{numero_os}}"]["post"]
    ref = operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    error_schema = schemas[ref.rsplit("/", 1)[1]]
    with live_api.client() as client:
        for bad in ("abc", f"{BASE}/buscar-os-async/1?forcar=talvez"):
            target = bad if bad.startswith("/") else f"{BASE}/buscar-os-async/{bad}"
            body = client.post(target).json()
            assert jsonschema_rs.validator_for(error_schema).is_valid(body), body
            assert isinstance(body["detail"], str) and body["detail"]


def test_every_guide_route_declares_its_errors(live_api):
    document = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    declared = {(p, m): set(op["responses"]) for p, ops in document["paths"].items()
                for m, op in ops.items()}
    assert {"401", "404", "413", "422", "429", "502", "503"} <= \
        declared[(f"{BASE}/buscar-os-async/{{numero_os}}", "post")]
    assert {"401", "404", "413", "422", "429", "503"} <= \
        declared[(f"{BASE}/scraping-status/{{task_id}}", "get")]
    assert {"401", "413", "429"} <= declared[(f"{BASE}/queue-status", "get")]
    for part in ("", "/screenshot.png", "/page.html"):
        assert {"401", "404", "422", "429"} <= \
            declared[(f"{BASE}/evidencias/{{evidencia_id}}{part}", "get")]
    assert "ApiKey" in document["components"]["securitySchemes"]
    names = set(document["components"]["schemas"])
    assert {"BuscarOSResponse", "ScrapingStatus", "QueueStatus", "ErrorBody",
            "FallbackError", "Evidencia"} <= names
    for failure in ("ScrapingStatus", "FallbackError"):  # a FAILURE carries its evidence
        assert "evidencia_id" in document["components"]["schemas"][failure]["properties"]
    ids = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert {"buscar_os_async", "scraping_status", "queue_status", "evidencia",
            "evidencia_screenshot", "evidencia_html"} <= ids


def test_use_case_layer_has_no_http():
    tree = ast.parse((ROOT / "api" / "lookup.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert not {m for m in modules if m and m.split(".")[0] in {"fastapi", "starlette"}}
