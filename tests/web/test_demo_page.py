"""The demo page in headless Chromium against the real ``registro up`` stack.

The tests run in file order on one stack and one browser: a new OS (progress, then the
record), the same OS again (stored, at once), closing the modal (polling stops: counted
by the API's own request counter), workers stopped (synchronous fallback), Redis stopped
too (the 503 answer and its retry). Everything is done with the keyboard only.
Screenshots of each state go to web/dist/screenshots/ (REGISTRO_WEB_SCREENSHOTS to
write them elsewhere, e.g. web/screenshots/ for the README's images; web/README.md).
"""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.web.conftest import QUEUE_ROUTE, STATUS_ROUTE, Stack, wait_until

pytestmark = pytest.mark.browser

SECTIONS = ["Cliente", "Equipamento", "Ordem de serviço"]

PAGE_STATE = """
const dialog = document.querySelector('[role=dialog]');
const bar = dialog && dialog.querySelector('[role=progressbar]');
const record = document.querySelector('article.record h2');
const active = document.activeElement;
return {
  dialog: !!dialog,
  valuenow: bar ? bar.getAttribute('aria-valuenow') : null,
  message: dialog ? dialog.querySelector('.registro-modal__message').textContent : null,
  title: dialog ? dialog.querySelector('.registro-modal__title').textContent : null,
  bar: !!bar,
  alert: dialog && dialog.querySelector('[role=alert]') ? dialog.querySelector('[role=alert]').textContent : null,
  record: record ? record.textContent : null,
  via: document.querySelector('.record__via') ? document.querySelector('.record__via').dataset.via : null,
  focusInDialog: !!(dialog && dialog.contains(active)),
  focusId: active ? active.id : null,
  focusText: active ? active.textContent : null,
  workers: document.querySelector('[data-testid=queue-workers]')?.textContent ?? null,
  dialogSeen: !!window.__dialogSeen,
};
"""

WATCH_DIALOG = """
window.__dialogSeen = false;
new MutationObserver(() => { if (document.querySelector('[role=dialog]')) window.__dialogSeen = true; })
  .observe(document.body, { childList: true, subtree: true });
"""


def state(driver) -> dict:
    return driver.execute_script(PAGE_STATE)


def press(driver, *keys: str) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def search(driver, numero: str) -> None:
    """Keyboard only: Tab to the OS field, type the number, Enter."""
    for _ in range(12):
        if state(driver)["focusId"] == "numero-os":
            break
        press(driver, Keys.TAB)
    assert state(driver)["focusId"] == "numero-os", "Tab never reached the OS field"
    press(driver, Keys.CONTROL, "a")
    press(driver, Keys.BACKSPACE, numero, Keys.ENTER)


def wait_record(driver, numero: str, timeout: float = 180) -> dict:
    current = wait_until(lambda: (s := state(driver))["record"] == f"OS {numero}" and s, timeout,
                         what=f"the record of OS {numero}")
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section.record__section h3")]
    assert headings == SECTIONS
    rows = driver.find_elements(By.CSS_SELECTOR, "section.record__section .record__row")
    assert len(rows) >= 40, len(rows)  # the 48 normalised fields, laid out
    return current


def blur(driver) -> None:
    driver.execute_script("document.activeElement && document.activeElement.blur()")


def test_page_gets_the_key_from_the_printed_address_only(stack: Stack, browser):
    assert "#api=" in stack.page_url and "key=" in stack.page_url
    browser.get(stack.page_url)
    wait_until(lambda: browser.find_elements(By.ID, "numero-os"), 60, what="the search form")
    assert "#" not in browser.current_url  # the fragment is erased from the address bar
    assert stack.key not in browser.page_source
    base = stack.page_url.split("#")[0]
    index = httpx.get(base, timeout=10).text
    assert stack.key not in index
    for src in browser.execute_script(
            "return [...document.querySelectorAll('script[src],link[href]')].map(e => e.src || e.href)"):
        assert stack.key not in httpx.get(src, timeout=10).text
    assert stack.key not in stack.web_log.read_text()  # the static server never saw it
    wait_until(lambda: state(browser)["workers"] == "1", 30, what="the queue panel: 1 worker")


