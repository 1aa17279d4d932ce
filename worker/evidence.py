"""The capture of a failure's evidence from the browser (``registro.evidence`` keeps it).

One in-page script blanks every password field (so the screenshot shows none) and reads
the URL, the title and the HTML of the top page and its same-origin frames; then the
cookies (their values are redacted wherever they appear), the screenshot and the
browser console (``goog:loggingPrefs``, set in ``browser.py``; read through the legacy
log endpoint, which local and remote chromedriver both serve). Every part is best
effort: the first WebDriver failure ends the capture with what it has.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from selenium.common.exceptions import JavascriptException
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.webdriver import WebDriver

from registro.evidence import MAX_CONSOLE, Bundle, redact
from registro.worker.page import short

T = TypeVar("T")

log = logging.getLogger(__name__)

CONSOLE_LEVEL = "WARNING"  # what the browser keeps for us: warnings and errors

SNAPSHOT_JS = r"""
const frames = [];
const walk = (doc, depth) => {
  for (const el of doc.querySelectorAll('input[type=password]')) {
    el.value = ''; el.removeAttribute('value');
  }
  if (depth > 3) return;
  for (const f of doc.querySelectorAll('iframe, frame')) {
    let inner = null;
    try { inner = f.contentDocument; } catch (e) { inner = null; }
    if (!inner || !inner.documentElement) continue;
    walk(inner, depth + 1);
    frames.push({src: f.getAttribute('src') || '', url: inner.location.href,
                 html: inner.documentElement.outerHTML});
  }
};
walk(document, 0);
const doctype = document.doctype ? '<!DOCTYPE ' + document.doctype.name + '>\n' : '';
return {url: location.href, title: document.title, frames: frames,
        html: doctype + document.documentElement.outerHTML};
"""


def page_html(snapshot: dict[str, Any]) -> str:
    """The top page, then each same-origin frame's document after a marking comment."""
    parts = [snapshot["html"]]
    for frame in snapshot.get("frames") or []:
        parts.append(f"\n<!-- registro: frame src={frame['src']!r} url={frame['url']!r} -->\n"
                     f"{frame['html']}")
    return "".join(parts)


def console_entries(driver: WebDriver, since_ms: float) -> list[dict[str, Any]]:
    """This scrape's console warnings and errors (the log is drained by reading it)."""
    raw = driver.execute(Command.GET_LOG, {"type": "browser"})["value"] or []
    out = []
    for entry in raw:
        if entry.get("timestamp", 0) < since_ms:
            continue  # an earlier scrape's, in this reused session
        at = dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.UTC)
        out.append({"nivel": entry.get("level", ""), "origem": entry.get("source", ""),
                    "mensagem": entry.get("message", ""), "em": at.isoformat()})
    return out[-MAX_CONSOLE:]


def capture(driver: WebDriver | None, bundle: Bundle, *, password: str,
            since_ms: float) -> Bundle:
    """``bundle`` with what the browser shows, redacted (also without a browser: the
    message and the step log are redacted all the same). Each part is read on its own:
    one that fails (a renderer still busy with a page that timed out) costs only itself."""
    cookies: list[str] = []
    if driver is not None:
        bundle = _page(driver, bundle)
        cookies = [str(c.get("value", "")) for c in
                   _read(bundle, "cookies", driver.get_cookies) or []]
        shot = _read(bundle, "screenshot", driver.get_screenshot_as_png)
        if shot is None and _read(bundle, "stop", lambda: driver.execute_script(
                "window.stop(); return true")):  # the page still loading: stop it, again
            shot = _read(bundle, "screenshot", driver.get_screenshot_as_png)
        console = _read(bundle, "console", lambda: console_entries(driver, since_ms))
        bundle = replace(bundle, screenshot=shot, console=console or [])
    return redact(bundle, secrets=[password], tokens=cookies)


def _page(driver: WebDriver, bundle: Bundle) -> Bundle:
    """``bundle`` with the page's URL, title and redacted HTML, as far as they can be read."""
    try:
        driver.switch_to.default_content()
        snapshot = driver.execute_script(SNAPSHOT_JS)
        return replace(bundle, url=snapshot["url"], title=snapshot["title"],
                       html=page_html(snapshot))
    except JavascriptException as exc:  # a page mid-navigation
        log.info("evidence: page snapshot failed (%s)", short(exc))
        return replace(bundle, url=_read(bundle, "url", lambda: driver.current_url),
                       title=_read(bundle, "title", lambda: driver.title))
    except Exception as exc:  # noqa: BLE001 - the browser may be gone: keep what we have
        log.warning("evidence of OS %s: no page (%s)", bundle.numero_os, short(exc))
        return bundle


def _read(bundle: Bundle, what: str, read: Callable[[], T]) -> T | None:
    """``read()``, or None (logged) when the browser cannot give it."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - the browser may be gone: keep what we have
        log.warning("evidence of OS %s: no %s (%s)", bundle.numero_os, what, short(exc))
        return None
