"""WebDriver sessions: a remote browser (``SELENIUM_URL``, the pod's sidecar) or a
local headless Chromium driven by Debian's chromedriver.

``open_browser(settings)`` returns a ``Browser`` holding the driver and whatever
must be cleaned up with it; ``Browser.quit()`` always leaves no process behind.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from registro.settings import Settings
from registro.worker.evidence import CONSOLE_LEVEL

log = logging.getLogger(__name__)

# Headless Chromium as root, without network beyond loopback (see shared notes).
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--window-size=1024,768", "--renderer-process-limit=1",
    "--disable-extensions", "--mute-audio", "--no-default-browser-check",
    # memory: no zygote processes (allowed without the sandbox), GPU work in the browser
    # process, no back/forward cache of visited pages, no spare renderer, one renderer
    # for everything (one trusted legacy site), a 1024x768 window: peak PSS over 20
    # scrapes ~480 MiB instead of ~530 MiB (benchmarks/bench_scraper.py)
    "--no-zygote", "--in-process-gpu", "--disable-site-isolation-trials",
    ("--disable-features=BackForwardCache,SpareRendererForSitePerProcess,Translate,"
     "OptimizationHints,MediaRouter"),
)


def chrome_options(user_data_dir: str | None) -> Options:
    opts = Options()
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    if user_data_dir:
        opts.add_argument(f"--user-data-dir={user_data_dir}")
    # "eager": navigation returns at DOMContentLoaded; the profile's conditions wait for
    # what matters (JS-rendered values, frames) instead of every image and frame.
    opts.page_load_strategy = "eager"
    # the console's warnings and errors, for a failure's evidence (worker/evidence.py)
    opts.set_capability("goog:loggingPrefs", {"browser": CONSOLE_LEVEL})
    return opts


@dataclass
class Browser:
    driver: WebDriver
    remote: bool
    service: Service | None = None
    user_data_dir: str | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def driver_pid(self) -> int | None:
        """The local chromedriver's pid (its children are the Chromium processes)."""
        proc = getattr(self.service, "process", None)
        return proc.pid if proc is not None else None

    def alive(self) -> bool:
        """Cheap liveness check: one round trip."""
        try:
            return self.driver.execute_script("return 1") == 1
        except Exception:  # noqa: BLE001 - any failure means the session is unusable
            return False

    def quit(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.driver.quit()
        except Exception as exc:  # noqa: BLE001 - the session may already be gone
            log.warning("driver.quit failed (%s); killing the local driver", exc)
        if self.service is not None:
            with contextlib.suppress(Exception):
                self.service.stop()
            proc = getattr(self.service, "process", None)
            if proc is not None and proc.poll() is None:
                proc.kill()
        if self.user_data_dir:
            shutil.rmtree(self.user_data_dir, ignore_errors=True)


def open_browser(settings: Settings) -> Browser:
    """Start a WebDriver session (remote when ``SELENIUM_URL`` is set)."""
    if settings.selenium_url:
        driver = webdriver.Remote(
            command_executor=settings.selenium_url, options=chrome_options(None)
        )
        browser = Browser(driver=driver, remote=True)
    else:
        user_data_dir = tempfile.mkdtemp(prefix="registro-chromium-")
        opts = chrome_options(user_data_dir)
        opts.binary_location = settings.chromium_binary
        service = Service(executable_path=settings.chromedriver_binary)
        try:
            driver = webdriver.Chrome(service=service, options=opts)
        except Exception:
            shutil.rmtree(user_data_dir, ignore_errors=True)
            with contextlib.suppress(Exception):
                service.stop()
            raise
        browser = Browser(driver=driver, remote=False, service=service,
                          user_data_dir=user_data_dir)
    timeout = settings.page_timeout_s
    browser.driver.set_page_load_timeout(timeout)
    browser.driver.set_script_timeout(timeout + 10)  # in-page waits end on their own first
    log.info("browser session started (%s)", "remote " + settings.selenium_url
             if settings.selenium_url else "local chromedriver")
    return browser
