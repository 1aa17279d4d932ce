"""``registro evidence get ID``: save a failed scrape's evidence bundle to files.

Read through the API (any replica serves any bundle), as an operator does:

    registro evidence get 3f2b9c0e8d7a4b1c9e6f5a4b3c2d1e0f --dir ./evid \\
        --api https://registro.example --key "$REGISTRO_API_KEY"

writes ``evidencia.json`` (reason, URL, title, step log, console errors, sizes),
``screenshot.png`` and ``page.html`` (the parts the bundle has). The key: ``--key``,
else ``REGISTRO_API_KEY``, else the first of ``REGISTRO_API_KEYS``, else the local key
of ``registro up`` (``./var/api-key``). Exit codes: 0 saved; 2 bad usage; 3 no such
bundle; 1 any other failure (unreachable API, refused key).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from registro import evidence, evidence_store

EXIT_UNKNOWN = 3
BASE = "/api/desenvolvimento/evidencias/"

evidence_app = typer.Typer(no_args_is_help=True,
                           help="Evidence of failed scrapes, kept in the database.")
stderr = Console(stderr=True)
# The local key `registro up` (devstack.up) creates: the fallback when none is configured.
LOCAL_API_KEY_FILE = Path("var") / "api-key"


def _fail(text: str, code: int) -> typer.Exit:
    stderr.print(text, style="red", markup=False, highlight=False)
    return typer.Exit(code)


def _api_key(given: str | None) -> str | None:
    if given:
        return given
    from registro.settings import get_settings

    keys = get_settings().api_key_list()
    if keys:
        return keys[0]
    if LOCAL_API_KEY_FILE.exists():
        return LOCAL_API_KEY_FILE.read_text().strip() or None
    return None


@evidence_app.command("get")
def get(
    evidencia_id: Annotated[str, typer.Argument(help="The evidencia_id of a FAILURE answer.")],
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Where to write the files (default: ./evidencia-<ID>).")] = None,
    api: Annotated[str, typer.Option("--api", envvar="REGISTRO_API_URL",
                                     help="The API's base URL.")] = "http://127.0.0.1:8000",
    key: Annotated[str | None, typer.Option("--key", envvar="REGISTRO_API_KEY",
                                            help="API key (Bearer).",
                                            show_default=False)] = None,
) -> None:
    """Save the bundle's parts to files: evidencia.json, screenshot.png, page.html."""
    import httpx

    if not re.match(evidence.ID_PATTERN, evidencia_id):
        raise _fail(f"invalid evidence id {evidencia_id!r}: 32 lowercase hex digits", 2)
    token = _api_key(key)
    if not token:
        raise _fail("no API key: pass --key or set REGISTRO_API_KEY", 2)
    directory = directory or Path(f"evidencia-{evidencia_id}")
    try:
        with httpx.Client(base_url=api.rstrip("/"), timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            answer = client.get(BASE + evidencia_id)
            if answer.status_code == 404:
                raise _fail(f"no evidence {evidencia_id} (never kept, or past its "
                            "retention)", EXIT_UNKNOWN)
            answer.raise_for_status()
            meta = answer.json()
            parts: dict[str, bytes] = {}
            for part in meta["partes"]:
                got = client.get(part["caminho"])
                got.raise_for_status()
                parts[part["nome"]] = got.content
    except httpx.HTTPError as exc:
        raise _fail(f"evidence {evidencia_id}: {exc}", 1) from None
    html = parts.get(evidence.PAGE)
    written = evidence_store.write_files(directory, meta, parts.get(evidence.SCREENSHOT),
                                         html.decode() if html is not None else None)
    for path in written:
        typer.echo(path)
