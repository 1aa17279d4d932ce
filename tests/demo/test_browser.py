"""The demo through real headless Chromium and chromedriver (Selenium).

Reads the OS page the way a scraper must: form login, search form, JavaScript-filled
values, a label/value table, an iframe, a lazily built tab and a "Mostrar mais" click.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from registro.legacy_demo import data

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"]

CLIENTE_LABELS = {
    "razao_social": "Razão social", "nome_fantasia": "Nome fantasia", "cnpj": "CNPJ",
    "inscricao_estadual": "Inscrição estadual", "complemento": "Complemento",
    "bairro": "Bairro", "cep": "CEP", "email": "E-mail", "contato_nome": "Contato",
    "contato_cargo": "Cargo",
}
EQUIP_IDS = {
    "numero_serie": "equip-numero-serie", "tipo": "equip-tipo", "fabricante": "equip-fabricante",
    "modelo": "equip-modelo", "ano_fabricacao": "equip-ano-fabricacao",
    "tag_identificacao": "equip-tag",
}
EQUIP_FRAME = {
    "potencia_cv": "potencia", "tensao_v": "tensao", "corrente_a": "corrente",
    "rotacao_rpm": "rotacao", "frequencia_hz": "frequencia", "grau_protecao": "grau-protecao",
    "carcaca": "carcaca", "peso_kg": "peso", "classe_isolamento": "classe-isolamento",
}
OS_HEADER = {"numero_os": "os-numero", "status": "os-status", "data_abertura": "os-data-abertura",
             "prioridade": "os-prioridade"}
OS_SERVICO = {
    "data_previsao": "srv-data-previsao", "data_conclusao": "srv-data-conclusao",
    "setor": "srv-setor", "tecnico_responsavel": "srv-tecnico", "defeito_relatado": "srv-defeito",
    "diagnostico": "srv-diagnostico", "servico_executado": "srv-servico-executado",
    "horas_trabalhadas": "srv-horas", "garantia_dias": "srv-garantia",
    "nota_fiscal": "srv-nota-fiscal", "valor_mao_obra": "srv-valor-mao-obra",
    "valor_pecas": "srv-valor-pecas", "valor_total": "srv-valor-total",
}


@pytest.fixture(scope="module")
def driver(browser_available):
    profile = tempfile.mkdtemp(prefix="demo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    drv.set_page_load_timeout(15)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(driver, demo):
    """The module's browser, logged out, pointed at a freshly reset demo."""
    driver.set_page_load_timeout(15)
    driver.get(f"{demo.url}/_demo/health")
    driver.delete_all_cookies()
    driver.get(f"{demo.url}/login")
    return driver


