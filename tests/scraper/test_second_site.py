"""The profile format carries a second, differently built legacy site with no code change."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from pydantic import SecretStr

from registro import evidence_store
from registro.errors import PermanentScrapeError, Reason
from registro.settings import Settings
from registro.worker.profile import load_profile
from registro.worker.scraper import Scraper

from .conftest import SITE2

pytestmark = pytest.mark.browser

EXPECTED_501 = {
    "cliente.cnpj": "11222333000181", "cliente.razao_social": "Fundição Três Irmãos Ltda.",
    "cliente.nome_fantasia": None, "cliente.inscricao_estadual": "123456789110",
    "cliente.logradouro": "Rua Dom Pedro II", "cliente.numero": "1250",
    "cliente.complemento": None, "cliente.bairro": "Vila Nova", "cliente.cidade": "Blumenau",
    "cliente.uf": "SC", "cliente.cep": "89012345", "cliente.telefone": "4733221100",
    "cliente.email": "compras@tresirmaos.com.br", "cliente.contato_nome": "Inês Brandão",
    "cliente.contato_cargo": "Compradora",
    "equipamento.numero_serie": "SN-77/2020", "equipamento.tipo": "Compressor de ar",
    "equipamento.fabricante": "Schulz", "equipamento.modelo": "MSV 40",
    "equipamento.potencia_cv": Decimal(10), "equipamento.tensao_v": "380",
    "equipamento.corrente_a": Decimal("14.2"), "equipamento.rotacao_rpm": 1750,
    "equipamento.frequencia_hz": 60, "equipamento.ano_fabricacao": 2020,
    "equipamento.grau_protecao": "IP55", "equipamento.carcaca": "132M",
    "equipamento.peso_kg": Decimal("1310.5"), "equipamento.tag_identificacao": "COMP-03",
    "equipamento.classe_isolamento": "F",
    "os.numero_os": "501", "os.data_abertura": dt.date(2024, 1, 2),
    "os.data_previsao": dt.date(2024, 1, 15), "os.data_conclusao": None,
    "os.status": "Em execução", "os.prioridade": "Alta", "os.setor": "Mecânica",
    "os.tecnico_responsavel": "José Araújo",
    "os.defeito_relatado": "Vazamento de óleo no cabeçote.",
    "os.diagnostico": "Junta do cabeçote rompida.", "os.servico_executado": None,
    "os.horas_trabalhadas": Decimal("3.5"), "os.valor_mao_obra": Decimal("1234.56"),
    "os.valor_pecas": Decimal("0.00"), "os.valor_total": Decimal("1234.56"),
    "os.garantia_dias": 90, "os.nota_fiscal": None, "os.observacoes": "Cliente retira às 8h.",
}

EXPECTED_502_SOME = {
    "cliente.cnpj": "44555666000199", "cliente.nome_fantasia": "Açaí Pisos",
    "cliente.inscricao_estadual": None, "cliente.complemento": "Galpão 2",
    "cliente.cep": "88801000", "cliente.telefone": "48998765432", "cliente.email": None,
    "cliente.contato_cargo": None, "equipamento.numero_serie": "WX-1",
    "equipamento.potencia_cv": None, "equipamento.tensao_v": None,
    "equipamento.ano_fabricacao": 1999, "os.numero_os": "502",
    "os.data_previsao": None, "os.data_conclusao": dt.date(2024, 1, 10),
    "os.prioridade": "Normal", "os.diagnostico": None,
    "os.servico_executado": "Troca das resistências.", "os.horas_trabalhadas": Decimal(12),
    "os.valor_total": Decimal("12500.50"), "os.garantia_dias": 365, "os.nota_fiscal": "004242",
    "os.observacoes": None,
}


@pytest.fixture
def site2_settings(site2_url, tmp_path, scraper_db, browser_available):
    return Settings(
        legacy_url=site2_url, legacy_username="oper", legacy_password="s3nha",
        site_profile=SITE2 / "profile.yaml", artifacts_dir=tmp_path / "artifacts",
        page_timeout_s=10, selenium_url=None, database_url=scraper_db,
    )


def test_second_site_every_field(site2_settings, caplog):
    caplog.set_level(logging.INFO, logger="registro.worker")
    profile = load_profile(site2_settings.site_profile)
    with Scraper(site2_settings, profile) as scraper:
        first = scraper.scrape("501").flat()
        second = scraper.scrape("502").flat()
        assert scraper.sessions_started == 1 and scraper.logins == 1
        with pytest.raises(PermanentScrapeError) as not_found:
            scraper.scrape("503")
    assert first == EXPECTED_501
    assert {k: second[k] for k in EXPECTED_502_SOME} == EXPECTED_502_SOME
    assert not_found.value.reason == Reason.NOT_FOUND
    assert "frame iframe#externo is cross-origin" in caplog.text  # the WebDriver path ran


def test_second_site_wrong_password(site2_settings):
    settings = site2_settings.model_copy(update={"legacy_password": SecretStr("errada")})
    with Scraper(settings) as scraper, pytest.raises(PermanentScrapeError) as err:
        scraper.scrape("501")
    assert err.value.reason == Reason.LOGIN_FAILED
    _, png = evidence_store.read_part(settings.database_url, err.value.evidence_id, "screenshot.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
