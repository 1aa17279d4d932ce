"""The ``registro`` command line (Typer + Rich).

    registro scrape 12345          scrape one OS, print its record as JSON, store it
    registro demo --port 8080      serve the demo legacy system on its own
    registro db upgrade            apply the database migrations
    registro profile lint P.yaml   validate a site profile (no browser)
    registro profile check P.yaml --os 1 --os 2   read OS with it, field by field
    registro evidence get ID       save a failed scrape's evidence (registro/evidence_cli.py)

``app`` is a module-level Typer: other parts add their subcommands to it
(``registro up``/``worker``/``api`` come from ``registro.devstack.register``).

Exit codes of ``scrape``: 0 stored; 3 OS not found; 4 login failed;
5 other permanent failure (profile mismatch, invalid data); 6 transient failure
(timeout, HTTP 5xx, WebDriver error, no token of the legacy budget in time: worth
retrying); 2 bad usage. ``scrape`` takes its token of the global legacy budget in Redis
(``REGISTRO_REDIS_URL``) like a worker, unless Redis cannot be reached.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from registro.errors import Reason, ScrapeError
from registro.evidence_cli import evidence_app
from registro.queue import NUMERO_OS_RE
from registro.settings import Settings, get_settings

EXIT_NOT_FOUND = 3
EXIT_LOGIN_FAILED = 4
EXIT_PERMANENT = 5
EXIT_TRANSIENT = 6

app = typer.Typer(
    name="registro", no_args_is_help=True, add_completion=False,
    help="Registro: look up service orders (OS) in a legacy web system and store them.",
    pretty_exceptions_show_locals=False,  # a traceback must not print a password
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic migrations).")
app.add_typer(db_app, name="db")
profile_app = typer.Typer(no_args_is_help=True, help="Site profiles: validate one (lint) and "
                          "try it on the live site, field by field (check).")
app.add_typer(profile_app, name="profile")

stderr = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=stderr, show_path=False)], force=True,
    )


def _print_error(text: str) -> None:
    """Error text as it is: messages carry locators like ``input[name=usr]`` that Rich
    would otherwise read as markup (dropping them, or failing on ``[/html]``)."""
    stderr.print(text, style="red", markup=False, highlight=False)


def exit_code_for(err: ScrapeError) -> int:
    if err.reason == Reason.NOT_FOUND:
        return EXIT_NOT_FOUND
    if err.reason == Reason.LOGIN_FAILED and not err.transient:
        return EXIT_LOGIN_FAILED
    return EXIT_TRANSIENT if err.transient else EXIT_PERMANENT


@contextlib.contextmanager
def legacy_site(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a legacy site: the configured one, or else a demo system
    started here (as a child process, stopped on exit) with the configured credentials."""
    if settings.legacy_url or settings.site_profile:
        yield settings
        return
    from registro import local_services

    port = local_services.free_port()
    env = {**os.environ,
           "REGISTRO_DEMO_USERNAME": settings.legacy_username,
           "REGISTRO_DEMO_PASSWORD": settings.legacy_password.get_secret_value(),
           "REGISTRO_DEMO_ADMIN_TOKEN": os.environ.get("REGISTRO_DEMO_ADMIN_TOKEN")
           or secrets.token_urlsafe(24)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registro.legacy_demo", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        local_services.wait_for_port(port, proc=proc)
        stderr.print(f"[dim]no legacy site configured: started the demo system on "
                     f"http://127.0.0.1:{port}[/dim]")
        yield settings.model_copy(update={"legacy_url": f"http://127.0.0.1:{port}"})
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@app.command()
def scrape(
    numero_os: str = typer.Argument(..., help="OS number (digits)."),
    save: bool = typer.Option(True, "--save/--no-save", help="Store the record in DATABASE_URL."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each step on stderr."),
) -> None:
    """Scrape one OS from the configured legacy site (the demo system when none is
    configured): progress on stderr, the record as JSON on stdout."""
    _setup_logging(verbose)
    numero_os = numero_os.strip()
    if not NUMERO_OS_RE.match(numero_os):
        _print_error(f"invalid OS number {numero_os!r}: 1 to 12 digits")
        raise typer.Exit(2)
    from registro.db import upgrade
    from registro.evidence import DirectoryEvidence
    from registro.records import public_data
    from registro.worker.profile import ProfileError
    from registro.worker.scraper import Scraper, scrape_and_save

    settings = get_settings()
    if save:
        upgrade(settings.database_url)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                        console=stderr, transient=True)
    try:
        # a failure's evidence as files, under REGISTRO_ARTIFACTS_DIR
        evidence = DirectoryEvidence(settings.artifacts_dir)
        with legacy_site(settings) as site, progress, \
                Scraper(site, evidence=evidence) as scraper:
            bar = progress.add_task(f"OS {numero_os}", total=100)

            def report(step: str, percent: int, message: str) -> None:
                progress.update(bar, completed=percent, description=message)

            _draw_budget(site, report)
            if save:
                scraped, ids = scrape_and_save(scraper, site.database_url, numero_os, report)
            else:
                scraped, ids = scraper.scrape(numero_os, report), None
            progress.update(bar, completed=100, description="Done")
    except ProfileError as exc:
        _print_error(str(exc))
        raise typer.Exit(EXIT_PERMANENT) from None
    except ScrapeError as err:
        _print_error(f"OS {numero_os}: {err}")
        for path in err.artifacts:
            stderr.print(f"  artifact: {path}", markup=False, highlight=False)
        typer.echo(json.dumps({"status": "error", "numero_os": numero_os,
                               "reason": err.reason.value, "transient": err.transient,
                               "message": err.message, "artifacts": err.artifacts},
                              ensure_ascii=False, indent=2))
        raise typer.Exit(exit_code_for(err)) from None
    out = {"status": "success", "data": public_data(scraped),
           "scraped_fields": scraped.field_count()}
    if ids is not None:
        out.update(cliente_id=ids.cliente_id, equipamento_id=ids.equipamento_id,
                   os_id=ids.os_id)
        stderr.print(f"[green]stored OS {numero_os}[/green] in {escape(_safe_url(settings))}")
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


def _draw_budget(settings: Settings, report: Any) -> None:
    """One token of the legacy budget the workers share, waited for as a worker waits;
    with Redis unreachable there is no shared budget and the scrape goes ahead."""
    from registro.errors import TransientScrapeError
    from registro.worker.ratelimit import BudgetExhausted, draw_if_reachable

    def on_wait(seconds: float) -> None:
        report("queued", 1, f"Waiting {seconds:.1f} s for the legacy budget")

    try:
        drawn = draw_if_reachable(settings, max(1.0, settings.task_soft_time_limit_s * 0.5),
                                  on_wait)
    except BudgetExhausted as exc:
        raise TransientScrapeError(Reason.RATE_LIMITED, str(exc)) from None
    if not drawn:
        stderr.print("[dim]Redis unreachable: no token taken from the shared legacy "
                     "budget[/dim]")


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    render_delay_ms: int = typer.Option(None, help="Delay before the OS page shows values."),
    latency_ms: int = typer.Option(None, help="Added delay on every request."),
    site: str = typer.Option("sgo", help="sgo: the default demo (profile demo.yaml); portal: "
                             "the second demo site (profile portal.yaml)."),
) -> None:
    """Serve the demo legacy system (the site Registro scrapes by default)."""
    from registro.legacy_demo import DemoConfig, serve
    from registro.legacy_demo.sites import SITES

    if site not in SITES:
        _print_error(f"unknown demo site {site!r}; known: {', '.join(SITES)}")
        raise typer.Exit(2)
    options: dict[str, Any] = {"render_delay_ms": render_delay_ms, "latency_ms": latency_ms}
    config = DemoConfig(**{k: v for k, v in options.items() if v is not None})
    if "REGISTRO_DEMO_ADMIN_TOKEN" not in os.environ:
        stderr.print(f"demo admin token: {config.admin_token.get_secret_value()}")
    stderr.print(f"demo legacy system {site} on http://{host}:{port}/ (login {config.username})")
    serve(host, port, config, site)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to DATABASE_URL (safe to run at every start)."""
    from registro.db import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    stderr.print(f"database at head: {escape(_safe_url(settings))}")


ProfileArg = Annotated[Path, typer.Argument(help="The site profile (YAML).")]


@profile_app.command("lint")
def profile_lint(profile: ProfileArg) -> None:
    """Validate a site profile without a browser: YAML, the profile format, each parser
    chain against its field's type; notes of schema changes newer than the profile.
    Every error names file:line:column. Exit 1 on errors."""
    from registro.worker.profile_check import lint, lint_text

    report = lint(profile)
    typer.echo(lint_text(report))
    raise typer.Exit(0 if report.ok else 1)


@profile_app.command("check")
def profile_check(
    profile: ProfileArg,
    numeros: Annotated[list[str], typer.Option("--os", help="OS number; repeat for several.")],
    url: str | None = typer.Option(None, help="Base URL of the site. Default: "
                                   "REGISTRO_LEGACY_URL, else the profile's base_url."),
    username: str | None = typer.Option(None, help="Default: REGISTRO_LEGACY_USERNAME."),
    password_env: str | None = typer.Option(
        None, metavar="VAR", help="Environment variable holding the password. Default: "
        "REGISTRO_LEGACY_PASSWORD (as the settings read it)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    evidence: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Per failed OS: DIR/<os>/ with screenshot.png, page.html, "
        "steps.json, meta.json.")] = None,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each step on stderr."),
) -> None:
    """Read each OS from the live site with the profile, as a worker does (one login,
    one browser session): per field its value or why it is empty, the locator that
    matched, each step's time, the classification of a failure. Exit 0 only when every
    required field of every OS was read; 1 otherwise; 2 on bad usage."""
    _setup_logging(verbose)
    from registro.worker import profile_check as pc
    from registro.worker.profile import ProfileError

    bad = [n for n in numeros if not NUMERO_OS_RE.match(n.strip())]
    if bad:
        _print_error(f"invalid OS number(s) {bad}: 1 to 12 digits")
        raise typer.Exit(2)
    password = None
    if password_env is not None:
        if password_env not in os.environ:
            _print_error(f"environment variable {password_env} (--password-env) is not set")
            raise typer.Exit(2)
        password = os.environ[password_env]
    settings = pc.check_settings(get_settings(), profile, url=url, username=username,
                                 password=password)
    try:
        report = pc.check(profile, [n.strip() for n in numeros], settings, evidence)
    except ProfileError as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(pc.check_json(report))
    else:
        pc.print_check(report, Console(width=None if sys.stdout.isatty() else 200))
    raise typer.Exit(0 if report.ok else 1)


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


# Commands the dev harness contributes (``registro up``, ``worker``, ``api``). The images
# leave the harness out (.dockerignore): there the CLI has the commands above only.
if importlib.util.find_spec("registro.devstack") is not None:
    importlib.import_module("registro.devstack").register(app)
app.add_typer(evidence_app, name="evidence")


if __name__ == "__main__":
    app()