def wait(drv, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(drv, seconds)


def login(drv, demo, username="demo", password="demo") -> None:
    if "/login" not in drv.current_url:
        drv.get(f"{demo.url}/login")
    drv.find_element(By.ID, "usuario").send_keys(username)
    drv.find_element(By.ID, "senha").send_keys(password)
    button = drv.find_element(By.ID, "btn-entrar")
    button.click()
    wait(drv).until(lambda _d: replaced(button))  # the answer page replaced the form


def replaced(element) -> bool:
    """Stale: its document was replaced. Mid-navigation chromedriver may say so as an
    inspector error ("Node ... does not belong to the document") instead."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def search(drv, numero: str) -> None:
    box = wait(drv).until(EC.element_to_be_clickable((By.ID, "numero-os")))
    box.clear()
    box.send_keys(numero)
    drv.find_element(By.ID, "btn-buscar").click()


def read_os_page(drv) -> dict[str, dict[str, str]]:
    """Every field of the OS page, read with the selectors documented in the README."""
    wait(drv).until(EC.presence_of_element_located((By.CSS_SELECTOR, 'body[data-carregado="1"]')))
    out: dict[str, dict[str, str]] = {"cliente": {}, "equipamento": {}, "os": {}}
    for field, id_ in OS_HEADER.items():
        out["os"][field] = drv.find_element(By.ID, id_).text

    def cell(label: str):
        return drv.find_element(
            By.XPATH, f"//table[@id='tabela-cliente']//th[normalize-space()='{label}']"
                      "/following-sibling::td")

    for field, label in CLIENTE_LABELS.items():
        out["cliente"][field] = cell(label).text
    address, city, phone = cell("Endereço"), cell("Cidade/UF"), cell("Telefone")
    out["cliente"]["logradouro"] = address.find_element(By.CLASS_NAME, "logradouro").text
    out["cliente"]["numero"] = address.find_element(By.CLASS_NAME, "numero").text
    out["cliente"]["cidade"] = city.find_element(By.CLASS_NAME, "cidade").text
    out["cliente"]["uf"] = city.find_element(By.CLASS_NAME, "uf").text
    spans = phone.find_elements(By.CSS_SELECTOR, "span.ddd, span.fone")
    out["cliente"]["telefone"] = " ".join(s.text for s in spans) if spans else phone.text

    for field, id_ in EQUIP_IDS.items():
        out["equipamento"][field] = drv.find_element(By.ID, id_).text
    drv.switch_to.frame("dados-tecnicos")
    try:
        wait(drv).until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, 'body[data-carregado="1"]')))
        for field, grandeza in EQUIP_FRAME.items():
            out["equipamento"][field] = drv.find_element(
                By.CSS_SELECTOR, f'#dados-tecnicos td[data-grandeza="{grandeza}"]').text
    finally:
        drv.switch_to.default_content()

    drv.find_element(By.ID, "aba-servico").click()
    wait(drv).until(EC.visibility_of_element_located((By.ID, "srv-valor-total")))
    for field, id_ in OS_SERVICO.items():
        out["os"][field] = drv.find_element(By.ID, id_).text
    more = drv.find_elements(By.ID, "mostrar-mais")
    if more:
        more[0].click()
        wait(drv).until(EC.invisibility_of_element_located((By.ID, "mostrar-mais")))
    out["os"]["observacoes"] = drv.find_element(By.ID, "srv-observacoes").text
    return out


def test_login_search_and_every_field_as_displayed(browser, demo):
    browser.get(f"{demo.url}/os/buscar")
    assert "/login" in browser.current_url
    login(browser, demo)
    open_os = next(n for n in map(str, range(100, 300))
                   if data.exists(n) and data.expected_record(n).os.status == "Aberta")
    numbers = ["42", "52", open_os]  # shared cliente, shared motor, many absent values
    for numero in numbers:
        search(browser, numero)
        wait(browser).until(EC.url_to_be(f"{demo.url}/os/{numero}"))
        assert read_os_page(browser) == data.display_record(numero), numero
        browser.find_element(By.ID, "link-buscar").click()
    stats = demo.stats()
    assert stats["logins"] == 1
    assert stats["searches"] == len(numbers)
    assert stats["os_pages"] == len(numbers)
    assert stats["os_data"] == 2 * len(numbers)  # the page and its iframe


def test_values_come_from_javascript_and_hidden_parts_need_clicks(browser, demo):
    numero = next(n for n in map(str, range(1, 500)) if data.exists(n)
                  and len(data.expected_record(n).os.observacoes or "") > 80)
    login(browser, demo)
    browser.get(f"{demo.url}/os/{numero}")
    shown = data.display_record(numero)
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, 'body[data-carregado="1"]')))
    assert browser.find_element(By.ID, "os-status").text == shown["os"]["status"]
    # the Serviço tab is empty until clicked
    assert browser.find_element(By.ID, "painel-servico").get_attribute("innerHTML") == ""
    with pytest.raises(NoSuchElementException):
        browser.find_element(By.ID, "srv-setor")
    browser.find_element(By.ID, "aba-servico").click()
    setor = wait(browser).until(EC.visibility_of_element_located((By.ID, "srv-setor")))
    assert setor.text == shown["os"]["setor"]
    assert not browser.find_element(By.ID, "painel-historico").is_displayed()
    # observações: truncated until "Mostrar mais"
    obs = browser.find_element(By.ID, "srv-observacoes")
    assert obs.text.endswith("…") and len(obs.text) <= 61
    assert shown["os"]["observacoes"].startswith(obs.text[:-1].rstrip())
    browser.find_element(By.ID, "mostrar-mais").click()
    assert browser.find_element(By.ID, "srv-observacoes").text == shown["os"]["observacoes"]
    assert browser.find_elements(By.ID, "mostrar-mais") == []


def test_not_found_and_invalid_number_through_the_form(browser, demo):
    login(browser, demo)
    search(browser, "97")
    msg = wait(browser).until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, "#mensagem-busca.alert-warning")))
    assert msg.text == "OS 97 não encontrada"
    search(browser, "12a")
    msg = wait(browser).until(EC.visibility_of_element_located((By.ID, "mensagem-busca")))
    assert "Número de OS inválido" in msg.text
    assert demo.stats()["not_found"] == 1


def test_wrong_credentials_and_failing_login(browser, demo):
    login(browser, demo, password="errada")
    err = wait(browser).until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, "#erro-login.alert-error")))
    assert err.text == "Usuário ou senha inválidos"
    demo.set_faults(login_fails=True)
    login(browser, demo)
    assert wait(browser).until(EC.visibility_of_element_located((By.ID, "erro-login")))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-pagina") == "login"
    assert demo.stats()["login_failures"] == 2


def test_expired_session_sends_the_browser_back_to_login(browser, demo):
    login(browser, demo)
    wait(browser).until(EC.presence_of_element_located((By.ID, "numero-os")))
    demo.expire_sessions()
    search(browser, "42")
    notice = wait(browser).until(EC.visibility_of_element_located((By.ID, "aviso-sessao")))
    assert "sessão expirou" in notice.text
    login(browser, demo)  # logging in again lands where the user was going
    wait(browser).until(EC.url_contains("/os/"))
    assert read_os_page(browser)["os"]["numero_os"] == "42"

    # expiry between the page and its data: the page's script goes to the login page
    # (login -> /os/buscar is request 1, the OS page 2, its data fetch 3: refused)
    demo.set_faults(session_max_requests=2)
    browser.delete_all_cookies()
    browser.get(f"{demo.url}/login")
    login(browser, demo)
    wait(browser).until(EC.url_contains("/os/buscar"))
    browser.get(f"{demo.url}/os/42")
    wait(browser).until(EC.visibility_of_element_located((By.ID, "aviso-sessao")))
    assert browser.current_url.endswith("/login?expirada=1&next=%2Fos%2F42")


def test_server_errors_show_in_the_browser(browser, demo):
    login(browser, demo)
    wait(browser).until(EC.presence_of_element_located((By.ID, "numero-os")))
    demo.set_faults(fail_paths=["/api/os/"])
    browser.get(f"{demo.url}/os/42")
    wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, 'body[data-carregado="erro"]')))
    assert "Erro ao carregar" in browser.find_element(By.ID, "erro-carga").text
    demo.set_faults(fail_paths=[], fail_next=1)
    browser.get(f"{demo.url}/os/42")
    assert browser.find_element(By.CSS_SELECTOR, "h1.erro-servidor").text == \
        "Erro interno do servidor"


def test_slow_os_page_exceeds_the_page_load_timeout(browser, demo):
    login(browser, demo)
    wait(browser).until(EC.presence_of_element_located((By.ID, "numero-os")))
    demo.set_faults(slow_os_ms=3000)
    browser.set_page_load_timeout(1)
    with pytest.raises(TimeoutException):
        browser.get(f"{demo.url}/os/42")
