"""Failure evidence: what the legacy page looked like when a scrape failed.

A bundle holds the screenshot (PNG), the page HTML, the step log (the flow steps run,
timed, with how each ended), the browser console's warnings and errors, the URL and
title, the reason, the OS number, the task id and when it was taken.
``worker/evidence.py`` captures it from the browser; this module redacts it, caps its
size and keeps it:

- ``DatabaseEvidence``: the worker's and the API fallback's store, the ``evidencia``
  table. Why the database: every API replica can serve every bundle, whichever worker
  pod or replica captured it; it adds no stateful service; Redis is memory-only and runs
  with ``noeviction`` (bundles there would crowd out the queue); a volume is per node and
  dies with an emptyDir. Compressed (gzip) and capped at ``REGISTRO_EVIDENCE_MAX_BYTES``;
  bundles older than ``REGISTRO_EVIDENCE_RETENTION_DAYS`` are deleted on each write. The
  first failure of each reason per OS is kept within that window (later ones point at it).
- ``DirectoryEvidence``: the same bundle as files (``registro scrape``, local tools).

Secrets never reach either: ``redact`` removes the legacy password, the session cookie
values and CSRF tokens from every text part. The screenshot cannot be redacted as text;
the capture blanks password fields before taking it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html as htmllib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    from registro.settings import Settings

REDACTED = "[redacted]"
ID_PATTERN = r"^[0-9a-f]{32}$"
SCREENSHOT = "screenshot.png"
PAGE = "page.html"
META = "evidencia.json"
# Tokens and cookie values shorter than this are flags ("1", "pt-BR"), not secrets; the
# legacy password is redacted whatever its length.
MIN_TOKEN_LEN = 8
# Bounds of the step log and the console: together well under the smallest cap (64 KiB).
MAX_STEPS, MAX_CONSOLE, MAX_TEXT = 100, 40, 400

# --- redaction --------------------------------------------------------------------------

_TOKEN_NAME = re.compile(r"csrf|xsrf|token|authenticity|nonce", re.I)
_SECRET_PARAM = re.compile(r"csrf|xsrf|token|senha|passw|pwd|secret|sess|auth", re.I)
_TAG = re.compile(r"<(input|meta)\b[^>]*>", re.I)
_ATTR = re.compile(r"""([^\s"'=<>/]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def _attrs(tag: str) -> dict[str, tuple[str, re.Match[str]]]:
    out: dict[str, tuple[str, re.Match[str]]] = {}
    for m in _ATTR.finditer(tag):
        value = next(g for g in m.groups()[1:] if g is not None)
        out.setdefault(m.group(1).lower(), (htmllib.unescape(value), m))
    return out


def _secret_attr(kind: str, attrs: dict[str, tuple[str, re.Match[str]]]) -> str | None:
    """The attribute holding a secret in this tag: a CSRF-like hidden input's or a
    password field's ``value``, a csrf meta tag's ``content``."""
    names = " ".join(attrs[a][0] for a in ("name", "id", "property") if a in attrs)
    if kind == "input":
        password = attrs.get("type", ("",))[0].lower() == "password"
        return "value" if password or _TOKEN_NAME.search(names) else None
    return "content" if _TOKEN_NAME.search(names) else None


def page_tokens(html: str) -> tuple[str, list[str]]:
    """The HTML with the values of CSRF-like inputs, password fields and csrf meta tags
    replaced, and those values (to be redacted wherever else they appear)."""
    found: list[str] = []

    def blank(tag_match: re.Match[str]) -> str:
        tag = tag_match.group(0)
        attrs = _attrs(tag)
        name = _secret_attr(tag_match.group(1).lower(), attrs)
        if name is None or name not in attrs or not attrs[name][0]:
            return tag
        value, m = attrs[name]
        found.append(value)
        return f'{tag[:m.start()]}{m.group(1)}="{REDACTED}"{tag[m.end():]}'

    return _TAG.sub(blank, html), found


def _variants(secret: str) -> set[str]:
    """How a secret can appear in a page (as serialised text or attribute, escaped more
    or less), a URL or a log line."""
    amp = secret.replace("&", "&amp;")
    return {v for v in (secret, htmllib.escape(secret), htmllib.escape(secret, quote=False),
                        amp, amp.replace("<", "&lt;"), amp.replace('"', "&quot;"),
                        quote(secret, safe=""), quote_plus(secret),
                        json.dumps(secret)[1:-1]) if v}


class Redactor:
    """Replaces every known secret in a text. ``secrets`` are redacted at any length (the
    legacy password); ``tokens`` (cookie values, CSRF tokens) from 8 characters."""

    def __init__(self, secrets: Iterable[str] = (), tokens: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for s in secrets:
            if s:
                variants |= _variants(s)
        for t in tokens:
            if len(t) >= MIN_TOKEN_LEN:
                variants |= _variants(t)
        ordered = sorted(variants, key=len, reverse=True)  # a secret inside another: whole
        self._re = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def text(self, value: str) -> str:
        return self._re.sub(REDACTED, value) if self._re is not None else value

    def url(self, value: str) -> str:
        """A URL's own password and secret-looking query parameters, then the secrets."""
        try:
            parts = urlsplit(value)
            netloc = parts.netloc
            if parts.password is not None:
                netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
            query = "&".join(
                f"{k}={REDACTED}" if sep and _SECRET_PARAM.search(k) else f"{k}{sep}{v}"
                for k, sep, v in (pair.partition("=") for pair in parts.query.split("&")))
            value = urlunsplit(parts._replace(netloc=netloc, query=query))
        except ValueError:  # not a URL urllib can split: the secrets only
            pass
        return self.text(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def redact(bundle: Bundle, *, secrets: Iterable[str] = (), tokens: Iterable[str] = ()
           ) -> Bundle:
    """The bundle without the given secrets, nor any CSRF token its HTML holds, in any
    text part; the log entries cut to their bounds."""
    html, found = page_tokens(bundle.html) if bundle.html else (bundle.html, [])
    r = Redactor(secrets, [*tokens, *found])

    def entries(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
        return [{k: _cut(r.text(v)) if isinstance(v, str) else v for k, v in item.items()}
                for item in items[:limit]]

    return replace(
        bundle, message=_cut(r.text(bundle.message)),
        url=r.url(bundle.url) if bundle.url else bundle.url,
        title=r.text(bundle.title) if bundle.title else bundle.title,
        html=r.text(html) if html else html,
        steps=entries(bundle.steps, MAX_STEPS), console=entries(bundle.console, MAX_CONSOLE))


# --- the bundle, capped and compressed ------------------------------------------------------


@dataclass
class Bundle:
    numero_os: str
    reason: str
    message: str = ""
    task_id: str | None = None
    url: str | None = None
    title: str | None = None
    html: str | None = None
    screenshot: bytes | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class Packed:
    """A bundle as stored: gzip'd HTML and log, the PNG as it is (already deflated)."""

    html_gz: bytes | None
    screenshot: bytes | None
    log_gz: bytes
    html_bytes: int  # the HTML kept, decompressed (what is served)
    captured_bytes: int  # HTML and screenshot as captured
    html_truncated: bool
    screenshot_dropped: bool

    @property
    def stored_bytes(self) -> int:
        return len(self.html_gz or b"") + len(self.screenshot or b"") + len(self.log_gz)


TRUNCATION_MARK = "\n<!-- registro: HTML truncated to fit REGISTRO_EVIDENCE_MAX_BYTES -->\n"
_GZIP_LEVEL = 6
_MIN_HTML_BUDGET = 256  # below this no useful HTML fits: none is kept


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, _GZIP_LEVEL, mtime=0)


def gzip_within(text: str, budget: int) -> tuple[bytes | None, int, bool]:
    """``text`` gzip'd in at most ``budget`` bytes: whole, or its longest prefix (to 1 KiB
    of characters) that fits with a truncation mark. ``(data, bytes kept, truncated)``."""
    raw = text.encode()
    whole = _gzip(raw)
    if len(whole) <= budget:
        return whole, len(raw), False
    lo, hi, best = 0, len(text), None
    while budget >= _MIN_HTML_BUDGET and hi - lo > 1024:
        mid = (lo + hi) // 2
        kept = (text[:mid] + TRUNCATION_MARK).encode()
        data = _gzip(kept)
        if len(data) <= budget:
            lo, best = mid, (data, len(kept))
        else:
            hi = mid
    return (best[0], best[1], True) if best else (None, 0, True)


def pack(bundle: Bundle, max_bytes: int) -> Packed:
    """Compress and cap: the HTML is truncated first, then the screenshot dropped."""
    log_gz = _gzip(json.dumps({"passos": bundle.steps, "console": bundle.console},
                              ensure_ascii=False).encode())
    room = max(max_bytes - len(log_gz), 0)
    shot = bundle.screenshot
    dropped = shot is not None and len(shot) > room
    if dropped:
        shot = None
    html_gz, html_bytes, truncated = (gzip_within(bundle.html, room - len(shot or b""))
                                      if bundle.html is not None else (None, 0, False))
    captured = len((bundle.html or "").encode()) + len(bundle.screenshot or b"")
    return Packed(html_gz=html_gz, screenshot=shot, log_gz=log_gz, html_bytes=html_bytes,
                  captured_bytes=captured, html_truncated=truncated,
                  screenshot_dropped=dropped)


def _parts(screenshot_bytes: int | None, html_bytes: int | None) -> list[dict[str, Any]]:
    parts = []
    if screenshot_bytes is not None:
        parts.append({"nome": SCREENSHOT, "tipo": "image/png", "bytes": screenshot_bytes})
    if html_bytes is not None:
        parts.append({"nome": PAGE, "tipo": "text/html", "bytes": html_bytes})
    return parts


def metadata(bundle: Bundle) -> dict[str, Any]:
    """The description written beside a bundle's files: the API's ``Evidencia`` answer
    but its ``id`` (files are written whole: nothing truncated or dropped)."""
    html = len(bundle.html.encode()) if bundle.html is not None else None
    shot = len(bundle.screenshot) if bundle.screenshot is not None else None
    captured = (html or 0) + (shot or 0)
    return {
        "numero_os": bundle.numero_os, "motivo": bundle.reason, "mensagem": bundle.message,
        "task_id": bundle.task_id, "url": bundle.url, "titulo": bundle.title,
        "criado_em": bundle.created_at.astimezone(dt.UTC).isoformat(),
        "passos": bundle.steps, "erros_console": bundle.console,
        "partes": _parts(shot, html), "html_truncado": False, "captura_descartada": False,
        "bytes_capturados": captured, "bytes_armazenados": captured,
    }


# --- where bundles are kept ------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """Where a bundle went: its id in the database, or the files written."""

    id: str | None = None
    files: list[str] = field(default_factory=list)


class EvidenceSink(Protocol):
    def known(self, numero_os: str, reason: str) -> Kept | None:
        """A bundle already kept for this OS and reason (then none is captured)."""

    def keep(self, bundle: Bundle) -> Kept: ...


def write_files(directory: Path, meta: dict[str, Any], screenshot: bytes | None,
                html: str | None) -> list[str]:
    """The bundle's parts as ``evidencia.json``, ``screenshot.png``, ``page.html``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / META]
    written[0].write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if screenshot is not None:
        (directory / SCREENSHOT).write_bytes(screenshot)
        written.append(directory / SCREENSHOT)
    if html is not None:
        (directory / PAGE).write_text(html, encoding="utf-8")
        written.append(directory / PAGE)
    return [str(p) for p in written]


class NoEvidence:
    """Keeps nothing, so nothing is captured (a tool that was not asked for evidence)."""

    def known(self, numero_os: str, reason: str) -> Kept | None:
        return Kept()

    def keep(self, bundle: Bundle) -> Kept:
        return Kept()


class DirectoryEvidence:
    """Each bundle in ``<directory>/<UTC time>_<numero_os>_<reason>/`` (local tools), or
    in ``<directory>/<numero_os>/`` with ``per_os`` (``registro profile check``)."""

    def __init__(self, directory: Path, per_os: bool = False) -> None:
        self.directory = directory
        self.per_os = per_os

    def known(self, numero_os: str, reason: str) -> Kept | None:
        return None

    def keep(self, bundle: Bundle) -> Kept:
        stamp = bundle.created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = bundle.numero_os if self.per_os else f"{stamp}_{bundle.numero_os}_{bundle.reason}"
        name = re.sub(r"[^0-9A-Za-z_-]", "_", name)
        return Kept(files=write_files(self.directory / name, metadata(bundle),
                                      bundle.screenshot, bundle.html))


class DatabaseEvidence:
    """Bundles in the ``evidencia`` table, capped, with retention (see the module doc)."""

    def __init__(self, database_url: str, max_bytes: int, retention_days: float) -> None:
        self.database_url = database_url
        self.max_bytes = max_bytes
        self.retention = dt.timedelta(days=retention_days)

    @classmethod
    def from_settings(cls, settings: Settings) -> DatabaseEvidence:
        return cls(settings.database_url, settings.evidence_max_bytes,
                   settings.evidence_retention_days)

    def _cutoff(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - self.retention

    def known(self, numero_os: str, reason: str) -> Kept | None:
        if not self.retention:
            return Kept()  # retention 0: nothing is kept, nothing captured
        from sqlalchemy import select

        from registro.db import session_scope
        from registro.models import Evidencia

        with session_scope(self.database_url) as session:
            found = session.scalar(select(Evidencia.id).where(
                Evidencia.numero_os == numero_os, Evidencia.motivo == reason,
                Evidencia.criado_em >= self._cutoff()))
        return Kept(id=found) if found else None

    def keep(self, bundle: Bundle) -> Kept:
        """Store the bundle, unless one of the same OS and reason is within the window
        (its id is answered); expired bundles are deleted first, in the same write."""
        if not self.retention:
            return Kept()
        from sqlalchemy import delete
        from sqlalchemy.exc import IntegrityError

        from registro.db import session_scope
        from registro.models import Evidencia

        packed = pack(bundle, self.max_bytes)
        row_id = uuid.uuid4().hex
        try:
            with session_scope(self.database_url) as session:
                session.execute(delete(Evidencia).where(Evidencia.criado_em < self._cutoff()))
                session.add(Evidencia(
                    id=row_id, numero_os=bundle.numero_os, motivo=bundle.reason,
                    mensagem=bundle.message, task_id=bundle.task_id, url=bundle.url,
                    titulo=bundle.title, criado_em=bundle.created_at,
                    html_gz=packed.html_gz, screenshot_png=packed.screenshot,
                    log_gz=packed.log_gz,
                    html_bytes=packed.html_bytes if packed.html_gz is not None else None,
                    screenshot_bytes=len(packed.screenshot) if packed.screenshot else None,
                    html_truncado=packed.html_truncated,
                    screenshot_descartado=packed.screenshot_dropped,
                    capturado_bytes=packed.captured_bytes,
                    armazenado_bytes=packed.stored_bytes))
        except IntegrityError:  # a bundle of this OS and reason is kept already
            return self.known(bundle.numero_os, bundle.reason) or Kept()
        return Kept(id=row_id)


# --- reading it back ---------------------------------------------------------------------------


def read_metadata(database_url: str, evidencia_id: str) -> dict[str, Any] | None:
    """The stored bundle's description (``metadata`` plus ``id``), without its parts."""
    from sqlalchemy import select

    from registro.db import session_scope
    from registro.models import Evidencia
    from registro.records import as_utc

    e = Evidencia
    with session_scope(database_url) as session:
        row = session.execute(select(
            e.numero_os, e.motivo, e.mensagem, e.task_id, e.url, e.titulo, e.criado_em,
            e.log_gz, e.html_bytes, e.screenshot_bytes, e.html_truncado,
            e.screenshot_descartado, e.capturado_bytes, e.armazenado_bytes,
        ).where(e.id == evidencia_id)).one_or_none()
    if row is None:
        return None
    log = json.loads(gzip.decompress(row.log_gz))
    return {
        "id": evidencia_id, "numero_os": row.numero_os, "motivo": row.motivo,
        "mensagem": row.mensagem, "task_id": row.task_id, "url": row.url,
        "titulo": row.titulo, "criado_em": as_utc(row.criado_em).isoformat(),
        "passos": log["passos"], "erros_console": log["console"],
        "partes": _parts(row.screenshot_bytes, row.html_bytes),
        "html_truncado": row.html_truncado, "captura_descartada": row.screenshot_descartado,
        "bytes_capturados": row.capturado_bytes, "bytes_armazenados": row.armazenado_bytes,
    }


def read_part(database_url: str, evidencia_id: str, part: str) -> tuple[bool, bytes | None]:
    """``(bundle exists, the part as served)``: the PNG, or the HTML in UTF-8."""
    from sqlalchemy import select

    from registro.db import session_scope
    from registro.models import Evidencia

    column = {SCREENSHOT: Evidencia.screenshot_png, PAGE: Evidencia.html_gz}[part]
    with session_scope(database_url) as session:
        row = session.execute(select(Evidencia.id, column)
                              .where(Evidencia.id == evidencia_id)).one_or_none()
    if row is None:
        return False, None
    data = row[1]
    return True, (gzip.decompress(data) if part == PAGE and data is not None else data)
