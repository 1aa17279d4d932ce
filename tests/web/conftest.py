"""The real stack for the web demo page: ``registro up`` as a user runs it, and Debian's
Chromium driven through chromedriver (Selenium).

"Workers stopped" and "Redis stopped" are simulated with SIGSTOP/SIGCONT of those child
processes of ``registro up``: a stopped process holds its sockets but answers nothing,
which is what a hung or partitioned component looks like, and ``registro up`` (which
stops the whole stack when a child dies) keeps running.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from devstack.processes import free_port
from devstack.up import WEB_DEMO_DIR
from devstack.waits import wait_until
from tests.conftest import require
from tests.support.demo import DemoServer

REGISTRO = Path(sys.executable).parent / "registro"
# A build folder (web/dist/screenshots): the README's images (web/screenshots) change only
# on request, REGISTRO_WEB_SCREENSHOTS=web/screenshots.
SCREENSHOTS = Path(os.environ.get("REGISTRO_WEB_SCREENSHOTS", WEB_DEMO_DIR.parent / "screenshots"))
# The flags the brief of this machine gives for headless Chromium with no network use.
CHROMIUM_ARGS = ("--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--window-size=1180,900")
STATUS_ROUTE = "/api/desenvolvimento/scraping-status/{task_id}"
QUEUE_ROUTE = "/api/desenvolvimento/queue-status"


@dataclass
class Stack:
    proc: subprocess.Popen
    api_url: str
    page_url: str
    key: str
    demo: DemoServer
    web_log: Path
    output: list[str] = field(default_factory=list)
    paused: list[psutil.Process] = field(default_factory=list)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=300,
                            headers={"Authorization": f"Bearer {self.key}"})

    def request_count(self, route: str) -> float:
        """Requests the API answered on ``route`` (its Prometheus histogram count)."""
        text = httpx.get(f"{self.api_url}/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("registro_api_request_duration_seconds_count{") and \
                    f'route="{route}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.api_url}/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def children(self, match: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
        found = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if match(child):
                    found.append(child)
            except psutil.Error:
                continue
        return found

    def workers(self) -> list[psutil.Process]:
        return self.children(lambda p: "celery" in " ".join(p.cmdline()) and
                             "worker" in p.cmdline())

    def redis(self) -> list[psutil.Process]:
        return self.children(lambda p: p.name() == "redis-server")

    def pause(self, procs: list[psutil.Process]) -> None:
        assert procs, "nothing to stop"
        for p in procs:
            p.send_signal(signal.SIGSTOP)
            self.paused.append(p)

    def resume_all(self) -> None:
        while self.paused:
            p = self.paused.pop()
            try:
                p.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass


@pytest.fixture(scope="module")
def stack(tmp_path_factory, browser_available) -> Iterator[Stack]:
    require(shutil.which("redis-server") is not None, "redis-server")
    require((WEB_DEMO_DIR / "index.html").exists(),
            f"built demo page {WEB_DEMO_DIR}/index.html (make web)")
    cwd = tmp_path_factory.mktemp("stack")
    port, demo_port, web_port = free_port(), free_port(), free_port()
    admin = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REGISTRO_") and k not in {"DATABASE_URL", "REDIS_URL", "SELENIUM_URL"}}
    # One synchronous scrape at a time, so that a second one is refused with 503: the
    # bound is per API process, and `registro up` starts one per core unless told.
    env.update(REGISTRO_DEMO_ADMIN_TOKEN=admin, REGISTRO_FALLBACK_MAX_BROWSERS="1",
               REGISTRO_API_PROCESSES="1")
    proc = subprocess.Popen(
        [str(REGISTRO), "up", "--port", str(port), "--demo-port", str(demo_port),
         "--redis-port", "0", "--web-port", str(web_port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()

    def page_line() -> str | None:
        if proc.poll() is not None:
            raise AssertionError("registro up exited:\n" + "".join(output))
        return next((line for line in output if line.strip().startswith("web page")), None)

    stack = None
    try:
        line = wait_until(page_line, 240, what="registro up to print the web page address")
        match = re.search(r"(http://127\.0\.0\.1:\d+/#\S+)", line)
        assert match, line
        key = (cwd / "var" / "api-key").read_text().strip()
        stack = Stack(proc, f"http://127.0.0.1:{port}", match.group(1), key,
                      DemoServer(f"http://127.0.0.1:{demo_port}", admin, "demo", "demo"),
                      cwd / "var" / "logs" / "web.log", output)
        yield stack
    finally:
        if stack is not None:
            stack.resume_all()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)


@pytest.fixture(scope="module")
def browser(browser_available):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots() -> Callable[..., Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(driver, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        size = driver.get_window_size()
        if full_page:  # the whole record: a window as tall as the page
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(size["width"], height + 120)
        driver.save_screenshot(str(path))
        if full_page:
            driver.set_window_size(size["width"], size["height"])
        return path

    return save