def test_new_os_shows_progress_then_the_record(stack: Stack, browser, screenshots):
    stack.demo.set_faults(slow_os_ms=1500)  # slow enough to watch the steps
    try:
        blur(browser)
        search(browser, "2001")
        seen: list[tuple[str | None, str | None]] = []
        shot = False

        def record_shown() -> bool:  # and, until then, every progress step seen
            nonlocal shot
            s = state(browser)
            if s["record"] == "OS 2001":
                return True
            if s["dialog"]:
                seen.append((s["valuenow"], s["message"]))
                if not shot and s["valuenow"] and 25 <= int(s["valuenow"]) < 100:
                    screenshots(browser, "2-progress")
                    shot = True
            return False

        wait_until(record_shown, 180, interval=0.1, what="OS 2001 shown",
                   diagnose=lambda: f"progress seen: {seen[-10:]}")
    finally:
        stack.demo.set_faults(slow_os_ms=0)
    current = wait_record(browser, "2001", timeout=30)
    assert current["via"] == "fila" and not current["dialog"]
    partial = [(v, m) for v, m in seen if v and 0 < int(v) < 100]
    assert partial, seen  # the worker's own percentages were shown
    assert all(m and m.startswith(f"{v}% · ") for v, m in partial), partial
    screenshots(browser, "3-record", full_page=True)
    with stack.api() as api:
        answer = api.post("/api/desenvolvimento/buscar-os-async/2001").json()
    data = answer["data"]
    assert data["cliente"] in browser.find_element(By.CSS_SELECTOR, ".record__summary").text
    # Formatted for a reader in Brazil, not the API's raw values.
    shown = {e.get_attribute("data-field"): e.text
             for e in browser.find_elements(By.CSS_SELECTOR, ".record__row dd[data-field]")}
    assert re.fullmatch(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}", shown["cnpj"]), shown["cnpj"]
    assert re.fullmatch(r"\d{5}-\d{3}", shown["cep"]), shown["cep"]
    assert re.fullmatch(r"\(\d{2}\) \d{4,5}-\d{4}", shown["telefone"]), shown["telefone"]
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", shown["data_abertura"]), shown["data_abertura"]
    assert re.fullmatch(r"R\$\s[\d.]+,\d{2}", shown["valor_total"]), shown["valor_total"]
    freshness = browser.find_element(By.CSS_SELECTOR, ".record__freshness")
    assert freshness.get_attribute("data-lido-em") == answer["lido_em"]
    assert freshness.text.startswith("Lida do sistema de origem em ")


def test_stored_os_shows_at_once(stack: Stack, browser):
    polls_before = stack.request_count(STATUS_ROUTE)
    browser.get(stack.page_url.split("#")[0])  # a fresh page (the key stays for this tab)
    wait_until(lambda: browser.find_elements(By.ID, "numero-os"), 60, what="the search form")
    assert state(browser)["record"] is None
    browser.execute_script(WATCH_DIALOG)
    search(browser, "2001")
    current = wait_record(browser, "2001", timeout=10)
    assert current["via"] == "banco_local"
    assert not state(browser)["dialogSeen"]  # no modal at all
    assert stack.request_count(STATUS_ROUTE) == polls_before


HISTORY = """
return [...document.querySelectorAll('.record__history [data-testid=history-change]')].map(li => li.textContent);
"""


def test_history_shows_what_a_later_read_found_changed(stack: Stack, browser, screenshots):
    stack.demo.change_os("2001", status="Em andamento")
    with stack.api() as api:
        task = api.post("/api/desenvolvimento/buscar-os-async/2001?forcar=true").json()["task_id"]
        wait_until(lambda: api.get(f"/api/desenvolvimento/scraping-status/{task}")
                   .json()["status"] == "SUCCESS", 180, what="the second read")
    browser.get(stack.page_url.split("#")[0])
    wait_until(lambda: browser.find_elements(By.ID, "numero-os"), 60, what="the search form")
    search(browser, "2001")
    wait_record(browser, "2001", timeout=10)
    changes = wait_until(lambda: browser.execute_script(HISTORY), 30, what="the history")
    assert any(c.startswith("Status: Concluída → Em andamento") for c in changes), changes
    screenshots(browser, "8-history", full_page=True)


