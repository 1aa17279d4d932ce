"""The demo legacy ERP: login with CSRF, OS search, JavaScript-rendered OS pages, faults.

``create_app(config)`` builds the ASGI app; ``serve(host, port, config)`` runs it.
Routes and selectors are documented in ``legacy_demo/README.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from registro.legacy_demo import data
from registro.legacy_demo.config import DemoConfig, Faults

HERE = Path(__file__).parent
SESSION_COOKIE = "DEMOSESSID"
PRELOGIN_COOKIE = "demo_prelogin"
MAX_FORM_BYTES = 8 * 1024
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")

# The labels of the OS page's cliente table (#tabela-cliente, written by os.js); the admin
# API can rename them, as a site's new version would.
CLIENTE_LABELS = (
    "Razão social", "Nome fantasia", "CNPJ", "Inscrição estadual", "Endereço", "Complemento",
    "Bairro", "Cidade/UF", "CEP", "Telefone", "E-mail", "Contato", "Cargo",
)

STAT_NAMES = (
    "requests", "logins", "login_failures", "csrf_rejections", "searches", "not_found",
    "os_pages", "os_data", "errors_500", "sessions_expired",
)


@dataclass
class _Session:
    username: str
    created: float
    requests: int = 0


@dataclass
class DemoState:
    """Mutable state of one running demo: faults, sessions, counters."""

    config: DemoConfig
    faults: Faults = field(init=False)
    sessions: dict[str, _Session] = field(default_factory=dict)
    expired_tokens: set[str] = field(default_factory=set)  # to say "your session expired"
    stats: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(init=False)
    # numero -> field -> value as the page shows it: the OS as changed over time
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    cookie: str = SESSION_COOKIE  # the session cookie's name (each demo site has its own)
    labels: dict[str, str] = field(default_factory=dict)  # cliente table label -> shown
    search_times: list[float] = field(default_factory=list)  # time.monotonic(), last 1000

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.faults = self.config.initial_faults()
        self.stats = dict.fromkeys(STAT_NAMES, 0)
        self.rng = random.Random(self.config.error_seed)
        self.overrides = {}
        self.labels = {}
        self.search_times = []

    def count(self, name: str) -> None:
        self.stats[name] += 1

    def searched(self) -> None:
        self.count("searches")
        self.search_times = [*self.search_times[-999:], time.monotonic()]

    def should_fail(self, path: str) -> bool:
        f = self.faults
        if f.fail_next > 0:
            self.faults = f.model_copy(update={"fail_next": f.fail_next - 1})
            return True
        if any(path.startswith(prefix) for prefix in f.fail_paths):
            return True
        return f.error_rate > 0 and self.rng.random() < f.error_rate

    def session_for(self, request: Request) -> tuple[_Session | None, bool]:
        """(session, expired): the request's live session, counting this request."""
        token = request.cookies.get(self.cookie, "")
        sess = self.sessions.get(token)
        if sess is None:
            return None, token in self.expired_tokens
        f = self.faults
        sess.requests += 1
        too_old = f.session_ttl_s is not None and time.monotonic() - sess.created > f.session_ttl_s
        too_used = f.session_max_requests is not None and sess.requests > f.session_max_requests
        if too_old or too_used:
            self._expire([token])
            return None, True
        return sess, False

    def _expire(self, tokens: list[str]) -> None:
        if len(self.expired_tokens) > 10_000:
            self.expired_tokens.clear()
        for token in tokens:
            del self.sessions[token]
            self.expired_tokens.add(token)
            self.count("sessions_expired")

    def expire_all_sessions(self) -> int:
        tokens = list(self.sessions)
        self._expire(tokens)
        return len(tokens)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_next(value: str | None) -> str:
    """Only local absolute paths: no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/os/buscar"



def add_fault_injection(app: FastAPI, state: DemoState, static_prefix: str,
                        server_error: Callable[[str], Response]) -> None:
    """The faults ``/_demo/faults`` sets (latency, HTTP 500 on matching paths) on every
    request but the admin API's, and ``no-store`` on every page but static files. Each
    demo site passes its own 500 page."""

    @app.middleware("http")
    async def inject_faults(request: Request, call_next):
        path = request.url.path
        if path.startswith("/_demo/"):
            return await call_next(request)
        state.count("requests")
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        static = path.startswith(static_prefix)
        if not static and state.should_fail(path):
            state.count("errors_500")
            return server_error(path)
        response = await call_next(request)
        if not static:
            response.headers["Cache-Control"] = "no-store"
        return response


def create_app(config: DemoConfig | None = None) -> FastAPI:
    config = config or DemoConfig()
    state = DemoState(config)
    env = _templates()
    app = FastAPI(title="Demo legacy ERP", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.demo = state
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, status_code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status_code)

    def csrf_for(prelogin: str) -> str:
        key = config.secret_key.get_secret_value().encode()
        return hmac.new(key, prelogin.encode(), hashlib.sha256).hexdigest()

    def to_login(request: Request, expired: bool) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = f"next={quote(target, safe='')}" + ("&expirada=1" if expired else "")
        return RedirectResponse(f"/login?{query}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/_demo/")):
            return JSONResponse({"erro": exc.detail}, status_code=exc.status_code)
        titles = {404: "Página não encontrada", 405: "Método não permitido"}
        return page("erro.html", status_code=exc.status_code,
                    titulo=titles.get(exc.status_code, "Erro na requisição"))

    # --- fault injection -------------------------------------------------------------

    def server_error(path: str) -> Response:
        if path.startswith("/api/"):
            return JSONResponse({"erro": "erro_interno"}, status_code=500)
        return page("erro.html", status_code=500)

    add_fault_injection(app, state, "/static/", server_error)

    # --- login -----------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/os/buscar", status_code=303)

    def login_page(request: Request, *, error: str | None = None, status_code: int = 200,
                   next_path: str | None = None) -> HTMLResponse:
        prelogin = request.cookies.get(PRELOGIN_COOKIE, "")
        if not _TOKEN_RE.fullmatch(prelogin):
            prelogin = secrets.token_urlsafe(24)
        response = page(
            "login.html", status_code=status_code,
            csrf_token=csrf_for(prelogin),
            next_path=_safe_next(next_path or request.query_params.get("next")),
            error=error,
            expired=request.query_params.get("expirada") == "1",
        )
        response.set_cookie(PRELOGIN_COOKIE, prelogin, httponly=True, samesite="lax")
        return response

    @app.get("/login")
    async def login_form(request: Request) -> HTMLResponse:
        return login_page(request)

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return page("erro.html", status_code=413, titulo="Requisição muito grande")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        prelogin = request.cookies.get(PRELOGIN_COOKIE, "")
        sent = form.get("csrf_token", "")
        next_path = _safe_next(form.get("next"))
        if not (_TOKEN_RE.fullmatch(prelogin) and sent
                and hmac.compare_digest(sent, csrf_for(prelogin))):
            state.count("csrf_rejections")
            return login_page(request, status_code=403, next_path=next_path,
                              error="Requisição inválida: token de segurança ausente ou "
                                    "expirado. Tente novamente.")
        user_ok = hmac.compare_digest(form.get("username", "").encode(), config.username.encode())
        pass_ok = hmac.compare_digest(
            form.get("password", "").encode(), config.password.get_secret_value().encode()
        )
        if state.faults.login_fails or not (user_ok and pass_ok):
            state.count("login_failures")
            return login_page(request, next_path=next_path, error="Usuário ou senha inválidos")
        token = secrets.token_urlsafe(32)
        state.sessions[token] = _Session(username=config.username, created=time.monotonic())
        state.count("logins")
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")
        return response

    @app.get("/logout")
    async def logout(request: Request) -> RedirectResponse:
        state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- search and OS pages ---------------------------------------------------------

    @app.get("/os/buscar")
    async def search(request: Request) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        raw = request.query_params.get("numero")
        if raw is None:
            return page("buscar.html", user=sess.username, numero="", warning=None)
        state.searched()
        typed = raw.strip()
        if not typed.isdigit() or not typed.isascii() or len(typed) > 12:
            return page("buscar.html", user=sess.username, numero=typed,
                        warning="Número de OS inválido: informe apenas dígitos.")
        numero = typed.lstrip("0")
        if not data.exists(numero):
            state.count("not_found")
            return page("buscar.html", user=sess.username, numero=typed,
                        warning=f"OS {numero or typed} não encontrada")
        return RedirectResponse(f"/os/{numero}", status_code=303)

    @app.get("/os/{numero}")
    async def os_page(request: Request, numero: str) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        if not data.exists(numero):
            state.count("not_found")
            return page("buscar.html", status_code=404, user=sess.username, numero=numero,
                        warning=f"OS {numero} não encontrada")
        state.count("os_pages")
        if state.faults.slow_os_ms:
            await asyncio.sleep(state.faults.slow_os_ms / 1000)
        return page("os.html", user=sess.username, numero=numero,
                    render_delay_ms=config.render_delay_ms)

    @app.get("/os/{numero}/dados-tecnicos")
    async def technical_frame(request: Request, numero: str) -> Response:
        sess, expired = state.session_for(request)
        if sess is None:
            return to_login(request, expired)
        if not data.exists(numero):
            return page("erro.html", status_code=404, titulo="Página não encontrada")
        return page("dados_tecnicos.html", numero=numero, render_delay_ms=config.render_delay_ms)

    @app.get("/api/os/{numero}")
    async def os_data(request: Request, numero: str) -> JSONResponse:
        sess, expired = state.session_for(request)
        if sess is None:
            return JSONResponse({"erro": "sessao_expirada" if expired else "nao_autenticado"},
                                status_code=401)
        if not data.exists(numero):
            return JSONResponse({"erro": "os_nao_encontrada"}, status_code=404)
        state.count("os_data")
        if state.faults.slow_os_ms:
            await asyncio.sleep(state.faults.slow_os_ms / 1000)
        n = int(numero)
        history = []
        if data.equipamento_key(n) != n:
            history.append(f"Equipamento já atendido na OS {data.equipamento_key(n)}.")
        record = data.changed_display_record(numero, state.overrides.get(numero, {}))
        return JSONResponse({**record, "historico": history, "rotulos": state.labels})

    # --- admin API (loopback + bearer token) ------------------------------------------

    def admin_denied(request: Request) -> JSONResponse | None:
        if not _is_loopback(request):
            return JSONResponse({"detail": "admin API only on loopback"}, status_code=403)
        expected = f"Bearer {config.admin_token.get_secret_value()}".encode()
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            return JSONResponse({"detail": "bad or missing admin token"}, status_code=401)
        return None

    @app.get("/_demo/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/_demo/faults")
    async def get_faults(request: Request) -> Response:
        return admin_denied(request) or JSONResponse(state.faults.model_dump())

    @app.post("/_demo/faults")
    async def set_faults(request: Request) -> Response:
        if denied := admin_denied(request):
            return denied
        try:
            changes = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=422)
        if not isinstance(changes, dict):
            return JSONResponse({"detail": "expected a JSON object"}, status_code=422)
        try:
            state.faults = Faults.model_validate({**state.faults.model_dump(), **changes})
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_input=False)},
                                status_code=422)
        return JSONResponse(state.faults.model_dump())

    @app.get("/_demo/stats")
    async def get_stats(request: Request) -> Response:
        return admin_denied(request) or JSONResponse(
            {**state.stats, "active_sessions": len(state.sessions),
             "search_times": state.search_times}
        )

    @app.post("/_demo/reset")
    async def reset(request: Request) -> Response:
        if denied := admin_denied(request):
            return denied
        state.reset()
        return JSONResponse({"faults": state.faults.model_dump(), "stats": state.stats})

    def changed_os(numero: str) -> JSONResponse:
        changes = state.overrides.get(numero, {})
        return JSONResponse({"numero": numero, "alteracoes": changes,
                             "registro": data.changed_display_record(numero, changes)})

    @app.get("/_demo/os/{numero}")
    async def get_os(request: Request, numero: str) -> Response:
        if denied := admin_denied(request):
            return denied
        if not data.exists(numero):
            return JSONResponse({"detail": f"OS {numero} does not exist"}, status_code=404)
        return changed_os(numero)

    @app.post("/_demo/os/{numero}")
    async def change_os(request: Request, numero: str) -> Response:
        """Change fields of one OS from now on (merged with earlier changes)."""
        if denied := admin_denied(request):
            return denied
        if not data.exists(numero):
            return JSONResponse({"detail": f"OS {numero} does not exist"}, status_code=404)
        try:
            changes = data.check_overrides(await request.json())
        except ValueError as exc:  # also a body that is not JSON
            return JSONResponse({"detail": str(exc)}, status_code=422)
        state.overrides[numero] = {**state.overrides.get(numero, {}), **changes}
        return changed_os(numero)

    @app.get("/_demo/labels")
    async def get_labels(request: Request) -> Response:
        return admin_denied(request) or JSONResponse({"rotulos": state.labels})

    @app.post("/_demo/labels")
    async def rename_labels(request: Request) -> Response:
        """Rename labels of the cliente table from now on ({"CNPJ": "C.N.P.J."}; null
        restores one); merged with earlier renames, all forgotten by /_demo/reset."""
        if denied := admin_denied(request):
            return denied
        try:
            changes = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=422)
        if not isinstance(changes, dict) or not changes:
            return JSONResponse({"detail": "expected a non-empty JSON object of "
                                           "label: new label"}, status_code=422)
        for label, shown in changes.items():
            if label not in CLIENTE_LABELS:
                return JSONResponse({"detail": f"unknown label {label!r}; known: "
                                               f"{', '.join(CLIENTE_LABELS)}"}, status_code=422)
            if shown is not None and not (isinstance(shown, str) and 0 < len(shown) <= 80):
                return JSONResponse({"detail": f"{label}: expected a string of 1 to 80 "
                                               "characters, or null"}, status_code=422)
        for label, shown in changes.items():
            if shown is None:
                state.labels.pop(label, None)
            else:
                state.labels[label] = shown
        return JSONResponse({"rotulos": state.labels})

    @app.post("/_demo/sessions/expire")
    async def expire_sessions(request: Request) -> Response:
        if denied := admin_denied(request):
            return denied
        return JSONResponse({"expired": state.expire_all_sessions()})

    return app


def serve(host: str, port: int, config: DemoConfig, site: str = "sgo") -> None:
    """Serve a demo site (``registro.legacy_demo.sites.SITES``) in the foreground until
    interrupted."""
    import uvicorn

    from registro.legacy_demo.sites import create_site_app

    uvicorn.run(create_site_app(site, config), host=host, port=port, log_level="warning",
                proxy_headers=False)
