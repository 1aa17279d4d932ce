"""The capture of a failure's evidence from a real Chromium (worker/evidence.py), on a page
that leaks every kind of secret: an HttpOnly session cookie echoed in its links, CSRF
tokens in hidden inputs, a meta tag, a script and a same-origin frame, a typed password."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By

from devstack.waits import wait_until
from registro.evidence import Bundle
from registro.settings import Settings
from registro.worker.browser import open_browser
from registro.worker.evidence import capture

pytestmark = pytest.mark.browser

PASSWORD = "Pw-9d!Xq&z"
SESSION = "JSESS-4f8a2c91d0e3b7a6"
CSRF = "csrf-71b2c3d4e5f60718"
FRAME_TOKEN = "frame-tok-0a9b8c7d6e5f"

LOGIN = f"""<!DOCTYPE html><html><head><meta name="csrf-token" content="{CSRF}">
<title>Login legado</title></head><body>
<form><input type="hidden" name="_csrf" value="{CSRF}">
<input id="senha" type="password" name="senha"></form>
<a href="/os;jsessionid={SESSION}">Ordens</a>
<iframe id="quadro" src="/frame"></iframe>
<script>console.error("falha no login, token " + {json.dumps(CSRF)});</script>
</body></html>"""
FRAME = f"""<html><body><p>quadro interno</p>
<input type="hidden" name="_token" value="{FRAME_TOKEN}"></body></html>"""


class _Site(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (FRAME if self.path == "/frame" else LOGIN).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Set-Cookie", f"JSESSIONID={SESSION}; HttpOnly; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def leaky_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_capture_blanks_passwords_and_redacts_every_secret(leaky_site, browser_available):
    browser = open_browser(Settings(selenium_url=None, page_timeout_s=10))
    try:
        driver = browser.driver
        started = time.time()
        driver.get(f"{leaky_site}/login")
        wait_until(lambda: driver.execute_script(
            "const d = document.querySelector('#quadro').contentDocument;"
            "return !!d && !!d.querySelector('input');"), 10, what="the frame")
        driver.find_element(By.ID, "senha").send_keys(PASSWORD)
        typed = driver.get_screenshot_as_png()
        bundle = capture(driver, Bundle(numero_os="1", reason="login_failed",
                                        message=f"refused {PASSWORD}"),
                         password=PASSWORD, since_ms=(started - 1) * 1000)
        blanked = driver.execute_script("return document.querySelector('#senha').value")
    finally:
        browser.quit()

    assert blanked == ""  # the screenshot was taken after the field was emptied
    assert bundle.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and bundle.screenshot != typed
    assert bundle.url == f"{leaky_site}/login" and bundle.title == "Login legado"
    assert "quadro interno" in bundle.html  # the same-origin frame's document too
    assert any("falha no login" in e["mensagem"] and e["nivel"] == "SEVERE"
               for e in bundle.console), bundle.console
    everything = json.dumps([bundle.message, bundle.url, bundle.title, bundle.html,
                             bundle.steps, bundle.console])
    for secret in (PASSWORD, SESSION, CSRF, FRAME_TOKEN):
        assert secret not in everything, secret
    assert "jsessionid=[redacted]" in bundle.html
