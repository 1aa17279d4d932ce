"""Value normalisers, on tables of cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from registro.worker import parsers
from registro.worker.profile import FieldSpec, parser_chain


@pytest.mark.parametrize("raw, expected", [
    ("1.234,56", Decimal("1234.56")), ("1234,56", Decimal("1234.56")),
    ("7,5", Decimal("7.5")), ("7.5", Decimal("7.5")), ("1.234", Decimal(1234)),
    ("1.234.567,8", Decimal("1234567.8")), ("0,50", Decimal("0.50")),
    ("7,5 cv", Decimal("7.5")), ("15,0 A", Decimal("15.0")), ("1.310,5 kg", Decimal("1310.5")),
    ("  12  ", Decimal(12)), ("-3,25", Decimal("-3.25")),
])
def test_decimal(raw, expected):
    assert parsers.parse_decimal(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("R$ 1.234,56", Decimal("1234.56")), ("R$1.234,56", Decimal("1234.56")),
    ("R$ 0,00", Decimal("0.00")), ("r$ 10,5", Decimal("10.5")),
    ("-R$ 10,00", Decimal("-10.00")), ("R$ 1.500.000,00", Decimal("1500000.00")),
    ("R$\xa0999,99", Decimal("999.99")), ("1.234,56", Decimal("1234.56")),
])
def test_money(raw, expected):
    assert parsers.parse_money(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("220", 220), ("220 V", 220), ("1.750 rpm", 1750), ("90 dias", 90), ("60 Hz", 60),
    ("2020", 2020), ("+5", 5), ("12 %", 12),
])
def test_int(raw, expected):
    assert parsers.parse_int(raw) == expected


@pytest.mark.parametrize("raw", ["7,5", "abc", "1.23", "12a3", "R$ 10"])
def test_int_rejects(raw):
    with pytest.raises(parsers.ParseError):
        parsers.parse_int(raw)


@pytest.mark.parametrize("raw", ["abc", "1,2,3x", "R$", "12-3"])
def test_decimal_rejects(raw):
    with pytest.raises(parsers.ParseError):
        parsers.parse_decimal(raw)


@pytest.mark.parametrize("raw, expected", [
    ("05/03/2021", dt.date(2021, 3, 5)), ("5/3/2021", dt.date(2021, 3, 5)),
    ("31-12-2023", dt.date(2023, 12, 31)), ("01.02.2020", dt.date(2020, 2, 1)),
    ("05/03/2021 14:30", dt.date(2021, 3, 5)), ("2024-02-29", dt.date(2024, 2, 29)),
])
def test_date(raw, expected):
    assert parsers.parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/2021", "2021/03/05", "ontem", "05/13/2021"])
def test_date_rejects(raw):
    with pytest.raises(parsers.ParseError):
        parsers.parse_date(raw)


@pytest.mark.parametrize("raw, expected", [
    ("12.345.678/0001-90", "12345678000190"), ("89012-345", "89012345"),
    ("(47) 3322-1100", "4733221100"), ("(11) 98765-4321", "11987654321"),
])
def test_digits(raw, expected):
    assert parsers.parse_digits(raw) == expected


@pytest.mark.parametrize("chain, raw, expected", [
    (["text"], "  São   Paulo \n", "São Paulo"),
    (["upper"], "sc", "SC"),
    (["lower"], "Compras@X.COM.BR", "compras@x.com.br"),
    (["ascii"], "Conceição", "Conceicao"),
    ([{"regex": r"Nº\s*(\d+)"}, "int"], "OS Nº 0042 aberta", 42),
    ([{"regex": r"[A-Z]{2}\d+"}], "série: WG1234567 (placa)", "WG1234567"),
    ([{"regex": r"(\d+) dias"}, "int"], "sem garantia", None),  # no match: no value
    ([{"map": {"A": "Aberta", "F": "Fechada"}}], "F", "Fechada"),
    (["money"], "—", None), (["date"], "-", None), (["int"], "", None),
    (["text"], "–", None), (["digits"], " — ", None), (["text"], "N/A", None),
])
def test_chains_and_empty_markers(chain, raw, expected):
    spec = FieldSpec(css="#x", parse=chain)
    assert parsers.run_chain(raw, parser_chain("os.observacoes", spec)) == expected


@pytest.mark.parametrize("key, raw, expected", [
    ("os.data_abertura", "02/01/2024", dt.date(2024, 1, 2)),   # date field -> date parser
    ("equipamento.potencia_cv", "7,5 cv", Decimal("7.5")),     # Decimal -> decimal
    ("equipamento.ano_fabricacao", "2019", 2019),               # int -> int
    ("equipamento.tensao_v", "220/380 V", "220/380"),           # the field's own: voltages
    ("cliente.razao_social", " Açaí  S.A. ", "Açaí S.A."),      # str -> text
])
def test_default_parser_follows_the_field_type(key, raw, expected):
    assert parsers.run_chain(raw, parser_chain(key, FieldSpec(css="#x"))) == expected


@pytest.mark.parametrize("raw, expected", [
    ("380 V", "380"), ("220/380 V", "220/380"), ("220V / 380V", "220/380"),
    ("380/660v", "380/660"), ("440", "440"), ("127/220/380 V", "127/220/380"),
])
def test_voltages_keep_every_voltage_of_the_plate(raw, expected):
    assert parsers.parse_voltages(raw) == expected


@pytest.mark.parametrize("raw", ["220-380 V", "7,5 V", "V", "220//380", "alta"])
def test_voltages_refuse_what_is_not_a_plate_voltage(raw):
    with pytest.raises(parsers.ParseError):
        parsers.parse_voltages(raw)
