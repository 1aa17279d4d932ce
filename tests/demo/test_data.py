"""The demo's data: existence rule, determinism, sharing, and display vs canonical values."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from registro.legacy_demo import data
from registro.schemas import ALL_FIELDS, ScrapedOS

SAMPLE = ["1", "2", "3", "42", "52", "55", "96", "98", "500", "1234", "12345", "999999"]


def _cnpj_ok(cnpj: str) -> bool:
    """Check digits computed independently: weights 2..9 cycling from the right."""
    def digit(body: str) -> int:
        total = sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(body)))
        return 0 if total % 11 < 2 else 11 - total % 11

    return digit(cnpj[:12]) == int(cnpj[12]) and digit(cnpj[:13]) == int(cnpj[13])


def _br_decimal(text: str) -> Decimal:
    number = re.search(r"[\d.]+(,\d+)?", text).group(0)
    return Decimal(number.replace(".", "").replace(",", "."))


def _parse(field: str, shown: str):
    """Independent normalisation of one displayed value, field by field."""
    if shown == "\u2014":
        return None
    name = field.split(".")[1]
    if name in {"cnpj", "cep", "telefone", "inscricao_estadual"}:
        return re.sub(r"\D", "", shown)
    if name.startswith("data_"):
        return dt.datetime.strptime(shown, "%d/%m/%Y").date()
    if name.startswith("valor_"):
        assert shown.startswith("R$ ")
        return _br_decimal(shown)
    if name in {"potencia_cv", "corrente_a", "peso_kg", "horas_trabalhadas"}:
        return _br_decimal(shown)
    if name == "tensao_v":  # the plate's voltages: "220/380 V"
        return shown.removesuffix(" V")
    if name in {"rotacao_rpm", "frequencia_hz", "garantia_dias", "ano_fabricacao"}:
        return int(_br_decimal(shown))
    return shown


def test_existence_rule():
    assert data.exists("1") and data.exists("42") and data.exists("999999")
    for n in ("97", "194", "9700"):
        assert not data.exists(n)
    for bad in ("0", "01", "1000000", "", "12a", " 12", "-5", "１２", "1.5"):
        assert not data.exists(bad), bad
    with pytest.raises(KeyError):
        data.expected_record("97")
    with pytest.raises(KeyError):
        data.display_record("abc")


@pytest.mark.parametrize("numero", SAMPLE)
def test_display_matches_expected_after_independent_parsing(numero):
    expected = data.expected_record(numero)
    shown = data.display_record(numero)
    flat_shown = {f"{s}.{k}": v for s, fields in shown.items() for k, v in fields.items()}
    assert set(flat_shown) == set(ALL_FIELDS)
    for field, value in expected.flat().items():
        assert _parse(field, flat_shown[field]) == value, field


def test_formats_look_brazilian():
    for numero in SAMPLE:
        shown = data.display_record(numero)
        c, e, o = shown["cliente"], shown["equipamento"], shown["os"]
        assert re.fullmatch(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}", c["cnpj"])
        assert re.fullmatch(r"\d{5}-\d{3}", c["cep"])
        assert re.fullmatch(r"\(\d{2}\) \d{4,5}-\d{4}", c["telefone"])
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", o["data_abertura"])
        assert re.fullmatch(r"[\d.]+,\d cv", e["potencia_cv"])
        assert re.fullmatch(r"\d+(/\d+)? V", e["tensao_v"])
        assert re.fullmatch(r"\d{1,3}(\.\d{3})* rpm", e["rotacao_rpm"])
        for key in ("valor_mao_obra", "valor_pecas", "valor_total"):
            assert o[key] == "\u2014" or re.fullmatch(r"R\$ \d{1,3}(\.\d{3})*,\d{2}", o[key])
    every_text = " ".join(
        v for n in SAMPLE for part in data.display_record(n).values() for v in part.values()
    )
    assert re.search(r"[ãçéêíóôúÁÉ]", every_text), "accents are part of the test data"
    assert re.search(r"R\$ \d{1,3}\.\d{3},\d{2}", every_text), "some money with thousands"


def test_cnpj_check_digits_are_valid():
    cnpjs = {data.expected_record(str(n)).cliente.cnpj for n in range(1, 400) if data.exists(str(n))}
    assert len(cnpjs) == data.CLIENTES
    assert all(_cnpj_ok(c) for c in cnpjs)
    assert data.cnpj_is_valid("11222333000181")  # a well-known valid example
    assert not data.cnpj_is_valid("11222333000182")


def test_deterministic_across_processes():
    code = (
        "from registro.legacy_demo import data;"
        "print(data.expected_record('12345').model_dump_json(), data.display_record('777'))"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1
    here = f"{data.expected_record('12345').model_dump_json()} {data.display_record('777')}\n"
    assert runs == {here}


def test_sharing_rules():
    one, again = data.expected_record("1"), data.expected_record("42")
    assert one.cliente == again.cliente
    assert one.equipamento.numero_serie != again.equipamento.numero_serie
    # OS 52 (a multiple of 13 above 41) is a return visit of OS 11's motor.
    assert data.expected_record("52").equipamento == data.expected_record("11").equipamento
    assert data.expected_record("52").cliente == data.expected_record("11").cliente
    serials = [data.expected_record(str(n)).equipamento.numero_serie
               for n in range(1, 1000) if data.exists(str(n))]
    assert len(set(serials)) < len(serials)
    assert len(set(serials)) > 0.9 * len(serials)


def test_open_orders_have_absent_values_and_records_are_valid():
    statuses, absent_conclusao = set(), 0
    for n in range(1, 300):
        if not data.exists(str(n)):
            continue
        rec = data.expected_record(str(n))
        ScrapedOS.model_validate(rec.model_dump())  # canonical values satisfy the contract
        statuses.add(rec.os.status)
        if rec.os.status in {"Aberta", "Em andamento", "Aguardando peças"}:
            assert rec.os.data_conclusao is None
            absent_conclusao += 1
        else:
            assert rec.os.data_conclusao is not None
        if rec.os.valor_total is not None:
            assert rec.os.valor_total == rec.os.valor_mao_obra + rec.os.valor_pecas
        assert rec.field_count() >= 30
    assert statuses == {"Aberta", "Em andamento", "Aguardando peças", "Concluída", "Entregue"}
    assert absent_conclusao > 0
    full = [n for n in range(1, 300) if data.exists(str(n))
            and data.expected_record(str(n)).field_count() == len(ALL_FIELDS)]
    assert full, "some OS fill all 48 fields"
    assert len(ALL_FIELDS) >= 45