def test_closing_the_modal_stops_all_polling(stack: Stack, browser, screenshots):
    stack.demo.set_faults(slow_os_ms=8000)  # the task outlives the test's observation
    try:
        blur(browser)
        search(browser, "2002")
        polls_at_start = stack.request_count(STATUS_ROUTE)
        wait_until(lambda: state(browser)["dialog"], 30, what="the modal")
        wait_until(lambda: stack.request_count(STATUS_ROUTE) >= polls_at_start + 3, 60,
                   what="the page to poll the task")
        # Keyboard: focus is inside the dialog and Tab keeps it there.
        assert state(browser)["focusInDialog"]
        for _ in range(3):
            press(browser, Keys.TAB)
            assert state(browser)["focusInDialog"]
        screenshots(browser, "4-before-closing")
        press(browser, Keys.ESCAPE)
        after = wait_until(lambda: not (s := state(browser))["dialog"] and s, 10, what="the modal to close")
        assert after["focusId"] == "numero-os"  # focus back where it was
        # A poll already on the wire when Escape was pressed may still be counted: start
        # counting once the page's other poller (the queue panel) has called again.
        queue_at = stack.request_count(QUEUE_ROUTE)
        wait_until(lambda: stack.request_count(QUEUE_ROUTE) >= queue_at + 1, 30,
                   what="one more queue-panel request")
        closed_at = stack.request_count(STATUS_ROUTE)
        queue_at = stack.request_count(QUEUE_ROUTE)
        # Longer than the longest poll delay (5 s + 25 % jitter): six more calls of the
        # page's other poller (the queue panel, every 1.5-2.5 s) is at least 9 s.
        wait_until(lambda: stack.request_count(QUEUE_ROUTE) >= queue_at + 6, 90,
                   what="six more queue-panel requests")
        time.sleep(0.5)
        assert stack.request_count(STATUS_ROUTE) == closed_at
    finally:
        stack.demo.set_faults(slow_os_ms=0)
    with stack.api() as api:  # the scrape itself goes on and finishes server-side
        wait_until(lambda: api.get("/api/desenvolvimento/scraping-status/scraping_2002")
                   .json()["status"] == "SUCCESS", 180, what="the abandoned task to finish")


EVIDENCE_SHOWN = """
const figure = document.querySelector('[role=dialog] figure.registro-evidence');
const img = figure && figure.querySelector('img');
if (!img || !img.complete || img.naturalWidth === 0) return null;
return {id: figure.dataset.evidenciaId, src: img.src, width: img.naturalWidth,
        alert: document.querySelector('[role=dialog] [role=alert]').textContent};
"""


def test_failed_lookup_shows_the_legacy_page_screenshot(stack: Stack, browser, screenshots):
    blur(browser)
    search(browser, "97")  # multiples of 97 do not exist in the demo: not_found
    shown = wait_until(lambda: browser.execute_script(EVIDENCE_SHOWN), 180,
                       what="the failure's screenshot in the modal")
    assert shown["alert"] == "A OS não existe no sistema de origem."
    failed = state(browser)
    assert failed["title"] == "Não foi possível obter a OS 97" and not failed["bar"]
    assert shown["src"].startswith("blob:")  # fetched with the key, not an <img src> URL
    assert shown["width"] == 1024  # the worker's browser window
    with stack.api() as api:
        meta = api.get(f"/api/desenvolvimento/evidencias/{shown['id']}").json()
    assert (meta["motivo"], meta["numero_os"]) == ("not_found", "97")
    screenshots(browser, "7-evidence")
    press(browser, Keys.ESCAPE)
    wait_until(lambda: not state(browser)["dialog"], 10, what="the modal to close")


