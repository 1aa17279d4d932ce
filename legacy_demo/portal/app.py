"""Portal OS, the second demo legacy site: the first demo's OS data (``data.py``), built
differently. A two-step login (user, then password), a search that lists every OS whose
number starts with the one typed, pages rendered on the server with label/value cells,
the service data on a second page, and the equipment serial in one of two places.
Routes, selectors and the layout rule: "The second site" in legacy_demo/README.md.

The admin API (``/_demo/*``) is the first demo's own routes, acting on this site's state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from registro.legacy_demo import app as sgo
from registro.legacy_demo import data
from registro.legacy_demo.config import DemoConfig

HERE = Path(__file__).parent
SESSION_COOKIE = "PORTALSESSID"
PRELOGIN_COOKIE = "portal_pre"
FLOW_COOKIE = "portal_fluxo"  # carries the user from the first login step to the second
FLOW_TTL_S = 300.0
MAX_FLOWS = 10_000
MAX_RESULTS = 20
HOME = "/principal"
STATIC = "/recursos"
# The layout rule: OS opened from this day on show the serial in the side panel.
PANEL_SINCE = dt.date(2022, 1, 1)
# OS pages are addressed by an internal code, not by the number: only the list links them.
_CODE_MOD = 1_000_003  # a prime above data.MAX_OS
_CODE_MUL = 7919
_CODE_INV = pow(_CODE_MUL, -1, _CODE_MOD)


def os_code(numero: str) -> str:
    """The internal code of an OS page (``/os/ver?cod=...``)."""
    return str(int(numero) * _CODE_MUL % _CODE_MOD)


def numero_for_code(code: str) -> str | None:
    if not (code.isascii() and code.isdigit() and len(code) <= 7) or int(code) >= _CODE_MOD:
        return None
    numero = str(int(code) * _CODE_INV % _CODE_MOD)
    return numero if data.exists(numero) else None


def serial_in_panel(numero: str) -> bool:
    """Where the OS page shows the equipment serial: in the side panel "Placa de
    identificação" for an OS opened from 2022 on, in the equipment table before."""
    opened = data.expected_record(numero).os.data_abertura
    return opened is not None and opened >= PANEL_SINCE


def search_numbers(prefix: str, limit: int = MAX_RESULTS) -> list[str]:
    """Existing OS whose number starts with ``prefix`` (digits, no leading zero), in
    ascending order: the OS typed itself, when it exists, comes first."""
    found: list[str] = []
    low, high = int(prefix), int(prefix) + 1
    while low <= data.MAX_OS:
        for n in range(low, min(high, data.MAX_OS + 1)):
            if data.exists(str(n)):
                found.append(str(n))
                if len(found) == limit:
                    return found
        low, high = low * 10, high * 10
    return found


