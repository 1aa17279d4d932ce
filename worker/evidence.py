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
from dataclasses import replace
from typing import Any

from selenium.common.exceptions import JavascriptException
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.webdriver import WebDriver

from registro.evidence import MAX_CONSOLE, Bundle, redact
from registro.worker.page import short

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
    message and the step log are redacted all the same)."""
    cookies: list[str] = []
    if driver is not None:
        try:
            driver.switch_to.default_content()
            try:
                snapshot = driver.execute_script(SNAPSHOT_JS)
                bundle = replace(bundle, url=snapshot["url"], title=snapshot["title"],
                                 html=page_html(snapshot))
            except JavascriptException as exc:  # a page mid-navigation
                log.info("evidence: page snapshot failed (%s)", short(exc))
                bundle = replace(bundle, url=driver.current_url, title=driver.title)
            cookies = [str(c.get("value", "")) for c in driver.get_cookies()]
            bundle = replace(bundle, screenshot=driver.get_screenshot_as_png())
            bundle = replace(bundle, console=console_entries(driver, since_ms))
        except Exception as exc:  # noqa: BLE001 - the browser may be gone: keep what we have
            log.warning("evidence of OS %s incomplete: %s", bundle.numero_os, short(exc))
    return redact(bundle, secrets=[password], tokens=cookies)
