"""Failure artifacts: a screenshot and the page source of the page a scrape failed on,
saved as ``<artifacts_dir>/<UTC timestamp>_<numero_os>_<reason>.png|.html``."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

from registro.worker.page import short

log = logging.getLogger(__name__)


def save_artifacts(driver: WebDriver, directory: Path, numero_os: str, reason: str) -> list[str]:
    """Save what the top page shows; returns the paths written (best effort)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    base = directory / f"{stamp}_{re.sub(r'[^0-9A-Za-z_-]', '_', numero_os)}_{reason}"
    saved: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        driver.switch_to.default_content()
        if driver.save_screenshot(str(base.with_suffix(".png"))):
            saved.append(str(base.with_suffix(".png")))
        base.with_suffix(".html").write_text(driver.page_source, encoding="utf-8")
        saved.append(str(base.with_suffix(".html")))
    except Exception as exc:  # noqa: BLE001 - the browser may be gone
        log.warning("could not save all failure artifacts for OS %s: %s", numero_os,
                    short(exc))
    return saved