def page_record(numero: str, overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    """The data set's display strings (with the admin API's changes); an absent value is
    a blank cell here, not the first demo's dash."""
    shown = data.changed_display_record(numero, overrides)
    return {section: {k: "" if v == data.EMPTY else v for k, v in fields.items()}
            for section, fields in shown.items()}


def _address(c: dict[str, str]) -> str:
    """"Rua X, 123 - Galpão 3": street, number and complement in one cell."""
    text = ", ".join(part for part in (c["logradouro"], c["numero"]) if part)
    return f"{text} - {c['complemento']}" if c["complemento"] else text


def _opened(o: dict[str, str], numero: str) -> str:
    """The opening date with the time of day ("02/04/2020 14:35")."""
    if not o["data_abertura"]:
        return ""
    n = int(numero)
    return f"{o['data_abertura']} {7 + n % 11:02d}:{n * 37 % 60:02d}"


@dataclass
class _Flow:
    """A login between its two steps."""

    username: str
    retorno: str
    created: float


def _local(value: str | None) -> str:
    """Only local absolute paths: no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME


def create_app(config: DemoConfig | None = None) -> FastAPI:
    config = config or DemoConfig()
    first = sgo.create_app(config)
    state: sgo.DemoState = first.state.demo
    state.cookie = SESSION_COOKIE
    flows: dict[str, _Flow] = {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app = FastAPI(title="Portal OS (demo)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.demo = state
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="recursos")
    app.router.routes.extend(route for route in first.router.routes
                             if getattr(route, "path", "").startswith("/_demo/"))

    def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status_code)

    def error_page(status_code: int, title: str, user: str | None = None) -> HTMLResponse:
        # 5xx pages carry class pagina-erro (the profile's error_page), others pagina-aviso
        css = "pagina-erro" if status_code >= 500 else "pagina-aviso"
        return page("erro.html", status_code=status_code, classe=css, titulo=title, user=user)

    def csrf_for(prelogin: str) -> str:
        key = config.secret_key.get_secret_value().encode()
        return hmac.new(key, b"portal:" + prelogin.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(request: Request, form: dict[str, str]) -> bool:
        prelogin = request.cookies.get(PRELOGIN_COOKIE, "")
        sent = form.get("__token", "")
        return bool(sgo._TOKEN_RE.fullmatch(prelogin) and sent
                    and hmac.compare_digest(sent, csrf_for(prelogin)))

    def login_step(request: Request, template: str, status_code: int = 200,
                   **context: Any) -> HTMLResponse:
        """A login page with its CSRF token, bound to the pre-login cookie."""
        prelogin = request.cookies.get(PRELOGIN_COOKIE, "")
        if not sgo._TOKEN_RE.fullmatch(prelogin):
            prelogin = secrets.token_urlsafe(24)
        context.setdefault("erro", None)
        response = page(template, status_code=status_code, token=csrf_for(prelogin),
                        user=None, **context)
        response.set_cookie(PRELOGIN_COOKIE, prelogin, httponly=True, samesite="lax")
        return response

    async def read_form(request: Request) -> dict[str, str] | None:
        body = await request.body()
        if len(body) > sgo.MAX_FORM_BYTES:
            return None
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}

    def flow_for(request: Request) -> _Flow | None:
        flow = flows.get(request.cookies.get(FLOW_COOKIE, ""))
        if flow is None or time.monotonic() - flow.created > FLOW_TTL_S:
            return None
        return flow

    def start_flow(username: str, retorno: str) -> str:
        now = time.monotonic()
        if len(flows) >= MAX_FLOWS:
            for token in [t for t, f in flows.items() if now - f.created > FLOW_TTL_S]:
                del flows[token]
            if len(flows) >= MAX_FLOWS:
                flows.clear()
        token = secrets.token_urlsafe(32)
        flows[token] = _Flow(username, retorno, now)
        return token

    def to_login(request: Request, expired: bool) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = f"retorno={quote(target, safe='')}" + ("&expirou=1" if expired else "")
        return RedirectResponse(f"/acesso?{query}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/_demo/"):
            return JSONResponse({"erro": exc.detail}, status_code=exc.status_code)
        titles = {404: "Página não encontrada", 405: "Método não permitido"}
        return error_page(exc.status_code, titles.get(exc.status_code, "Erro na requisição"))

    sgo.add_fault_injection(app, state, STATIC + "/",
                            lambda path: error_page(500, "Erro 500 - erro interno no servidor"))

    # --- login, step 1: the user ------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(HOME, status_code=303)

    @app.get("/acesso")
    async def user_form(request: Request) -> HTMLResponse:
        return login_step(request, "acesso.html", usuario="",
                          retorno=_local(request.query_params.get("retorno")),
                          expirou=request.query_params.get("expirou") == "1")

    @app.post("/acesso")
    async def user_submit(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return error_page(413, "Requisição muito grande")
        retorno = _local(form.get("retorno"))
        usuario = form.get("txtUsuario", "").strip()[:64]
        context: dict[str, Any] = {"usuario": usuario, "retorno": retorno, "expirou": False}
        if not csrf_ok(request, form):
            state.count("csrf_rejections")
            return login_step(request, "acesso.html", status_code=403, **context,
                              erro="Requisição inválida: recarregue a página e tente novamente.")
        if not hmac.compare_digest(usuario.encode(), config.username.encode()):
            state.count("login_failures")
            return login_step(request, "acesso.html", **context, erro="Usuário não encontrado.")
        response = RedirectResponse("/acesso/senha", status_code=303)
        response.set_cookie(FLOW_COOKIE, start_flow(usuario, retorno), httponly=True,
                            samesite="lax", max_age=int(FLOW_TTL_S))
        return response

    # --- login, step 2: the password ------------------------------------------------

    @app.get("/acesso/senha")
    async def password_form(request: Request) -> Response:
        flow = flow_for(request)
        if flow is None:
            return RedirectResponse("/acesso", status_code=303)
        return login_step(request, "senha.html", usuario=flow.username)

    @app.post("/acesso/senha")
    async def password_submit(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return error_page(413, "Requisição muito grande")
        flow = flow_for(request)
        if flow is None:
            return RedirectResponse("/acesso", status_code=303)
        if not csrf_ok(request, form):
            state.count("csrf_rejections")
            return login_step(request, "senha.html", status_code=403, usuario=flow.username,
                              erro="Requisição inválida: recarregue a página e tente novamente.")
        pass_ok = hmac.compare_digest(form.get("txtSenha", "").encode(),
                                      config.password.get_secret_value().encode())
        if state.faults.login_fails or not pass_ok:
            state.count("login_failures")
            return login_step(request, "senha.html", usuario=flow.username,
                              erro="Senha incorreta.")
        flows.pop(request.cookies.get(FLOW_COOKIE, ""), None)
        token = secrets.token_urlsafe(32)
        state.sessions[token] = sgo._Session(username=flow.username, created=time.monotonic())
        state.count("logins")
        response = RedirectResponse(flow.retorno, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")
        response.delete_cookie(FLOW_COOKIE)
        return response

    @app.get("/sair")
    async def logout(request: Request) -> RedirectResponse:
        state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = RedirectResponse("/acesso", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- home, search and OS pages ----------------------------------------------------

    @app.get(HOME)
    async def home(request: Request) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        return page("principal.html", user=sess.username)

    def result_row(numero: str) -> dict[str, str]:
        shown = page_record(numero, state.overrides.get(numero, {}))
        c, e, o = shown["cliente"], shown["equipamento"], shown["os"]
        return {"numero": numero, "codigo": os_code(numero), "abertura": o["data_abertura"],
                "cliente": c["razao_social"], "situacao": o["status"],
                "equipamento": " ".join(p for p in (e["tipo"], e["fabricante"]) if p)}

    @app.get("/os/consulta")
    async def search(request: Request) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        typed = request.query_params.get("numero")
        if typed is None:
            return page("consulta.html", user=sess.username, numero="", pesquisou=False,
                        linhas=[], aviso=None)
        state.count("searches")
        typed = typed.strip()[:20]
        rows: list[dict[str, str]] = []
        if not (typed.isascii() and typed.isdigit() and len(typed) <= 12):
            aviso: str | None = "Informe o número da OS (apenas dígitos)."
        else:
            prefix = typed.lstrip("0")
            numbers = search_numbers(prefix) if prefix else []
            if prefix not in numbers:
                state.count("not_found")
            rows = [result_row(n) for n in numbers]
            aviso = None if rows else "Nenhum registro encontrado."
        return page("consulta.html", user=sess.username, numero=typed, pesquisou=True,
                    linhas=rows, aviso=aviso)

    @app.get("/os/ver")
    async def os_page(request: Request) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        numero = numero_for_code(request.query_params.get("cod", ""))
        if numero is None:
            state.count("not_found")
            return error_page(404, "Registro não encontrado", sess.username)
        state.count("os_pages")
        if state.faults.slow_os_ms:
            await asyncio.sleep(state.faults.slow_os_ms / 1000)
        shown = page_record(numero, state.overrides.get(numero, {}))
        n = int(numero)
        visit = data.equipamento_key(n)
        return page(
            "os.html", user=sess.username, codigo=os_code(numero),
            aba="servico" if request.query_params.get("aba") == "servico" else "geral",
            c=shown["cliente"], e=shown["equipamento"], o=shown["os"],
            endereco=_address(shown["cliente"]), abertura=_opened(shown["os"], numero),
            cidade_uf="/".join(p for p in (shown["cliente"]["cidade"],
                                           shown["cliente"]["uf"]) if p),
            serie_no_painel=serial_in_panel(numero),
            historico=f"Equipamento já atendido na OS {visit}." if visit != n else "",
        )

    return app
