"""Failure evidence: what the legacy page looked like when a scrape failed.

A bundle holds the screenshot (PNG), the page HTML, the step log (the flow steps run,
timed, with how each ended), the browser console's warnings and errors, the URL and
title, the reason, the OS number, the task id and when it was taken.
``worker/evidence.py`` captures it from the browser; this module redacts it, caps its
size and keeps it:

Where bundles are kept, and read back, is ``registro.evidence_store``:

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
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    pass

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


def parts(screenshot_bytes: int | None, html_bytes: int | None) -> list[dict[str, Any]]:
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
        "partes": parts(shot, html), "html_truncado": False, "captura_descartada": False,
        "bytes_capturados": captured, "bytes_armazenados": captured,
    }