def test_workers_stopped_the_synchronous_fallback_answers(stack: Stack, browser, screenshots):
    stack.pause(stack.workers())
    with stack.api() as api:
        wait_until(lambda: api.get("/api/desenvolvimento/queue-status").json()
                   ["queue_info"]["workers_online"] == 0, 60, what="the worker heartbeat to expire")
    wait_until(lambda: state(browser)["workers"] == "0", 30, what="the queue panel: 0 workers")
    fallbacks = stack.metric("registro_api_fallbacks_total", cause="no_worker", outcome="success")
    polls_before = stack.request_count(STATUS_ROUTE)
    blur(browser)
    search(browser, "2003")
    current = wait_record(browser, "2003")
    assert current["via"] == "sincrono" and not current["dialog"]
    assert stack.metric("registro_api_fallbacks_total", cause="no_worker",
                        outcome="success") == fallbacks + 1
    assert stack.request_count(STATUS_ROUTE) == polls_before  # nothing to poll
    screenshots(browser, "5-fallback")


def test_redis_stopped_too_the_503_shows_a_retry(stack: Stack, browser, screenshots):
    if not stack.paused:
        stack.pause(stack.workers())
    stack.pause(stack.redis())
    with stack.api() as api:
        wait_until(lambda: api.get("/readyz").json()["redis"] == "unavailable", 30,
                   what="the API to see Redis gone")
    # Take the single synchronous slot with a slow lookup from elsewhere.
    stack.demo.set_faults(slow_os_ms=6000)
    requests_before = stack.demo.stats()["requests"]
    outside: dict = {}

    def occupy() -> None:
        with stack.api() as api:
            outside["answer"] = api.post("/api/desenvolvimento/buscar-os-async/2004")

    thread = threading.Thread(target=occupy)
    thread.start()
    try:
        wait_until(lambda: stack.demo.stats()["requests"] > requests_before, 60,
                   what="the outside scrape to reach the legacy system")
        blur(browser)
        search(browser, "2005")
        # The alert renders first; the focus moves to the retry button a render later.
        s = wait_until(lambda: (s := state(browser))["alert"] and s["focusInDialog"]
                       and (s["focusText"] or "").startswith("Tentar novamente em") and s,
                       60, what="the error in the modal, the retry focused")
        assert s["alert"].startswith("Serviço temporariamente indisponível. Tente novamente em 10 s")
        # The retry has the focus and counts Retry-After down before it asks again.
        assert s["focusInDialog"] and re.fullmatch(r"Tentar novamente em ([1-9]|10) s", s["focusText"]), s
        assert not s["bar"] and s["title"] == "Não foi possível obter a OS 2005"
        screenshots(browser, "6-unavailable")
    finally:
        stack.demo.set_faults(slow_os_ms=0)
        thread.join(timeout=180)
    assert outside["answer"].status_code == 200, outside["answer"].text
    wait_until(lambda: state(browser)["focusText"] == "Tentar novamente", 15, what="the countdown to end")
    press(browser, Keys.ENTER)  # the retry button has the focus
    current = wait_record(browser, "2005")
    assert current["via"] == "sincrono"
    stack.resume_all()


def test_overview_screenshot(stack: Stack, browser, screenshots):
    with stack.api() as api:
        wait_until(lambda: api.get("/api/desenvolvimento/queue-status").json()
                   ["queue_info"]["workers_online"] == 1, 60, what="the worker back online")
    browser.get(stack.page_url.split("#")[0])  # a reload keeps the key for this tab
    shown = wait_until(lambda: (s := state(browser))["workers"] == "1" and s, 30,
                       what="the queue panel after a reload")
    assert not shown["dialog"] and shown["record"] is None  # the start page: form and queue
    assert browser.find_elements(By.ID, "numero-os")[0].is_displayed()
    png = screenshots(browser, "1-start").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
